"""Funding a Phase-2 application: order, budget, award, shelving, renunciation, revocation.

Funding follows the measure's order (rank once final, or protocol), reserves the
money in the measure in the same transaction, and moves a cited Phase-1
proposal listed → funded. What is given back (renunciation, revocation) is
released to the measure, which funds the next in line (*scorrimento*).
"""

from __future__ import annotations

from decimal import Decimal

from handlers.base import Context, FollowUp, Outcome, Refusal
from handlers.callconfig import Name
from handlers.measure import PENDING, WAITING, measure_of, queue, remaining, siblings
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
    """An admitted application is left unfunded only when the budget cannot cover it."""
    if guard_budget_left(ctx) is not None:
        return None
    return Refusal("no_budget_left", f"the budget still covers {ctx.entity_id}", {})


def guard_one_grant_per_company(ctx: Context) -> Refusal | None:
    """Where the measure says so, a company gets one grant, in one project only."""
    if not measure_of(ctx).data["composition"]["one_grant_per_company"]:
        return None
    mine = {p["tax_code"] for p in ctx.data["partners"]}
    for other in siblings(ctx, ("funded",)):
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


# --- handlers ---------------------------------------------------------------


def fund(ctx: Context) -> Outcome:
    """Award the aid, reserve it in the measure, and fund the cited proposal."""
    award = dict(ctx.data["aid"])
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
        record={"award": {k: award[k] for k in ("base", "grant", "loan")}},
        follow_ups=tuple(follow),
    )


def shelve(ctx: Context) -> Outcome:
    """Admitted, not funded: no money for it now; a first-come measure closes as exhausted."""
    measure = measure_of(ctx)
    follow: tuple[FollowUp, ...] = ()
    if measure.data["procedure"] == "first_come" and measure.state == "open":
        follow = (
            FollowUp(
                "measure", measure.id, "close", {"reason": "budget exhausted"}, actor="system", role="system"
            ),
        )
    return Outcome(changes={"shelved_at": to_json(ctx.now)}, follow_ups=follow)


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
    """Revoke all or part of the award: what is taken back is released and to be recovered."""
    award = ctx.data["award"]
    base = Decimal(award["base"])
    amount = Decimal(ctx.payload.get("amount") or base)
    grant_part = cents(amount * Decimal(award["grant"]) / base) if base else ZERO
    revocation = {
        "reason": ctx.payload["reason"],
        "partial": amount < base,
        "amount": text(amount),
        "grant": text(grant_part),
        "loan": text(amount - grant_part),
        "kept": text(base - amount),
        "at": to_json(ctx.now),
    }
    release = FollowUp(
        "measure",
        ctx.data["measure_id"],
        "release",
        {"application_id": ctx.entity_id, "amount": text(amount)},
    )
    return Outcome(
        changes={"revocation": revocation}, record={"revocation": revocation}, follow_ups=(release,)
    )
