"""Handlers of the Application machine (Phase 2).

Submission checks the measure's composition, amounts and eligibility rules and
computes the aid the rules give; evaluation adds the Phase-1 bonus
(:mod:`handlers.bonus`) only above the threshold. Funding, shelving,
renunciation and revocation live in :mod:`handlers.funding`; they are imported
here because the machine finds a trigger's handler and guards by name in this
module.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, field_validator

from handlers import funding, preavviso, requirements
from handlers.aid import compute
from handlers.base import Context, Outcome, Refusal
from handlers.bonus import bonus_points, recognition
from handlers.callconfig import Name, PartnerKind
from handlers.composition import measure_amounts, measure_composition
from handlers.funding import (
    Revoke,
    guard_budget_left,
    guard_funding_order,
    guard_no_budget_left,
    guard_one_grant_per_company,
    guard_revocation_partial,
    guard_revocation_total,
    guard_revocation_within_award,
)
from handlers.measure import HOLDING, PENDING, WAITING
from handlers.measure import measure_of as _measure
from handlers.measure import siblings as _siblings
from handlers.measureconfig import Size
from handlers.money import Money
from handlers.partners import normalise_tax_code
from handlers.partnership import guard_owner as _owner
from handlers.payloads import Empty, Int, OptionalReason, Payload
from handlers.proposal import Evaluate, Integrate, RequestIntegration, scores_refusal, tied_refusal
from handlers.timeutil import for_people, from_json, local_to_utc, to_json

ZERO = Decimal(0)


class Applicant(Payload):
    """One partner of an application and its eligible costs."""

    tax_code: str
    name: Name
    kind: PartnerKind = "company"
    size: Size
    lombardy_seat: bool
    capofila: bool = False
    main: Money = ZERO
    experimental: Money = ZERO
    linked_group: Name | None = None
    credit_scoring: Int | None = Field(default=None, ge=1, le=99)

    @field_validator("tax_code")
    @classmethod
    def _valid_tax_code(cls, value: str) -> str:
        return normalise_tax_code(value)


class Draft(Payload):
    """A new application under a measure."""

    measure_id: Name
    title: Name
    duration_months: Int = Field(ge=1, le=240)
    partners: Annotated[list[Applicant], Field(min_length=1, max_length=500)]
    proposal_id: Name | None = None
    variant: Annotated[str, Field(pattern=r"^[a-z][a-z_]*$")] | None = None
    pre_amortisation_months: Int = Field(default=0, ge=0, le=240)
    owner: Name | None = None
    documents: list[requirements.Document] = Field(default=[], max_length=50)
    stamp_duty: requirements.Stamp | None = None
    starts_on: requirements.Day | None = None
    ends_on: requirements.Day | None = None


PAYLOADS: dict[str, type[Payload]] = {
    "create": Draft,
    "submit": Empty,
    "request_integration": RequestIntegration,
    "integrate": Integrate,
    "lapse": Empty,
    "evaluate": Evaluate,
    "fund": Empty,
    "shelve": OptionalReason,
    "renounce": OptionalReason,
    "revoke": Revoke,
    "withdraw": OptionalReason,
    **preavviso.PAYLOADS,
}


# --- guards -----------------------------------------------------------------


def guard_measure_accepts_drafts(ctx: Context) -> Refusal | None:
    """Drafts are opened under an existing measure that is not closed; operators name the owner."""
    measure = ctx.reader.get("measure", ctx.payload["measure_id"])
    if measure is None:
        return Refusal("measure_accepts_drafts", f"no measure {ctx.payload['measure_id']}", {})
    if measure.state not in ("planned", "open"):
        return Refusal(
            "measure_accepts_drafts", f"measure {measure.id} is {measure.state}", {"state": measure.state}
        )
    if ctx.role == "operator" and not ctx.payload.get("owner"):
        return Refusal("measure_accepts_drafts", "an operator must name the owner account", {})
    return None


def guard_owner(ctx: Context) -> Refusal | None:
    """Only the application's owner (its capofila's account) acts for it."""
    return _owner(ctx)


def guard_measure_open(ctx: Context) -> Refusal | None:
    """Applications are submitted while the measure is open, within its window."""
    measure = _measure(ctx)
    if measure.state != "open":
        return Refusal(
            "measure_open", f"measure {measure.id} is {measure.state}, not open", {"state": measure.state}
        )
    closes = measure.data.get("closes_at_utc")
    if closes is None or ctx.now <= from_json(closes):
        return None
    return Refusal(
        "measure_open",
        f"the window of {measure.id} closed at {for_people(from_json(closes))}; it is {for_people(ctx.now)}",
        {"closes_at": closes, "now": to_json(ctx.now)},
    )


def guard_composition(ctx: Context) -> Refusal | None:
    """The partners meet the measure's composition rules (a refusal names each culprit)."""
    return measure_composition(_measure(ctx).data["composition"], ctx.data["partners"])


def guard_amounts(ctx: Context) -> Refusal | None:
    """Project and partner amounts, shares, caps, duration and eligibility (each culprit named)."""
    return measure_amounts(_measure(ctx).data, ctx.data)


def guard_required_documents(ctx: Context) -> Refusal | None:
    """The measure's documents are attached, signed by every partner where required."""
    cited = ctx.reader.get("proposal", ctx.data["proposal_id"]) if ctx.data.get("proposal_id") else None
    recognised = cited is not None and cited.state in ("listed", "funded")
    return requirements.documents_refusal(_measure(ctx).data.get("requirements", {}), ctx.data, recognised)


def guard_stamp_duty(ctx: Context) -> Refusal | None:
    """The stamp duty is declared where required, its serial or reference unused in the measure."""
    others = _siblings(
        ctx, (*PENDING, *WAITING, "funded", "rejected", "inadmissible", "renounced", "revoked")
    )
    return requirements.stamp_refusal(_measure(ctx).data.get("requirements", {}), ctx.data, others)


def guard_project_dates(ctx: Context) -> Refusal | None:
    """Start and end dates within the measure's limits, at submission and again at funding."""
    return requirements.dates_refusal(_measure(ctx).data, ctx.data, ctx.now, funding=ctx.trigger == "fund")


def guard_one_project_per_partner(ctx: Context) -> Refusal | None:
    """Where the measure says so, a codice fiscale is in one live application only."""
    if not _measure(ctx).data["composition"]["one_project_per_partner"]:
        return None
    mine = {p["tax_code"] for p in ctx.data["partners"]}
    for other in _siblings(ctx, (*PENDING, *WAITING, *HOLDING)):
        shared = sorted(mine & {p["tax_code"] for p in other.data["partners"]})
        if shared:
            return Refusal(
                "one_project_per_partner",
                f"{', '.join(shared)} already in application {other.id}",
                {"application": other.id, "partners": shared},
            )
    return None


#: Phase-1 states in which a proposal may still be cited (recognition may come later).
CITABLE = ("submitted", "integration_requested", "evaluated", "listed")


def guard_cited_proposal(ctx: Context) -> Refusal | None:
    """A cited Phase-1 proposal is alive (not rejected, withdrawn, expired) and not funded yet.

    It need not be listed yet: a measure's bonus depends on recognition by a
    cut-off date, judged at evaluation, and the coupling at funding.
    """
    proposal_id = ctx.data.get("proposal_id")
    if proposal_id is None:
        return None
    proposal = ctx.reader.get("proposal", proposal_id)
    if proposal is None or proposal.state not in CITABLE:
        state = proposal.state if proposal else "unknown"
        return Refusal(
            "cited_proposal", f"proposal {proposal_id} cannot be cited ({state})", {"state": state}
        )
    return None


def guard_reason_given(ctx: Context) -> Refusal | None:
    """An integration request says what is missing."""
    return (
        None
        if str(ctx.payload.get("reason", "")).strip()
        else Refusal("reason_given", "a reason is required", {})
    )


def _integration_due(ctx: Context) -> Any:
    if ctx.payload.get("due"):
        return local_to_utc(ctx.payload["due"])
    return ctx.now + timedelta(days=_measure(ctx).data["evaluation"]["integration_due_days"])


def guard_due_in_future(ctx: Context) -> Refusal | None:
    """The integration's due date lies ahead."""
    due = _integration_due(ctx)
    return None if due > ctx.now else Refusal("due_in_future", f"due date {for_people(due)} has passed", {})


def guard_before_integration_due(ctx: Context) -> Refusal | None:
    """An integration arrives by its due date."""
    due = from_json(ctx.data["integration"]["due"])
    if ctx.now <= due:
        return None
    return Refusal(
        "before_integration_due", f"integration due {for_people(due)} passed at {for_people(ctx.now)}", {}
    )


def guard_integration_due_passed(ctx: Context) -> Refusal | None:
    """A request lapses only after its due date."""
    due = from_json(ctx.data["integration"]["due"])
    return (
        None if ctx.now > due else Refusal("integration_due_passed", f"integration due {for_people(due)}", {})
    )


def guard_evaluator_independent(ctx: Context) -> Refusal | None:
    """The evaluator is registered and tied to no partner of the application."""
    return tied_refusal(ctx, {p["tax_code"] for p in ctx.data["partners"]})


def guard_scores_valid(ctx: Context) -> Refusal | None:
    """One allowed score per criterion of the measure."""
    return scores_refusal(ctx, _measure(ctx).data["evaluation"]["criteria"])


def _score(ctx: Context) -> tuple[int, int]:
    return sum(ctx.payload["scores"].values()), _measure(ctx).data["evaluation"]["threshold"]


def guard_threshold_reached(ctx: Context) -> Refusal | None:
    """The score (before any bonus) reaches the threshold: admitted."""
    score, threshold = _score(ctx)
    return (
        None if score >= threshold else Refusal("threshold_reached", f"score {score} below {threshold}", {})
    )


def guard_threshold_missed(ctx: Context) -> Refusal | None:
    """The score (the bonus never helps to reach it) misses the threshold: rejected."""
    score, threshold = _score(ctx)
    return (
        None if score < threshold else Refusal("threshold_missed", f"score {score} reaches {threshold}", {})
    )


def guard_preavviso_required(ctx: Context) -> Refusal | None:
    """The measure (not ranked) requires a preavviso di rigetto before a negative decision."""
    return preavviso.preavviso_required(_measure(ctx).data)


def guard_preavviso_not_required(ctx: Context) -> Refusal | None:
    """The measure does not require the notice: a negative evaluation rejects at once."""
    return preavviso.preavviso_not_required(_measure(ctx).data)


#: The preavviso's own guards (handlers.preavviso).
guard_before_observations_due = preavviso.guard_before_observations_due
guard_observations_due_passed = preavviso.guard_observations_due_passed
guard_observations_answered = preavviso.guard_observations_answered


# --- handlers ---------------------------------------------------------------


def create(ctx: Context) -> Outcome:
    """Open a draft owned by the applicant (or the owner an operator names)."""
    owner = ctx.payload.get("owner") or ctx.actor
    data = {k: v for k, v in ctx.payload.items() if k != "owner"}
    return Outcome(changes={**data, "owner": owner}, parent_id=ctx.payload["measure_id"])


def submit(ctx: Context) -> Outcome:
    """Allocate the protocol number (the order of a first-come measure) and compute the aid."""
    measure = _measure(ctx)
    number = ctx.allocate(f"protocol:{measure.id}")
    aid = compute(
        measure.data["aid"],
        ctx.data["partners"],
        variant=ctx.data.get("variant"),
        pre_amortisation_months=ctx.data.get("pre_amortisation_months", 0),
    )
    protocol = f"{measure.data['code']}-{number:06d}"
    changes = {"protocol": protocol, "protocol_number": number, "submitted_at": to_json(ctx.now), "aid": aid}
    record: dict[str, Any] = {"protocol": protocol, "aid": {k: aid[k] for k in ("base", "grant", "loan")}}
    seen = recognition(ctx)  # the Phase-1 bonus is judged now, on the list in force
    if seen is not None:
        changes["recognition"] = record["recognition"] = seen
    return Outcome(changes=changes, record=record)


def request_integration(ctx: Context) -> Outcome:
    """Suspend the evaluation until the applicant integrates."""
    integration = {
        "reason": ctx.payload["reason"],
        "requested_at": to_json(ctx.now),
        "due": to_json(_integration_due(ctx)),
    }
    return Outcome(changes={"integration": integration}, record={"integration": integration})


def integrate(ctx: Context) -> Outcome:
    """Record what was added."""
    done = {**ctx.data["integration"], "answered_at": to_json(ctx.now), **ctx.payload}
    return Outcome(changes={"integration": None, "integrations": [*ctx.data.get("integrations", []), done]})


def lapse(ctx: Context) -> Outcome:
    """Record that the request went unanswered."""
    return Outcome(changes={"lapsed_at": to_json(ctx.now)})


def evaluate(ctx: Context) -> Outcome:
    """Record the score, and add the bonus only if the score reached the threshold."""
    score, threshold = _score(ctx)
    bonus = bonus_points(ctx) if score >= threshold else 0
    evaluation = {
        "evaluator": ctx.actor,
        "scores": dict(ctx.payload["scores"]),
        "score": score,
        "bonus": bonus,
        "at": to_json(ctx.now),
    }
    record: dict[str, Any] = {"score": score, "bonus": bonus, "total": score + bonus}
    if "recognition" in ctx.data:  # the list version the bonus was judged on, at submission
        evaluation["list_version"] = record["list_version"] = ctx.data["recognition"]["list_version"]
    return Outcome(
        changes={"evaluation": evaluation, "total": score + bonus},
        record=record,
        follow_ups=funding.after_admission(ctx) if score >= threshold else (),
    )


def withdraw(ctx: Context) -> Outcome:
    """Record the withdrawal."""
    return Outcome(changes={"withdrawn_at": to_json(ctx.now), **ctx.payload})


# --- funding (the rules are in handlers.funding) -------------------------------

__all__ = [  # the machine finds a trigger's guards by name in this module
    "guard_budget_left",
    "guard_funding_order",
    "guard_no_budget_left",
    "guard_one_grant_per_company",
    "guard_revocation_partial",
    "guard_revocation_total",
    "guard_revocation_within_award",
]


def fund(ctx: Context) -> Outcome:
    """Award the aid, reserve it in the measure, and fund the cited proposal."""
    return funding.fund(ctx)


def shelve(ctx: Context) -> Outcome:
    """Admitted, not funded: no money for it now."""
    return funding.shelve(ctx)


def renounce(ctx: Context) -> Outcome:
    """Give the award back; the money goes to the next in line."""
    return funding.renounce(ctx)


def revoke(ctx: Context) -> Outcome:
    """Revoke all or part of the award: what is taken back is released and to be recovered."""
    return funding.revoke(ctx)


def notify_rejection(ctx: Context) -> Outcome:
    """Send the preavviso di rigetto (handlers.preavviso)."""
    return preavviso.notify(ctx, _measure(ctx).data)


def observe(ctx: Context) -> Outcome:
    """File the applicant's observations."""
    return preavviso.observe(ctx, _measure(ctx).data)


def close_observations(ctx: Context) -> Outcome:
    """The observation window passed unanswered."""
    return preavviso.close_observations(ctx)


def reject(ctx: Context) -> Outcome:
    """The final rejection after the notice."""
    return preavviso.reject(ctx)


def reconsider(ctx: Context) -> Outcome:
    """The observations are accepted: the application is evaluated again."""
    return preavviso.reconsider(ctx)
