"""The funded projects' chapter of ``filiere demo --funding``: one project to its balance, one to a recovery.

Told after the first-come Rafforzamento filiere 2024 (its fundings of May 2024)
and before the Phase-1 deadline of 2027, in date order. The project of zeta's
application (FILIERE-2024, grant and loan) is accepted, gets its advance,
reports its spending, has one item cut and is paid its balance with the loan's
repayment plan; the project of alfa's application (FILIERE-2022, grant only)
reports too little, loses the whole aid and repays its advance with statutory
interest across the change of year 2025-2026. Each project's ledger is printed; ``audit replay``
checks it against the events.
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from typing import Any

from handlers.money import euro
from handlers.project import balance_due, repayment_due
from handlers.projectconfig import rules_of
from workflow.demo.story import OPERATOR, Story, table

#: The document every demo item carries (its SHA-256 is what the log keeps).
INVOICE = hashlib.sha256(b"fattura elettronica demo").hexdigest()


def _open_and_advance(s: Story, applications: tuple[str, ...]) -> dict[str, str]:
    """Open the projects at the award's notification, accept them, pay their advances; their owners."""
    s.at(2025, 7, 1, 10)
    for application in applications:
        s.engine.create("project", actor=OPERATOR, role="operator", payload={"application_id": application})
    owners = {a: str(s.engine.get("project", a).data["owner"]) for a in applications}
    s.at(2025, 7, 10, 11)
    for application in applications:
        s.fire("project", application, "accept", owners[application], "applicant")
    s.at(2025, 7, 21, 9)
    for application in applications:
        grant = Decimal(s.engine.get("project", application).data["award"]["grant"])
        advance = str((grant * Decimal("0.40")).quantize(Decimal("0.01")))
        guarantee = {
            "issuer": "Banca Popolare Lombarda",
            "amount": advance,
            "reference": f"FID-{application}",
        }
        s.fire(
            "project",
            application,
            "pay_advance",
            OPERATOR,
            "operator",
            mandate=f"MAND-2025-{application[-3:]}",
            paid_on="2025-07-21",
            amount=advance,
            guarantee=guarantee,
        )
        s.say(
            f"project {application} accepted; advance {euro(advance)} paid on 21/07/2025 against a guarantee"
        )
    return owners


def _final_report(s: Story, application: str, owner: str, share: Decimal, cut: str | None) -> None:
    """Report each partner's approved spending times ``share``; admit it all, or cut the first item."""
    partners = s.engine.get("project", application).data["partners"]
    items = [
        {
            "partner": p["tax_code"],
            "category": "investimenti",
            "description": "impianti e attrezzature",
            "amount": str(
                ((Decimal(p["main"]) + Decimal(p["experimental"])) * share).quantize(Decimal("0.01"))
            ),
            "documents": [{"name": "fattura.xml", "sha256": INVOICE}],
        }
        for p in partners
    ]
    event = s.engine.fire(
        "project",
        application,
        "report",
        actor=owner,
        role="applicant",
        payload={"kind": "final", "items": items},
    )
    s.say(f"project {application}: final report of {euro(event.payload['effects']['reported'])}")
    decisions: list[dict[str, Any]] = [
        {"item": f"1.{i}", "admitted": it["amount"]} for i, it in enumerate(items, 1)
    ]
    if cut is not None:
        kept = str(Decimal(items[0]["amount"]) - Decimal(cut))
        decisions[0] = {"item": "1.1", "admitted": kept, "reason": "fattura fuori dal periodo del progetto"}
    s.fire("project", application, "review", OPERATOR, "operator", report=1, decisions=decisions)


def _ledger(s: Story, application: str) -> None:
    data = s.engine.get("project", application).data
    rows: list[tuple[str, ...]] = [("partner", "awarded", "paid", "admitted", "recovered", "outstanding")]
    for code, line in data["ledger"]["partners"].items():
        rows.append(
            (code, *(euro(line[c]) for c in ("awarded", "paid", "admitted", "recovered", "outstanding")))
        )
    table(s.echo, rows)


def projects_chapter(s: Story, ids: dict[str, str]) -> None:
    """Zeta's project (FILIERE-2024) to its balance, alfa's (FILIERE-2022) to a recovery with interest."""
    s.echo("")
    s.say("after funding: two projects, notified on 1 July 2025")
    balance, recovery = ids["app_zeta"], ids["app_alfa"]
    owners = _open_and_advance(s, (balance, recovery))
    s.at(2026, 3, 2, 10)
    _final_report(s, recovery, owners[recovery], Decimal("0.50"), None)
    event = s.fire("project", recovery, "recompute", OPERATOR, "operator")
    figures = event.payload["effects"]["recomputation"]
    s.say(
        f"project {recovery}: admitted {Decimal(figures['share']):.0%} of the approved spending, "
        f"below {Decimal(figures['min_share']):.0%}: total revocation, "
        f"{euro(figures['released'])} back to the measure"
    )
    s.at(2026, 6, 30, 11)
    due = s.engine.get("project", recovery).data["recovery"]["principal"]
    s.refused(
        f"repayment of {recovery} without interest",
        lambda: s.fire("project", recovery, "repay", OPERATOR, "operator", paid_on="2026-06-30", amount=due),
    )
    data = s.engine.get("project", recovery).data
    rates = rules_of(s.engine.get("measure", data["measure_id"]).data)["legal_interest"]
    principal, interest = repayment_due(data, rates, date(2026, 6, 30))
    total = str(principal + interest)
    event = s.fire("project", recovery, "repay", OPERATOR, "operator", paid_on="2026-06-30", amount=total)
    done = event.payload["effects"]["recovery"]
    periods = ", ".join(
        f"{p['days']} days of {p['year']} at {Decimal(p['rate']):.2%}" for p in done["periods"]
    )
    s.say(
        f"project {recovery} repaid {euro(done['principal'])} + interest {euro(done['interest'])} ({periods})"
    )
    s.at(2026, 12, 15, 10)
    _final_report(s, balance, owners[balance], Decimal("1"), "50000.00")
    event = s.fire("project", balance, "recompute", OPERATOR, "operator")
    figures = event.payload["effects"]["recomputation"]
    s.say(
        f"project {balance}: admitted {Decimal(figures['share']):.2%}: grant {euro(figures['grant'])}, "
        f"loan {euro(figures['loan'])}, {euro(figures['released'])} back to the measure"
    )
    s.at(2027, 1, 20, 10)
    amount = str(balance_due(s.engine.get("project", balance).data))
    event = s.fire(
        "project",
        balance,
        "pay_balance",
        OPERATOR,
        "operator",
        mandate="MAND-2027-1",
        paid_on="2027-01-20",
        amount=amount,
    )
    plan = event.payload["effects"]["loan_plan"]
    s.say(
        f"project {balance}: balance {euro(amount)} paid; loan repaid in {len(plan)} instalments "
        f"from {plan[0]['due']} to {plan[-1]['due']}"
        if plan
        else f"project {balance}: balance {euro(amount)} paid"
    )
    for application in (balance, recovery):
        state = s.engine.get("project", application).state
        s.echo(f"\nLedger of project {application} ({state})")
        _ledger(s, application)
