"""Handlers of the Proposal machine (Phase 1).

Submission is the moment that must be right to the second: the deadline guard
reads the clock and the deadline in force, the protocol number is allocated only
after every guard passed (a refusal consumes none), and the receipt hashes the
exact content submitted.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Annotated, Any

from pydantic import Field

from handlers import criteria, preavviso
from handlers.base import Context, Outcome, Refusal, Snapshot
from handlers.call import deadline_in_force, deadline_refusal, effective_state
from handlers.callconfig import LocalTime, Name
from handlers.composition import call_composition
from handlers.partnership import guard_owner as _partnership_owner
from handlers.payloads import Empty, Int, OptionalReason, Payload, Reason
from handlers.timeutil import for_people, from_json, local_to_utc, to_json


class Draft(Payload):
    """A new proposal under a call, for a registered partnership."""

    call_id: Name
    partnership_id: Name
    title: Annotated[str, Field(max_length=300)] = ""
    summary: Annotated[str, Field(max_length=20_000)] = ""
    areas: list[Annotated[str, Field(pattern=r"^[a-z]$")]] = []
    content: dict[str, Any] = {}


class RequestIntegration(Payload):
    """A *soccorso istruttorio*: what is missing (checked by the reason_given guard) and by when."""

    reason: Annotated[str, Field(max_length=2000)]
    due: LocalTime | None = None


class Integrate(Payload):
    """What the applicant adds in answer to an integration request."""

    note: Name
    documents: list[Name] = []


class Evaluate(Payload):
    """Scores per criterion of the call."""

    scores: dict[str, Int]
    note: str = ""


class ByDecree(Payload):
    """The decree that lists the proposal."""

    decree_id: Name


class ByApplication(Payload):
    """The Phase-2 application whose funding funds the proposal."""

    application_id: Name


PAYLOADS: dict[str, type[Payload]] = {
    "create": Draft,
    "submit": Empty,
    "request_integration": RequestIntegration,
    "integrate": Integrate,
    "lapse": Empty,
    "declare_inadmissible": Reason,
    "evaluate": Evaluate,
    "list": ByDecree,
    "fund": ByApplication,
    "withdraw": OptionalReason,
    "expire": Empty,
    **preavviso.PAYLOADS,
}


def _call(ctx: Context) -> Snapshot:
    call_id = ctx.data.get("call_id") or ctx.payload["call_id"]
    call = ctx.reader.get("call", call_id)
    if call is None:  # pragma: no cover - the create guard makes this impossible
        raise LookupError(f"call {call_id} vanished")
    return call


def _partners(ctx: Context) -> Sequence[Mapping[str, Any]]:
    partnership = ctx.reader.get("partnership", ctx.data["partnership_id"])
    return [*partnership.data["partners"]] if partnership is not None else []


def canonical_sha256(content: Mapping[str, Any]) -> str:
    """SHA-256 of canonical JSON (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# --- guards -----------------------------------------------------------------


def guard_call_accepts_drafts(ctx: Context) -> Refusal | None:
    """Drafts are opened only under an existing call that has not closed."""
    call = ctx.reader.get("call", ctx.payload["call_id"])
    if call is None:
        return Refusal("call_accepts_drafts", f"no call {ctx.payload['call_id']}", {})
    state = effective_state(call, ctx.now)  # closed at its deadline, recorded or not
    if state == "closed":
        return Refusal("call_accepts_drafts", f"call {call.id} is closed", {"state": state})
    return None


def guard_partnership_exists(ctx: Context) -> Refusal | None:
    """The partnership is registered, and an applicant files only for their own."""
    partnership = ctx.reader.get("partnership", ctx.payload["partnership_id"])
    if partnership is None or partnership.state != "registered":
        return Refusal("partnership_exists", f"no registered partnership {ctx.payload['partnership_id']}", {})
    owner = partnership.data["owner"]
    if ctx.role == "applicant" and ctx.actor != owner:
        return Refusal(
            "partnership_exists",
            f"{ctx.actor} is not the owner of partnership {partnership.id} ({owner})",
            {"owner": owner},
        )
    return None


def guard_owner(ctx: Context) -> Refusal | None:
    """Only the proposal's owner (the capofila's account) files for it."""
    return _partnership_owner(ctx)


def guard_call_open(ctx: Context) -> Refusal | None:
    """Submissions go to a call that has opened.

    A call past its deadline is refused by ``deadline_not_passed``, which says
    which deadline passed and when, whether or not the close was recorded.
    """
    call = _call(ctx)
    if call.state != "scheduled":
        return None
    return Refusal("call_open", f"call {call.id} is {call.state}, not open", {"state": call.state})


def guard_deadline_not_passed(ctx: Context) -> Refusal | None:
    """The clock is not past the deadline in force (read now, not from the scheduler)."""
    return deadline_refusal("deadline_not_passed", _call(ctx).data, ctx.now)


def guard_required_fields(ctx: Context) -> Refusal | None:
    """A proposal needs a title and a summary to be submitted."""
    missing = [name for name in ("title", "summary") if not ctx.data.get(name)]
    if not missing:
        return None
    return Refusal("required_fields", f"missing: {', '.join(missing)}", {"missing": missing})


def guard_priority_area(ctx: Context) -> Refusal | None:
    """At least the call's minimum of its priority areas, and only those."""
    call = _call(ctx).data
    areas = [*ctx.data.get("areas", [])]
    unknown = sorted(set(areas) - set(call["areas"]))
    if unknown:
        return Refusal("priority_area", f"unknown priority areas: {', '.join(unknown)}", {"unknown": unknown})
    if len(set(areas)) < call["min_areas"]:
        return Refusal(
            "priority_area",
            f"{len(set(areas))} priority areas chosen, at least {call['min_areas']} required "
            f"({', '.join(sorted(call['areas']))})",
            {"areas": areas, "min": call["min_areas"]},
        )
    return None


def guard_composition(ctx: Context) -> Refusal | None:
    """The partnership meets the call's composition rules (a refusal names each culprit)."""
    return call_composition(_call(ctx).data["composition"], _partners(ctx))


def guard_reason_given(ctx: Context) -> Refusal | None:
    """Operators' decisions carry a reason (checked by the payload; never empty)."""
    if str(ctx.payload.get("reason", "")).strip():
        return None
    return Refusal("reason_given", "a reason is required", {})


def guard_due_in_future(ctx: Context) -> Refusal | None:
    """An integration request's due date lies ahead."""
    due = _integration_due(ctx)
    if due > ctx.now:
        return None
    return Refusal(
        "due_in_future",
        f"due date {for_people(due)} is not after {for_people(ctx.now)}",
        {"due": to_json(due)},
    )


def guard_before_integration_due(ctx: Context) -> Refusal | None:
    """An integration arrives by its due date."""
    due = from_json(ctx.data["integration"]["due"])
    if ctx.now <= due:
        return None
    return Refusal(
        "before_integration_due",
        f"integration due {for_people(due)} passed at {for_people(ctx.now)}",
        {"due": to_json(due), "now": to_json(ctx.now)},
    )


def guard_integration_due_passed(ctx: Context) -> Refusal | None:
    """A request lapses only after its due date."""
    due = from_json(ctx.data["integration"]["due"])
    if ctx.now > due:
        return None
    return Refusal(
        "integration_due_passed",
        f"integration due {for_people(due)} has not passed at {for_people(ctx.now)}",
        {"due": to_json(due)},
    )


def tied_refusal(ctx: Context, tax_codes: set[str]) -> Refusal | None:
    """Refuse an evaluator who is not registered and active, or is tied to any of ``tax_codes``."""
    evaluator = ctx.reader.get("evaluator", ctx.actor)
    if evaluator is None or evaluator.state != "active":
        return Refusal("evaluator_independent", f"{ctx.actor} is not an active evaluator", {})
    tied = sorted(set(evaluator.data["ties"]) & tax_codes)
    if not tied:
        return None
    return Refusal(
        "evaluator_independent",
        f"evaluator {ctx.actor} is tied to partners {', '.join(tied)}",
        {"tied_partners": tied},
    )


def scores_refusal(ctx: Context, criteria_list: Sequence[Mapping[str, Any]]) -> Refusal | None:
    """Refuse scores that do not cover exactly ``criteria_list`` or that a criterion does not allow."""
    criteria = {c["name"]: c for c in criteria_list}
    scores = ctx.payload["scores"]
    missing = sorted(set(criteria) - set(scores))
    extra = sorted(set(scores) - set(criteria))
    if missing or extra:
        return Refusal(
            "scores_valid",
            f"scores must cover exactly the criteria (missing: {missing}, unknown: {extra})",
            {"missing": missing, "unknown": extra},
        )
    for name, value in scores.items():
        rule = criteria[name]
        allowed = rule.get("allowed")
        if (allowed is not None and value not in allowed) or not 0 <= value <= rule["max"]:
            accepted = allowed if allowed is not None else f"0..{rule['max']}"
            return Refusal(
                "scores_valid",
                f"score {value} for {name} is not allowed ({accepted})",
                {"criterion": name, "score": value},
            )
    return None


def guard_evaluator_independent(ctx: Context) -> Refusal | None:
    """The evaluator is registered, active, and tied to no partner of the proposal."""
    return tied_refusal(ctx, {p["tax_code"] for p in _partners(ctx)})


def guard_scores_valid(ctx: Context) -> Refusal | None:
    """One score per criterion in force when the proposal was submitted, each allowed by it."""
    return scores_refusal(ctx, criteria.for_proposal(_call(ctx).data, ctx.data)["criteria"])


def _total(ctx: Context) -> tuple[int, int]:
    return sum(ctx.payload["scores"].values()), criteria.for_proposal(_call(ctx).data, ctx.data)["threshold"]


def guard_threshold_reached(ctx: Context) -> Refusal | None:
    """The total reaches the call's threshold: the proposal is judged worthy."""
    total, threshold = _total(ctx)
    if total >= threshold:
        return None
    return Refusal("threshold_reached", f"total {total} below threshold {threshold}", {"total": total})


def guard_threshold_missed(ctx: Context) -> Refusal | None:
    """The total misses the threshold: the proposal is rejected."""
    total, threshold = _total(ctx)
    if total < threshold:
        return None
    return Refusal("threshold_missed", f"total {total} reaches threshold {threshold}", {"total": total})


def guard_preavviso_required(ctx: Context) -> Refusal | None:
    """The call requires a preavviso di rigetto before a negative decision (art. 10-bis)."""
    return preavviso.preavviso_required(_call(ctx).data)


def guard_preavviso_not_required(ctx: Context) -> Refusal | None:
    """The call does not require the notice: a negative evaluation rejects at once."""
    return preavviso.preavviso_not_required(_call(ctx).data)


#: The preavviso's own guards (they read only the proposal and the payload).
guard_before_observations_due = preavviso.guard_before_observations_due
guard_observations_due_passed = preavviso.guard_observations_due_passed
guard_observations_answered = preavviso.guard_observations_answered


def guard_in_approved_decree(ctx: Context) -> Refusal | None:
    """A proposal is listed only by an approved decree that names it."""
    decree = ctx.reader.get("decree", ctx.payload["decree_id"])
    if decree is None or decree.state != "approved":
        return Refusal("in_approved_decree", f"decree {ctx.payload['decree_id']} is not approved", {})
    if ctx.entity_id not in decree.data["proposal_ids"]:
        return Refusal("in_approved_decree", f"decree {decree.id} does not name {ctx.entity_id}", {})
    return None


def guard_application_funded(ctx: Context) -> Refusal | None:
    """A listed proposal is funded only through a funded application citing it."""
    application = ctx.reader.get("application", ctx.payload["application_id"])
    if application is None or application.state != "funded":
        return Refusal(
            "application_funded",
            f"application {ctx.payload['application_id']} is not funded",
            {"application_id": ctx.payload["application_id"]},
        )
    if application.data.get("proposal_id") != ctx.entity_id:
        return Refusal(
            "application_funded", f"application {application.id} does not cite {ctx.entity_id}", {}
        )
    return None


def guard_deadline_passed(ctx: Context) -> Refusal | None:
    """A draft expires only after the deadline in force."""
    call = _call(ctx).data
    if deadline_refusal("deadline_passed", call, ctx.now) is not None:
        return None
    version = deadline_in_force(call, ctx.now)
    return Refusal(
        "deadline_passed",
        f"deadline in force {for_people(from_json(version['at']))} has not passed",
        {"deadline": version["at"]},
    )


# --- handlers ---------------------------------------------------------------


def create(ctx: Context) -> Outcome:
    """Open a draft owned by the partnership's owner."""
    partnership = ctx.reader.get("partnership", ctx.payload["partnership_id"])
    owner = partnership.data["owner"] if partnership is not None else ctx.actor
    return Outcome(changes={**ctx.payload, "owner": owner}, parent_id=ctx.payload["call_id"])


def submit(ctx: Context) -> Outcome:
    """Allocate the protocol number and issue the receipt."""
    call = _call(ctx)
    number = ctx.allocate(f"protocol:{call.id}")
    protocol = f"{call.data['code']}-{number:06d}"
    partnership = ctx.reader.get("partnership", ctx.data["partnership_id"])
    content = {
        "proposal": {k: v for k, v in ctx.data.items() if k not in ("owner",)},
        "partnership": dict(partnership.data) if partnership is not None else {},
    }
    term = call.data["evaluation"]["term_days"]
    receipt = {"protocol": protocol, "at": to_json(ctx.now), "sha256": canonical_sha256(content)}
    return Outcome(
        changes={
            "protocol": protocol,
            "protocol_number": number,
            "submitted_at": to_json(ctx.now),
            "receipt": receipt,
            "evaluation_due": to_json(ctx.now + timedelta(days=term)),
        },
        record={"receipt": receipt},
    )


def _integration_due(ctx: Context) -> Any:
    if ctx.payload.get("due"):
        return local_to_utc(ctx.payload["due"])
    days = _call(ctx).data["evaluation"]["integration_due_days"]
    return ctx.now + timedelta(days=days)


def request_integration(ctx: Context) -> Outcome:
    """Suspend the evaluation term until the applicant integrates (or it lapses)."""
    integration = {
        "reason": ctx.payload["reason"],
        "requested_at": to_json(ctx.now),
        "due": to_json(_integration_due(ctx)),
    }
    return Outcome(changes={"integration": integration}, record={"integration": integration})


def integrate(ctx: Context) -> Outcome:
    """Resume the evaluation term, extended by the time it was suspended."""
    integration = ctx.data["integration"]
    suspended = ctx.now - from_json(integration["requested_at"])
    due = from_json(ctx.data["evaluation_due"]) + suspended
    done = {**integration, "answered_at": to_json(ctx.now), **ctx.payload}
    return Outcome(
        changes={
            "integration": None,
            "integrations": [*ctx.data.get("integrations", []), done],
            "evaluation_due": to_json(due),
        },
        record={"suspended_seconds": int(suspended.total_seconds()), "evaluation_due": to_json(due)},
    )


def lapse(ctx: Context) -> Outcome:
    """Record that the integration request went unanswered."""
    return Outcome(changes={"lapsed_at": to_json(ctx.now)})


def declare_inadmissible(ctx: Context) -> Outcome:
    """Record the operator's reason."""
    return Outcome(changes={"inadmissible": dict(ctx.payload)})


def evaluate(ctx: Context) -> Outcome:
    """Record the scores, the total and the outcome against the threshold."""
    total, threshold = _total(ctx)
    evaluation = {
        "evaluator": ctx.actor,
        "scores": dict(ctx.payload["scores"]),
        "total": total,
        "threshold": threshold,
        "outcome": "worthy" if total >= threshold else "not worthy",
        "at": to_json(ctx.now),
        "note": ctx.payload.get("note", ""),
        "criteria": criteria.label(criteria.for_proposal(_call(ctx).data, ctx.data)),
    }
    record = {"total": total, "outcome": evaluation["outcome"], "criteria": evaluation["criteria"]}
    return Outcome(changes={"evaluation": evaluation}, record=record)


def list(ctx: Context) -> Outcome:  # noqa: A001 - named after its trigger
    """Record the decree that listed the proposal."""
    return Outcome(changes={"listed_by": ctx.payload["decree_id"], "listed_at": to_json(ctx.now)})


def fund(ctx: Context) -> Outcome:
    """Link the proposal to the award of its Phase-2 application."""
    return Outcome(changes={"funded_by": ctx.payload["application_id"], "funded_at": to_json(ctx.now)})


def withdraw(ctx: Context) -> Outcome:
    """Record the withdrawal; the next list version leaves the proposal out."""
    return Outcome(changes={"withdrawn_at": to_json(ctx.now), "withdrawal": dict(ctx.payload)})


def expire(ctx: Context) -> Outcome:
    """Record the expiry of a draft left at the deadline."""
    return Outcome(changes={"expired_at": to_json(ctx.now)})


def notify_rejection(ctx: Context) -> Outcome:
    """Send the preavviso di rigetto; the term is suspended while the applicant may answer."""
    return preavviso.notify(ctx, _call(ctx).data)


def observe(ctx: Context) -> Outcome:
    """File the applicant's observations; the term restarts after them."""
    return preavviso.observe(ctx, _call(ctx).data)


def close_observations(ctx: Context) -> Outcome:
    """The observation window passed unanswered; the term restarts at its end."""
    return preavviso.close_observations(ctx)


def reject(ctx: Context) -> Outcome:
    """The final rejection after the notice, saying why the observations were not accepted."""
    return preavviso.reject(ctx)


def reconsider(ctx: Context) -> Outcome:
    """The observations are accepted: the proposal is evaluated again."""
    return preavviso.reconsider(ctx)
