"""A project's money: the award per partner, the recomputation, the ledger, and its check against the log.

Everything here reads the project's stored data (or its events) and returns
JSON-ready figures in cents; nothing is stored apart from what the Project's
handlers record, so the ledger can always be rebuilt from the event log
(:func:`reconcile`).

Settlement is with the partnership as a whole (the capofila is the region's
counterpart): the balance or the amount to recover is the project's net figure,
and each partner's line shows its signed share of it, so that every partner's
line and the project's totals close at zero together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from handlers.aid import compute
from handlers.money import ZERO, text
from handlers.settlement import pro_rata, split

#: The ledger's columns, per partner and for the project.
COLUMNS = ("awarded", "paid", "admitted", "recovered", "outstanding")


def d(value: Any) -> Decimal:
    """A stored amount (a string) as a Decimal."""
    return Decimal(str(value))


def share_award(
    aid: Mapping[str, Any], partners: Sequence[Mapping[str, Any]], grant: Decimal, loan: Decimal, variant: Any
) -> list[dict[str, str]]:
    """Grant and loan of each partner: the project's figures shared by what each partner's costs earn."""
    earned = [compute(aid, [p], variant=variant) for p in partners]
    grants = split(grant, [d(e["grant"]) for e in earned])
    loans = split(loan, [d(e["loan"]) for e in earned])
    return [{"grant": text(g), "loan": text(ln)} for g, ln in zip(grants, loans, strict=True)]


def approved(partner: Mapping[str, Any]) -> Decimal:
    """A partner's approved spending (zero once it left without a substitute)."""
    return d(partner["main"]) + d(partner["experimental"]) if partner["status"] == "active" else ZERO


def admitted_by_partner(data: Mapping[str, Any]) -> dict[str, Decimal]:
    """Admitted spending per partner, over every reviewed report."""
    admitted: dict[str, Decimal] = {}
    for report in data.get("reports", []):
        for item in report["items"]:
            if "admitted" in item:
                admitted[item["partner"]] = admitted.get(item["partner"], ZERO) + d(item["admitted"])
    return admitted


def paid_by_partner(data: Mapping[str, Any], part: str | None = None) -> dict[str, Decimal]:
    """What each partner was paid (``part``: only the grant or only the loan)."""
    paid: dict[str, Decimal] = {}
    for payment in data.get("payments", []):
        for code, amounts in payment["partners"].items():
            value = d(amounts[part]) if part else d(amounts["grant"]) + d(amounts["loan"])
            paid[code] = paid.get(code, ZERO) + value
    return paid


def recomputation(data: Mapping[str, Any], min_share: Decimal) -> dict[str, Any]:
    """The aid on the admitted spending: pro rata per partner at or above ``min_share``, else nothing.

    The share is admitted over approved spending, each partner's admitted spending
    counting up to its approved spending. Each partner's grant and loan are its
    award times its admitted over its approved spending, to the cent, never above
    its award. ``net`` is the recomputed grant minus the grant paid: the balance if
    positive, to recover if negative; the loan is disbursed with the balance.
    """
    admitted = admitted_by_partner(data)
    paid = paid_by_partner(data, "grant")
    total_approved = sum((approved(p) for p in data["partners"]), ZERO)
    counted = sum((min(admitted.get(p["tax_code"], ZERO), approved(p)) for p in data["partners"]), ZERO)
    share = counted / total_approved if total_approved else ZERO
    reached = share >= min_share
    lines = {}
    for p in data["partners"]:
        code = p["tax_code"]
        mine = admitted.get(code, ZERO)
        grant = pro_rata(d(p["grant"]), mine, approved(p)) if reached else ZERO
        loan = pro_rata(d(p["loan"]), mine, approved(p)) if reached else ZERO
        lines[code] = {
            "approved": text(approved(p)),
            "admitted": text(mine),
            "grant": text(grant),
            "loan": text(loan),
            "net": text(grant - paid.get(code, ZERO)),
        }
    grant = sum((d(line["grant"]) for line in lines.values()), ZERO)
    loan = sum((d(line["loan"]) for line in lines.values()), ZERO)
    net = grant - sum(paid.values(), ZERO)
    outcome = "balance" if reached and net >= 0 else ("recovery" if net < 0 else "revoked")
    award = d(data["award"]["grant"]) + d(data["award"]["loan"])
    return {
        "share": str(share.quantize(Decimal("0.0001"))),
        "min_share": str(min_share),
        "outcome": outcome,
        "grant": text(grant),
        "loan": text(loan),
        "net": text(net),
        "released": text(award - grant - loan),
        "partners": lines,
    }


def ledger(data: Mapping[str, Any], entitled: Mapping[str, Decimal] | None = None) -> dict[str, Any]:
    """Awarded, paid, admitted, recovered and outstanding per partner and for the project.

    ``outstanding`` is what the partner is still entitled to (its award, or its
    recomputed aid once recomputed, nothing once revoked) minus what it kept
    (paid less recovered): positive, the region owes it; negative, it owes the region.
    """
    admitted = admitted_by_partner(data)
    paid = paid_by_partner(data)
    recovered: dict[str, Decimal] = {}
    for recovery in data.get("recoveries", []):
        for code, amount in recovery["partners"].items():
            recovered[code] = recovered.get(code, ZERO) + d(amount)
    lines: dict[str, dict[str, str]] = {}
    for p in data["partners"]:
        code = p["tax_code"]
        awarded = d(p["grant"]) + d(p["loan"])
        right = entitled.get(code, ZERO) if entitled is not None else awarded
        kept = paid.get(code, ZERO) - recovered.get(code, ZERO)
        figures = (
            awarded,
            paid.get(code, ZERO),
            admitted.get(code, ZERO),
            recovered.get(code, ZERO),
            right - kept,
        )
        lines[code] = {column: text(value) for column, value in zip(COLUMNS, figures, strict=True)}
    totals = {c: text(sum((d(line[c]) for line in lines.values()), ZERO)) for c in COLUMNS}
    interest = sum((d(r["interest"]) for r in data.get("recoveries", [])), ZERO)
    return {"partners": lines, "project": {**totals, "interest": text(interest)}}


def entitlement(data: Mapping[str, Any], state: str) -> dict[str, Decimal] | None:
    """What each partner is entitled to in ``state``: ``None`` means its award (nothing decided yet)."""
    if state in ("revoked", "renounced") or data.get("revocation"):
        return {}
    recomputed = data.get("recomputation")
    if recomputed:
        return {c: d(line["grant"]) + d(line["loan"]) for c, line in recomputed["partners"].items()}
    return None


class LedgerCheck:
    """Rebuilds paid, admitted and recovered per partner from a project's events, one at a time.

    Each event's recorded effects move the rebuilt figures; each event that stores a
    ledger is compared with them, so a ledger that drifts from the money the events
    moved is caught at the event where it drifts (``audit replay`` runs this).
    """

    def __init__(self) -> None:
        self.rebuilt: dict[str, dict[str, Decimal]] = {}

    def _add(self, code: str, column: str, amount: Decimal) -> None:
        line = self.rebuilt.setdefault(code, {"paid": ZERO, "admitted": ZERO, "recovered": ZERO})
        line[column] += amount

    def feed(self, payload: Mapping[str, Any]) -> list[str]:
        """Take one event's payload; return each difference with the ledger it stores, if it stores one."""
        effects = payload.get("effects", {})
        for code, amounts in effects.get("payment", {}).get("partners", {}).items():
            self._add(code, "paid", d(amounts["grant"]) + d(amounts["loan"]))
        for code, amount in effects.get("admitted", {}).items():
            self._add(code, "admitted", d(amount))
        for code, amount in effects.get("recovery", {}).get("partners", {}).items():
            self._add(code, "recovered", d(amount))
        stored = payload.get("changes", {}).get("ledger")
        return self.compare(stored) if stored else []

    def compare(self, stored: Mapping[str, Any]) -> list[str]:
        """Each partner figure of ``stored`` that differs from the rebuilt one."""
        problems = []
        for code, line in stored["partners"].items():
            for column in ("paid", "admitted", "recovered"):
                found = self.rebuilt.get(code, {}).get(column, ZERO)
                if found != d(line[column]):
                    problems.append(
                        f"ledger of {code}: {column} {line[column]}, the events say {text(found)}"
                    )
        return problems


def reconcile(events: Iterable[Mapping[str, Any]], stored: Mapping[str, Any]) -> list[str]:
    """Rebuild paid, admitted and recovered per partner from a project's events; list each difference.

    ``events`` are the project's events as ``{"payload": ...}``; ``stored`` is the ledger
    the project's data holds. An empty list means they reconcile to the cent.
    """
    check = LedgerCheck()
    for event in events:
        check.feed(event["payload"])
    return check.compare(stored)


def measure_ledger(measure: Mapping[str, Any], projects: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """A measure's money: committed (reserved), paid and recovered by its projects, available (left)."""
    paid = recovered = ZERO
    for project in projects:
        totals = project["ledger"]["project"]
        paid, recovered = paid + d(totals["paid"]), recovered + d(totals["recovered"])
    committed = d(measure["reserved"])
    return {
        "committed": text(committed),
        "paid": text(paid),
        "recovered": text(recovered),
        "available": text(d(measure["budget"]) - committed),
    }
