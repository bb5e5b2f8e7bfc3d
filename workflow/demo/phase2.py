"""The Phase-2 chapters of ``filiere demo``: a ranked and a first-come measure.

Told in date order between the Phase-1 chapters (the event log's times only
move forward): the Bando Filiere 2022 is a ranked list decided after its
window, with a renunciation whose money funds the next in line
(*scorrimento*); the Rafforzamento filiere 2024 is first-come and closes when
its budget runs out; a partial revocation follows in 2025. Budgets are cut
for the demo (said so on screen) so that money runs short.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from handlers.measure import queue, remaining
from handlers.money import euro
from workflow.config import example_measure_path, read_measure_file
from workflow.demo.story import Story, table

DIRECTOR, OPERATOR, SYSTEM = "dir.verdi", "op.rossi", "system"
RANKED, FIRST_COME = "FILIERE-2022", "FILIERE-2024"
SCORES_2022 = {  # representativeness and employment take 0/5/10/15 only
    "excellent": {
        "coherence": 10,
        "innovativeness": 18,
        "measurability": 17,
        "representativeness": 15,
        "investments": 17,
        "employment": 10,
    },
    "good": {
        "coherence": 9,
        "innovativeness": 16,
        "measurability": 15,
        "representativeness": 10,
        "investments": 15,
        "employment": 10,
    },
    "fair": {
        "coherence": 8,
        "innovativeness": 14,
        "measurability": 14,
        "representativeness": 10,
        "investments": 14,
        "employment": 10,
    },
    "weak": {
        "coherence": 6,
        "innovativeness": 12,
        "measurability": 12,
        "representativeness": 5,
        "investments": 10,
        "employment": 5,
    },
}


def _team(s: Story, count: int, lead: str, main: str, *, size: str = "sme") -> list[dict[str, Any]]:
    members = s.companies(count, lead)
    return [{**m, "size": size, "main": main, "experimental": "0.00"} for m in members]


def _apply(
    s: Story, owner: str, measure: str, title: str, partners: list[dict[str, Any]], **extra: Any
) -> str:
    required = s.engine.get("measure", measure).data.get("requirements", {}).get("documents", [])
    signed = [{"name": d["name"], "signed_by": [p["tax_code"] for p in partners]} for d in required]
    payload = {"measure_id": measure, "title": title, "duration_months": 18, "partners": partners, **extra}
    payload |= {"documents": signed} if signed else {}
    application = s.engine.create("application", actor=owner, role="applicant", payload=payload).entity_id
    s.fire("application", application, "submit", owner, "applicant")
    data = s.engine.get("application", application).data
    cited = f", citing {extra['proposal_id']}" if "proposal_id" in extra else ""
    s.say(
        f"{application} submitted to {measure}: protocol {data['protocol']}, "
        f"aid {euro(data['aid']['base'])}{cited}"
    )
    return str(application)


def _evaluate(s: Story, evaluator: str, application: str, scores: dict[str, int]) -> None:
    event = s.fire("application", application, "evaluate", evaluator, "evaluator", scores=scores)
    effects = event.payload["effects"]
    bonus = f" + bonus {effects['bonus']}" if effects["bonus"] else ""
    s.say(f"{application} evaluated: {effects['score']}{bonus} = {effects['total']} -> {event.to_state}")


def _fund_in_order(s: Story, measure: str) -> None:
    """Fund the waiting applications in the measure's order while the money lasts."""
    for queued in queue(s.engine.get("measure", measure), s.engine.find("application", parent_id=measure)):
        application = s.engine.get("application", queued.id)  # a first-come measure may have shelved it
        left = remaining(s.engine.get("measure", measure).data)
        if application.state == "admitted_not_funded":
            s.say(
                f"{application.id} shelved by the measure closing itself: "
                f"{euro(application.data['aid']['base'])} > {euro(left)} left"
            )
            continue
        if application.state != "admitted":
            continue
        if Decimal(application.data["aid"]["base"]) > left:
            s.fire(
                "application", application.id, "shelve", DIRECTOR, "director", reason="budget insufficiente"
            )
            s.say(
                f"{application.id} admitted but not funded: "
                f"{euro(application.data['aid']['base'])} > {euro(left)} left"
            )
            break
        event = s.fire("application", application.id, "fund", DIRECTOR, "director")
        award = event.payload["effects"]["award"]
        s.say(f"{application.id} funded: {euro(award['grant'])} grant, {euro(award['loan'])} loan")
        _per_partner(s, award["partners"])


def _per_partner(s: Story, partners: list[dict[str, Any]]) -> None:
    """The award's split per partner (largest remainder, ties to the capofila)."""
    rows: list[tuple[str, ...]] = [("  partner", "tax code", "grant", "loan", "aid")]
    rows += [
        (f"  {p['name']}", p["tax_code"], euro(p["grant"]), euro(p["loan"]), euro(p["aid"])) for p in partners
    ]
    table(s.echo, rows)


def ranked_measure_2022(s: Story, ids: dict[str, str]) -> None:
    """Bando Filiere 2022: window 5 Sep - 17 Oct 2022, ranking after, scorrimento in 2023."""
    s.at(2022, 10, 15, 9)
    config = read_measure_file(example_measure_path("bando-filiere-2022"))
    s.engine.create("measure", actor=OPERATOR, role="operator", payload={**config, "budget": "1100000.00"})
    s.say(
        f"measure {RANKED} loaded (ranked); demo budget {euro('1100000')} instead of {euro(config['budget'])}"
    )
    s.at(2022, 10, 15, 11)
    s.fire("measure", RANKED, "open", SYSTEM, "system")
    apps = {
        "alfa": _apply(
            s,
            "capofila.alfa",
            RANKED,
            "Digital twin di filiera",
            _team(s, 10, "Brembo Digital Lab", "80000.00"),
            proposal_id=ids["alfa"],
        ),
        "nord": _apply(
            s, "capofila.nord", RANKED, "Logistica condivisa", _team(s, 10, "Trasporti Nord", "80000.00")
        ),
        "sud": _apply(s, "capofila.sud", RANKED, "Tessile circolare", _team(s, 10, "Filati Sud", "80000.00")),
        "est": _apply(s, "capofila.est", RANKED, "Meccatronica", _team(s, 10, "Meccanica Est", "60000.00")),
    }
    s.at(2022, 10, 17, 17, 0, 1)
    s.fire("measure", RANKED, "close", SYSTEM, "system")
    s.say(f"measure {RANKED} window closed; the ranking follows")
    s.at(2022, 11, 15, 10)
    for key, level in (("alfa", "good"), ("nord", "excellent"), ("sud", "fair"), ("est", "weak")):
        _evaluate(s, "eval.neri", apps[key], SCORES_2022[level])
    s.at(2022, 12, 1, 10)
    _fund_in_order(s, RANKED)
    s.at(2023, 2, 1, 10)
    renounce = s.fire(
        "application", apps["nord"], "renounce", "capofila.nord", "applicant", reason="progetto non avviato"
    )
    s.say(f"{apps['nord']} renounced; released {euro(renounce.payload['effects']['released'])}")
    funded = [e for e in s.engine.events(after=renounce.seq) if e.trigger == "fund"]
    for event in funded:
        s.say(f"scorrimento: {event.entity_kind} {event.entity_id} funded by the same transaction")
    ids.update({f"app_{k}": v for k, v in apps.items()})


def first_come_measure_2024(s: Story, ids: dict[str, str]) -> None:
    """Rafforzamento filiere 2024: first-come from 28 Mar 2024 15:00 until exhausted."""
    s.at(2024, 2, 20, 10)
    config = read_measure_file(example_measure_path("rafforzamento-filiere-2024"))
    s.engine.create("measure", actor=OPERATOR, role="operator", payload={**config, "budget": "3000000.00"})
    s.say(
        f"measure {FIRST_COME} loaded (first-come); "
        f"demo budget {euro('3000000')} instead of {euro(config['budget'])}"
    )
    s.at(2024, 3, 28, 15)
    s.fire("measure", FIRST_COME, "open", SYSTEM, "system")

    def team(lead: str) -> list[dict[str, Any]]:
        members = [
            *_team(s, 3, lead, "400000.00"),
            *_team(s, 1, f"{lead} MidCap", "400000.00", size="midcap"),
        ]
        large = _team(s, 1, f"{lead} Group", "0.00", size="large")[0]
        for member in members[1:]:
            member["capofila"] = False
        return [*members, {**large, "capofila": False, "experimental": "400000.00"}]

    apps = {}
    for second, (key, owner, title, extra) in enumerate(
        (
            ("zeta", "capofila.zeta", "Smart Land - rafforzamento", {"proposal_id": ids["zeta"]}),
            ("ovest", "capofila.ovest", "Filiera del legno", {}),
            ("lago", "capofila.lago", "Nautica sostenibile", {}),
        ),
        start=1,
    ):
        s.at(2024, 3, 28, 15, 0, second)
        apps[key] = _apply(s, owner, FIRST_COME, title, team(title.split()[0]), **extra)
    s.at(2024, 4, 20, 10)
    quality = {"quality": 32, "impact": 30, "partnership": 20}
    for key in ("zeta", "ovest", "lago"):
        _evaluate(s, "eval.bianchi" if key != "zeta" else "eval.neri", apps[key], quality)
    s.at(2024, 5, 6, 10)
    _fund_in_order(s, FIRST_COME)
    measure = s.engine.get("measure", FIRST_COME)
    s.say(f"measure {FIRST_COME} is {measure.state} ({measure.data.get('closing_reason', '')})")
    s.at(2025, 6, 30, 10)
    event = s.fire(
        "application",
        apps["ovest"],
        "revoke",
        DIRECTOR,
        "director",
        reason="spese di sviluppo sperimentale non rendicontate",
        amount="200000.00",
    )
    revocation = event.payload["effects"]["revocation"]
    s.say(
        f"{apps['ovest']} partially revoked: {euro(revocation['amount'])} "
        f"({euro(revocation['grant'])} grant, {euro(revocation['loan'])} loan) to recover; "
        f"{euro(revocation['kept'])} kept"
    )
    _per_partner(s, s.engine.get("application", apps["ovest"]).data["award"]["partners"])
    ids.update({f"app_{k}": v for k, v in apps.items()})


def funding_table(s: Story) -> None:
    """Print each measure's applications with grant and loan, and its budget."""
    for code in (RANKED, FIRST_COME):
        measure = s.engine.get("measure", code)
        s.echo(f"\nFunding under {code} ({measure.data['procedure'].replace('_', '-')}, {measure.state})")
        rows: list[tuple[str, ...]] = [
            ("rank", "application", "capofila", "score", "state", "grant", "loan", "aid")
        ]
        for rank, application in enumerate(
            queue(measure, s.engine.find("application", parent_id=code)), start=1
        ):
            d = application.data
            award = d.get("award") or d["aid"]
            shown = application.state in ("funded", "partially_revoked", "revoked")
            kept = award["base"]  # a revocation leaves in the award what is kept
            rows.append(
                (
                    str(rank),
                    application.id,
                    d["owner"],
                    str(d.get("total", "-")),
                    application.state,
                    euro(award["grant"]) if shown else "-",
                    euro(award["loan"]) if shown else "-",
                    euro(kept) if shown else euro(d["aid"]["base"]) + " asked",
                )
            )
        table(s.echo, rows)
        s.echo(
            f"  budget {euro(measure.data['budget'])}, reserved {euro(measure.data['reserved'])}, "
            f"left {euro(remaining(measure.data))}"
        )
