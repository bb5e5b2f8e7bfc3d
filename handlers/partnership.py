"""Handlers of the Partnership machine: register, amend, dissolve.

Structural rules of the membership (unique partners, one capofila, a declared
role for non-companies) are guards here; the call's composition thresholds are
checked when a proposal is submitted, because they belong to the call.
"""

from __future__ import annotations

from collections import Counter

from handlers.base import Context, Outcome, Refusal
from handlers.partners import Members
from handlers.payloads import OptionalReason, Payload


class Register(Members):
    """A new partnership; ``owner`` is required when an operator registers it."""

    owner: str | None = None


PAYLOADS: dict[str, type[Payload]] = {
    "create": Register,
    "amend": Members,
    "dissolve": OptionalReason,
}


def guard_owner(ctx: Context) -> Refusal | None:
    """Only the partnership's owner (its capofila's account) or an operator may act."""
    if ctx.role == "operator" or ctx.actor == ctx.data.get("owner"):
        return None
    return Refusal(
        "owner",
        f"{ctx.actor} is not the owner of {ctx.kind} {ctx.entity_id} ({ctx.data.get('owner')})",
        {"actor": ctx.actor, "owner": ctx.data.get("owner")},
    )


def guard_members_valid(ctx: Context) -> Refusal | None:
    """Partners are unique, exactly one is capofila, non-companies declare a role."""
    partners = ctx.payload["partners"]
    repeated = sorted(code for code, n in Counter(p["tax_code"] for p in partners).items() if n > 1)
    if repeated:
        return Refusal(
            "members_valid", f"partners listed twice: {', '.join(repeated)}", {"repeated": repeated}
        )
    leads = [p["tax_code"] for p in partners if p.get("capofila")]
    if len(leads) != 1:
        return Refusal(
            "members_valid",
            f"exactly one capofila is required, found {len(leads)}",
            {"capofila": leads},
        )
    if ctx.role == "operator" and ctx.entity is None and not ctx.payload.get("owner"):
        return Refusal("members_valid", "an operator must name the owner account", {})
    return None


def create(ctx: Context) -> Outcome:
    """Register the partnership; its owner is the registering applicant."""
    owner = ctx.payload.get("owner") or ctx.actor
    members = {k: v for k, v in ctx.payload.items() if k != "owner"}
    return Outcome(changes={**members, "owner": owner})


def amend(ctx: Context) -> Outcome:
    """Replace the membership (a new agreement or partner list)."""
    return Outcome(changes=dict(ctx.payload))


def dissolve(ctx: Context) -> Outcome:
    """Record why the partnership ended."""
    return Outcome(changes={"dissolution": dict(ctx.payload)})
