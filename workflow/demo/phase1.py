"""``filiere demo``: Phase 1 of the 2022 call, told by the engine, in seconds.

A simulated clock walks from the call's opening (March 2022) to the deadline in
force at the end (31 December 2027, after three extensions by act). Along the
way: partnerships register, drafts are filed, one submission is refused for its
composition and succeeds once amended, an integration request suspends an
evaluation, an evaluator tied to a partner is refused, two decrees approve two
versions of the list, a listed proposal is withdrawn, a submission one second
late is refused, and closing the call expires the drafts left behind. It ends
with ``audit verify`` on the chain it wrote.
"""

from __future__ import annotations

from pathlib import Path

from handlers.timeutil import for_people, from_json
from workflow.audit.verify import verify_chain
from workflow.clock import SimulatedClock
from workflow.config import example_call_path, read_call_file
from workflow.demo.phase2 import first_come_measure_2024, funding_table, ranked_measure_2022
from workflow.demo.story import DIRECTOR, GOOD, OPERATOR, SYSTEM, WEAK, WORTHY, Echo, Story, piva, rome, table
from workflow.engine import Engine


def run_demo(path: str | Path, echo: Echo = print, *, funding: bool = False) -> bool:
    """Run the story on a fresh SQLite file at ``path``; return whether the chain verifies.

    ``funding`` adds the funded projects' chapter (``workflow.demo.funding``).
    """
    target = Path(path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    clock = SimulatedClock(rome(2022, 2, 25, 10))
    engine = Engine(f"sqlite:///{target}", clock=clock)
    story = Story(engine, clock, echo)
    echo(
        f"Filiere demo: the 2022 call and two Phase-2 measures, on {target} (simulated clock, Europe/Rome)\n"
    )
    try:
        ids = _phase_one(story, funding=funding)
        _summary(story, ids)
    finally:
        engine.db.dispose()
    report = verify_chain(Engine(f"sqlite:///{target}", clock=clock).db)
    verdict = "ok" if report.ok else f"BROKEN: {report.problem}"
    echo(f"\naudit verify: chain {verdict}; {report.events} events, head hash {report.head_hash}")
    echo(f"Inspect it yourself: filiere --db sqlite:///{target} audit verify")
    return bool(report.ok)


def _phase_one(s: Story, *, funding: bool = False) -> dict[str, str]:
    """Both phases in date order: Phase-2 measures open while Phase 1 goes on."""
    ids = _opening(s)
    _first_round(s, ids)
    ranked_measure_2022(s, ids)
    _second_round(s, ids)
    first_come_measure_2024(s, ids)
    if funding:
        from workflow.demo.funding import projects_chapter

        projects_chapter(s, ids)
    _deadline(s, ids)
    return ids


def _opening(s: Story) -> dict[str, str]:
    """The call, its evaluators, six partnerships and their drafts."""
    e = s.engine
    config = read_call_file(example_call_path("manifestazione-2022"))
    e.create("call", actor=OPERATOR, role="operator", payload=config)
    extensions = len(config["deadline"]["extensions"])
    s.say(f"call {config['code']} loaded: deadline 2022-12-31 16:00, {extensions} extensions by act")
    e.create(
        "evaluator",
        actor=OPERATOR,
        role="operator",
        entity_id="eval.bianchi",
        payload={"name": "Anna Bianchi", "ties": [piva(301)]},
    )
    e.create(
        "evaluator",
        actor=OPERATOR,
        role="operator",
        entity_id="eval.neri",
        payload={"name": "Luca Neri", "ties": []},
    )

    s.at(2022, 3, 1, 9)
    s.fire("call", "MI-FILIERE-2022", "open", SYSTEM, "system")
    s.say("call MI-FILIERE-2022 open")

    alfa_members = [
        *s.companies(12, "Brembo Digital"),
        {
            "tax_code": "80012000826",
            "name": "Università degli Studi di Bergamo",
            "kind": "university",
            "lombardy_seat": True,
            "role": "ricerca e trasferimento tecnologico",
        },
    ]
    alfa = s.partnership("capofila.alfa", "Filiera digitale bergamasca", alfa_members)
    s.next_company = 300
    gamma_members = s.companies(9, "Edinnova")
    gamma = s.partnership("capofila.gamma", "Rete Edinnova costruzioni", gamma_members)
    beta = s.partnership("capofila.beta", "Filiera tessile comasca", s.companies(10, "Seteria Lariana"))
    zeta = s.partnership("capofila.zeta", "Smart Land ecosistema digitale", s.companies(11, "Harpaceas"))
    delta = s.partnership(
        "capofila.delta", "Filiera agroalimentare lodigiana", s.companies(10, "Latteria Lodigiana")
    )
    eps = s.partnership("capofila.eps", "Ecosistema salute digitale", s.companies(10, "Be Whiz"))

    p_alfa = s.draft("capofila.alfa", alfa, "Applicazioni digitali per la filiera meccanica", ["b", "c"])
    p_gamma = s.draft("capofila.gamma", gamma, "Costruzioni sostenibili in rete", ["a"])
    s.refused(
        "a draft opened by an auditor",
        lambda: e.create(
            "proposal",
            actor="audit.corte",
            role="auditor",
            payload={"call_id": "MI-FILIERE-2022", "partnership_id": delta},
        ),
    )
    p_delta = s.draft("capofila.delta", delta, "Latte a filiera corta", ["a", "d"])
    p_eps = s.draft("capofila.eps", eps, "Innovation ecosystem for digital healthcare", ["b"])
    s.gamma_members = gamma_members
    return {
        "alfa": p_alfa,
        "gamma": p_gamma,
        "delta": p_delta,
        "eps": p_eps,
        "pt_gamma": gamma,
        "pt_beta": beta,
        "pt_zeta": zeta,
    }


def _first_round(s: Story, ids: dict[str, str]) -> None:
    """Submissions in 2022, a refusal cured, an integration, evaluations, decree 1."""
    e, p_alfa, p_gamma, gamma = s.engine, ids["alfa"], ids["gamma"], ids["pt_gamma"]
    s.at(2022, 9, 10, 11, 30)
    s.submit("capofila.alfa", p_alfa)
    s.at(2022, 9, 12, 15)
    s.refused(
        f"submission of {p_gamma}",
        lambda: s.fire("proposal", p_gamma, "submit", "capofila.gamma", "applicant"),
    )
    s.fire(
        "partnership",
        gamma,
        "amend",
        "capofila.gamma",
        "applicant",
        name="Rete Edinnova costruzioni",
        agreement="Accordo di progetto (integrato)",
        partners=[*s.gamma_members, *s.companies(1, "Cementi Bergamaschi", lead=False)],
    )
    s.say(f"partnership {gamma} amended: 10 companies")
    s.submit("capofila.gamma", p_gamma)

    s.at(2022, 10, 3, 10)
    s.fire(
        "proposal",
        p_gamma,
        "request_integration",
        OPERATOR,
        "operator",
        reason="Accordo di progetto non firmato da tutti i partner",
    )
    s.say(f"{p_gamma}: integration requested (soccorso istruttorio), evaluation term suspended")
    s.at(2022, 10, 5, 10)
    s.evaluate("eval.bianchi", p_alfa, WORTHY)
    s.at(2022, 10, 7, 17)
    event = s.fire(
        "proposal",
        p_gamma,
        "integrate",
        "capofila.gamma",
        "applicant",
        note="Accordo firmato digitalmente da tutti i partner",
        documents=["accordo-firmato.pdf.p7m"],
    )
    due = from_json(event.payload["effects"]["evaluation_due"])
    s.say(f"{p_gamma} integrated; evaluation term now {for_people(due)[:16]}")
    s.at(2022, 10, 10, 9)
    s.refused(f"evaluation of {p_gamma} by eval.bianchi", lambda: s.evaluate("eval.bianchi", p_gamma, GOOD))
    s.evaluate("eval.neri", p_gamma, GOOD)

    s.at(2022, 10, 14, 12)
    d1 = e.create(
        "decree",
        actor=DIRECTOR,
        role="director",
        payload={
            "call_id": "MI-FILIERE-2022",
            "act": "d.d.u.o. n. 14001 del 14/10/2022 [A]",
            "proposal_ids": [p_alfa, p_gamma],
        },
    ).entity_id
    s.fire("decree", d1, "approve", DIRECTOR, "director")
    s.say(f"decree {d1} approved: list version 1")
    ids["d1"] = d1


def _second_round(s: Story, ids: dict[str, str]) -> None:
    """2023, under the first extension: two more submissions, a withdrawal, decree 2."""
    e, p_gamma = s.engine, ids["gamma"]
    beta, zeta = ids["pt_beta"], ids["pt_zeta"]
    s.at(2023, 3, 2, 10)
    p_beta = s.draft("capofila.beta", beta, "Seta circolare", ["a", "d"])
    p_zeta = s.draft("capofila.zeta", zeta, "Smart Land - ecosistema digitale integrato", ["b"])
    s.at(2023, 6, 1, 10)
    s.say("the deadline in force is now 2023-12-31 16:00 (DGR of 30/11/2022)")
    s.submit("capofila.beta", p_beta)
    s.submit("capofila.zeta", p_zeta)
    s.at(2023, 7, 3, 10)
    s.evaluate("eval.neri", p_beta, WEAK)
    s.evaluate("eval.bianchi", p_zeta, GOOD)
    s.at(2023, 9, 1, 10)
    s.fire(
        "proposal", p_gamma, "withdraw", "capofila.gamma", "applicant", reason="Il partenariato si è sciolto"
    )
    s.say(f"{p_gamma} withdrawn by its capofila")
    s.at(2023, 10, 31, 12)
    d2 = e.create(
        "decree",
        actor=DIRECTOR,
        role="director",
        payload={
            "call_id": "MI-FILIERE-2022",
            "act": "d.d.u.o. n. 16502 del 31/10/2023 [A]",
            "proposal_ids": [p_zeta],
        },
    ).entity_id
    s.fire("decree", d2, "approve", DIRECTOR, "director")
    s.say(f"decree {d2} approved: list version 2")
    ids.update(beta=p_beta, zeta=p_zeta, d2=d2)


def _deadline(s: Story, ids: dict[str, str]) -> None:
    """One second after the last deadline in force: a late submission, the close, the expiries."""
    from scheduler.plan import plan

    p_eps = ids["eps"]
    s.at(2027, 12, 31, 16, 0, 1)
    s.refused(
        f"submission of {p_eps}", lambda: s.fire("proposal", p_eps, "submit", "capofila.eps", "applicant")
    )
    close = s.fire("call", "MI-FILIERE-2022", "close", SYSTEM, "system")
    s.say(f"call closed by the deadline job; {close.payload['effects']['drafts_left']} drafts left")
    expired = []
    for job in plan(s.engine):  # what `filiere scheduler run` fires right after a close
        if job.trigger == "expire":
            s.engine.fire(
                job.kind,
                job.entity_id,
                "expire",
                actor=SYSTEM,
                role="system",
                idempotency_key=job.idempotency_key,
                effective_at=job.effective_at,
            )
            expired.append(job.entity_id)
    s.say(f"drafts expired by the scheduler's expiry jobs: {', '.join(expired)}")


def _summary(s: Story, ids: dict[str, str]) -> None:
    e = s.engine
    echo = s.echo
    echo("\nProposals")
    rows: list[tuple[str, ...]] = [("id", "partnership", "protocol", "submitted (Rome)", "score", "state")]
    for proposal in e.find("proposal", parent_id="MI-FILIERE-2022"):
        d = proposal.data
        submitted = for_people(from_json(d["submitted_at"]))[:16] if "submitted_at" in d else "-"
        score = str(d["evaluation"]["total"]) if "evaluation" in d else "-"
        rows.append(
            (proposal.id, d["partnership_id"], d.get("protocol", "-"), submitted, score, proposal.state)
        )
    table(echo, rows)
    echo("\nThe list (elenco) as of")
    for label, moment in (
        ("2022-10-13", rome(2022, 10, 13)),
        ("2022-10-15", rome(2022, 10, 15)),
        ("2023-09-02", rome(2023, 9, 2)),
        ("2023-11-01", rome(2023, 11, 1)),
    ):
        version = e.list_as_of("MI-FILIERE-2022", moment)
        entries = (
            f"v{version.number} ({version.decree_id}): {', '.join(version.proposal_ids)}"
            if version
            else "no list yet"
        )
        echo(f"  {label}: {entries}")
    funding_table(s)
    echo(f"\nRefused on the way ({len(s.refusals)}), nothing written for any of them:")
    for refusal in s.refusals:
        echo(f"  - {refusal}")
