"""Funding a Phase-2 application: order, budget, award, shelving, renunciation, revocation.

Funding follows the measure's order (rank once final, or protocol), reserves the
money in the measure in the same transaction, and moves a cited Phase-1
proposal listed → funded. What is given back (renunciation, revocation) is
released to the measure, which funds the next in line (*scorrimento*).
"""

from __future__ import annotations

from decimal import Decimal

from handlers.aid import lead_index, per_partner, schedule, take_back
from handlers.base import Context, FollowUp, Outcome, Refusal
from handlers.callconfig import Name
from handlers.measure import HOLDING, PENDING, WAITING, exhausted, measure_of, queue, remaining, siblings
from handlers.money import ZERO, Money, cents, euro, text
from handlers.payloads import Payload
from handlers.timeutil import to_json


class Revoke(Payload):
    """A revocation: total (no amount) or partial (the amount revoked)."""

    reason: Name
    amount: Money | None = None


# --- guards -----------------------------------------------------------------


def guard_funding_order(ctx: Context) -> Refusal | None:
    """Funding follows the measure's order: rank (once final) or protocol."""
    measure = measure_of(ctx)
    everyone = ctx.reader.find("application", parent_id=measure.id)
    ranked = measure.data["procedure"] == "ranked"
    if ranked:
        undecided = [a.id for a in everyone if a.state in PENDING]
        if measure.state != "closed" or undecided:
            why = (
                f"still being evaluated: {', '.join(undecided)}"
                if undecided
                else f"measure {measure.id} is still open"
            )
            return Refusal("funding_order", f"the ranking is not final ({why})", {"undecided": undecided})
    blocking = (*WAITING,) if ranked else (*PENDING, *WAITING)
    for application in queue(measure, everyone):
        if application.id == ctx.entity_id:
            return None
        if application.state in blocking:
            order = "rank" if ranked else "protocol order"
            return Refusal(
                "funding_order", f"{application.id} comes first in {order}", {"first": application.id}
            )
    return None  # pragma: no cover - the application itself is always in the queue


def guard_budget_left(ctx: Context) -> Refusal | None:
    """The measure's remaining budget covers the whole aid."""
    left, aid = remaining(measure_of(ctx).data), Decimal(ctx.data["aid"]["base"])
    if aid <= left:
        return None
    return Refusal(
        "budget_left",
        f"aid {euro(aid)}, budget left {euro(left)}",
        {"aid": text(aid), "remaining": text(left)},
    )


def guard_no_budget_left(ctx: Context) -> Refusal | None:
    """An admitted application is left unfunded only when the budget cannot cover it.

    Or when its first-come measure closed as exhausted: the sportello serves in
    arrival order, so a smaller application behind the one that did not fit
    is not funded either.
    """
    measure = measure_of(ctx)
    if guard_budget_left(ctx) is not None or (measure.state == "closed" and "exhausted" in measure.data):
        return None
    return Refusal("no_budget_left", f"the budget still covers {ctx.entity_id}", {})


def guard_one_grant_per_company(ctx: Context) -> Refusal | None:
    """Where the measure says so, a company gets one grant, in one project only."""
    if not measure_of(ctx).data["composition"]["one_grant_per_company"]:
        return None
    mine = {p["tax_code"] for p in ctx.data["partners"]}
    for other in siblings(ctx, HOLDING):
        shared = sorted(mine & {p["tax_code"] for p in other.data["partners"]})
        if shared:
            return Refusal(
                "one_grant_per_company",
                f"{', '.join(shared)} already funded in {other.id}",
                {"application": other.id},
            )
    return None


def guard_revocation_within_award(ctx: Context) -> Refusal | None:
    """A partial revocation takes back more than nothing and at most the award."""
    amount = ctx.payload.get("amount")
    base = Decimal(ctx.data["award"]["base"])
    if amount is None or ZERO < Decimal(amount) <= base:
        return None
    return Refusal("revocation_within_award", f"{euro(amount)} is not within the award of {euro(base)}", {})


def guard_revocation_total(ctx: Context) -> Refusal | None:
    """A revocation with no amount, or of the whole award, is total: the application is revoked."""
    amount = ctx.payload.get("amount")
    if amount is None or Decimal(amount) == Decimal(ctx.data["award"]["base"]):
        return None
    return Refusal("revocation_total", f"{euro(amount)} is part of the award", {})


def guard_revocation_partial(ctx: Context) -> Refusal | None:
    """A revocation of less than the award is partial: the application keeps the rest."""
    amount = ctx.payload.get("amount")
    if amount is not None and Decimal(amount) < Decimal(ctx.data["award"]["base"]):
        return None
    return Refusal("revocation_partial", "the whole award is revoked", {})


# --- handlers ---------------------------------------------------------------


def fund(ctx: Context) -> Outcome:
    """Award the aid, reserve it in the measure, and fund the cited proposal."""
    award = dict(ctx.data["aid"])
    award["partners"] = per_partner(
        measure_of(ctx).data["aid"], ctx.data["partners"], award, ctx.data.get("variant")
    )
    amount = award["base"]
    follow = [
        FollowUp(
            "measure", ctx.data["measure_id"], "reserve", {"application_id": ctx.entity_id, "amount": amount}
        )
    ]
    proposal_id = ctx.data.get("proposal_id")
    proposal = ctx.reader.get("proposal", proposal_id) if proposal_id else None
    if proposal is not None and proposal.state == "listed":
        follow.append(FollowUp("proposal", proposal.id, "fund", {"application_id": ctx.entity_id}))
    return Outcome(
        changes={"award": award, "funded_at": to_json(ctx.now)},
        record={"award": {k: award[k] for k in ("base", "grant", "loan", "partners")}},
        follow_ups=tuple(follow),
    )


def shelve(ctx: Context) -> Outcome:
    """Admitted, not funded: no money for it now; a first-come measure closes as exhausted."""
    measure = measure_of(ctx)
    left, need = euro(remaining(measure.data)), euro(ctx.data["aid"]["base"])
    closing = (
        FollowUp(
            "measure",
            measure.id,
            "close",
            {"reason": f"budget exhausted: {left} left, {ctx.entity_id} needs {need}"},
            actor="system",
            role="system",
        )
        if measure.data["procedure"] == "first_come" and measure.state == "open"
        else None
    )
    return Outcome(changes={"shelved_at": to_json(ctx.now)}, follow_ups=(closing,) if closing else ())


def renounce(ctx: Context) -> Outcome:
    """Give the award back; the money goes to the next in line."""
    amount = ctx.data["award"]["base"]
    release = FollowUp(
        "measure", ctx.data["measure_id"], "release", {"application_id": ctx.entity_id, "amount": amount}
    )
    return Outcome(
        changes={"renounced_at": to_json(ctx.now), **ctx.payload},
        record={"released": amount},
        follow_ups=(release,),
    )


def revoke(ctx: Context) -> Outcome:
    """Revoke all or part of the award: what is taken back is released and to be recovered.

    The amount is split between grant and loan in the award's proportion
    (half-up), then per partner in proportion to what each holds (largest
    remainder); the award becomes what is kept, so grant + loan = aid, per
    partner and in total, after any number of partial revocations.
    """
    award = ctx.data["award"]
    base = Decimal(award["base"])
    amount = Decimal(ctx.payload.get("amount") or base)
    grant_part = cents(amount * Decimal(award["grant"]) / base) if base else ZERO
    loan_part = amount - grant_part
    shares = award.get("partners") or per_partner(
        measure_of(ctx).data["aid"], ctx.data["partners"], award, ctx.data.get("variant")
    )
    rows = take_back(shares, grant_part, loan_part, lead_index(ctx.data["partners"]))
    revocation = {
        "reason": ctx.payload["reason"],
        "partial": amount < base,
        "amount": text(amount),
        "grant": text(grant_part),
        "loan": text(loan_part),
        "kept": text(base - amount),
        "partners": [
            {"tax_code": r["tax_code"], "grant": r["revoked_grant"], "loan": r["revoked_loan"]} for r in rows
        ],
        "at": to_json(ctx.now),
    }
    kept_loan = Decimal(award["loan"]) - loan_part
    kept = {
        **award,
        "base": text(base - amount),
        "grant": text(Decimal(award["grant"]) - grant_part),
        "loan": text(kept_loan),
        "partners": [{k: r[k] for k in ("tax_code", "name", "grant", "loan", "aid")} for r in rows],
        "instalments": schedule(
            measure_of(ctx).data["aid"], kept_loan, ctx.data.get("pre_amortisation_months", 0)
        ),
    }
    release = FollowUp(
        "measure",
        ctx.data["measure_id"],
        "release",
        {"application_id": ctx.entity_id, "amount": text(amount)},
    )
    return Outcome(
        changes={
            "award": kept,
            "revocation": revocation,
            "revocations": [*ctx.data.get("revocations", []), revocation],
        },
        record={"revocation": revocation},
        follow_ups=(release,),
    )


def after_admission(ctx: Context) -> tuple[FollowUp, ...]:
    """What admitting an application owes a first-come measure that cannot fund it.

    Admitted after the measure closed as exhausted: shelved at once. Admitted
    as the next in arrival order of an open measure whose remaining money
    cannot fund it: the measure closes itself (and shelves it).
    """
    measure = measure_of(ctx)
    if measure.state == "closed" and "exhausted" in measure.data:
        shelve = FollowUp(
            "application",
            ctx.entity_id,
            "shelve",
            {"reason": "budget exhausted"},
            actor="system",
            role="system",
        )
        return (shelve,)
    closing = exhausted(ctx.reader, measure, remaining(measure.data), admitted=ctx.entity_id)
    return (closing,) if closing is not None else ()
