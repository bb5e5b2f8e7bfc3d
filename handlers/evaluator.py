"""Handlers of the Evaluator machine: register, declare ties, retire.

The entity id is the evaluator's actor name, so the proposal's
``evaluator_independent`` guard can find the ties of whoever is evaluating; a
second registration under the same name is refused by the engine
(``AlreadyExists``), like any entity id taken twice.
"""

from __future__ import annotations

from handlers.base import Context, Outcome, Refusal
from handlers.callconfig import Name
from handlers.partners import TaxCodes
from handlers.payloads import OptionalReason, Payload


class Register(TaxCodes):
    """A new evaluator and the partners they are tied to."""

    name: Name


PAYLOADS: dict[str, type[Payload]] = {
    "create": Register,
    "declare_ties": TaxCodes,
    "retire": OptionalReason,
}


def guard_self_or_operator(ctx: Context) -> Refusal | None:
    """An evaluator declares their own ties; an operator may declare anyone's."""
    if ctx.role == "operator" or ctx.actor == ctx.entity_id:
        return None
    return Refusal(
        "self_or_operator",
        f"{ctx.actor} may not declare ties for evaluator {ctx.entity_id}",
        {"actor": ctx.actor},
    )


def create(ctx: Context) -> Outcome:
    """Register the evaluator and the ties declared so far."""
    return Outcome(changes=dict(ctx.payload))


def declare_ties(ctx: Context) -> Outcome:
    """Replace the declared ties (the full list, as of now)."""
    return Outcome(changes={"ties": list(ctx.payload["ties"])})


def retire(ctx: Context) -> Outcome:
    """Record why the evaluator stopped."""
    return Outcome(changes={"retirement": dict(ctx.payload)})
