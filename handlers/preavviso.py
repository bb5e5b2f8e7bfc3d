"""Preavviso di rigetto (L. 241/1990 art. 10-bis): the notice before a negative decision.

In a non-competitive procedure, before rejecting an application the
administration communicates the reasons; the applicant has ``observation_days``
(10 by law) to file observations; the notice suspends the procedure's term,
which starts running again ``restart_after_days`` (10 by law) after the
observations or, without them, at the end of the window; and the final
decision must say why the observations were not accepted. It does not apply to
competitive procedures (ranked measures), nor to inadmissibility or
incompleteness (lateness is refused at the door, a lapsed integration makes the
application inadmissible without it).

The rules read the parent's configuration (a call's or a measure's
``preavviso`` block); a parent stored without one does not require the notice,
so configurations and logs written before it keep their meaning. The guards are
imported by the machine's handler module under their ``guard_`` names.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import Field

from handlers.base import Context, Outcome, Refusal
from handlers.payloads import Empty, Int, Payload
from handlers.timeutil import for_people, from_json, to_json

Text = Annotated[str, Field(min_length=1, max_length=20_000)]
Name = Annotated[str, Field(min_length=1, max_length=300)]


class Preavviso(Payload):
    """Whether a call or measure requires the notice, and its terms in days."""

    required: bool = False
    observation_days: Int = Field(default=10, ge=1, le=3650)
    restart_after_days: Int = Field(default=10, ge=0, le=3650)


class Notice(Payload):
    """The notice: the reasons that prevent granting the request (*motivi ostativi*)."""

    reason: Text
    documents: list[Name] = Field(default=[], max_length=100)


class Observations(Payload):
    """The applicant's observations, possibly with documents."""

    text: Text
    documents: list[Name] = Field(default=[], max_length=100)


class FinalRejection(Payload):
    """The final negative decision: its reasons and, if observations came, why they were not accepted."""

    reason: Text
    observations_not_accepted: Annotated[str, Field(max_length=20_000)] = ""


class Reconsider(Payload):
    """The observations are accepted: the request goes back to be evaluated again."""

    reason: Text


PAYLOADS: dict[str, type[Payload]] = {
    "notify_rejection": Notice,
    "observe": Observations,
    "close_observations": Empty,
    "reject": FinalRejection,
    "reconsider": Reconsider,
}


def rules(parent: Mapping[str, Any]) -> dict[str, Any]:
    """The parent's preavviso rules (defaults when it was stored without them)."""
    return Preavviso.model_validate(parent.get("preavviso") or {}).model_dump()


def required(parent: Mapping[str, Any]) -> bool:
    """Whether a negative evaluation must go through the notice (never for a ranked measure)."""
    return bool(rules(parent)["required"]) and parent.get("procedure") != "ranked"


def preavviso_required(parent: Mapping[str, Any]) -> Refusal | None:
    """The parent requires the notice before a negative decision."""
    if required(parent):
        return None
    return Refusal("preavviso_required", "this procedure does not require a preavviso di rigetto", {})


def preavviso_not_required(parent: Mapping[str, Any]) -> Refusal | None:
    """The parent does not require the notice: the negative evaluation is the decision."""
    if not required(parent):
        return None
    return Refusal(
        "preavviso_not_required", "a preavviso di rigetto must come first (L. 241/1990 art. 10-bis)", {}
    )


def guard_before_observations_due(ctx: Context) -> Refusal | None:
    """Observations arrive within the window the notice opened."""
    due = from_json(ctx.data["preavviso"]["observations_due"])
    if ctx.now <= due:
        return None
    return Refusal(
        "before_observations_due",
        f"observations were due by {for_people(due)}; it is {for_people(ctx.now)}",
        {"due": to_json(due), "now": to_json(ctx.now)},
    )


def guard_observations_due_passed(ctx: Context) -> Refusal | None:
    """The window closes without observations only once it has passed."""
    due = from_json(ctx.data["preavviso"]["observations_due"])
    if ctx.now > due:
        return None
    return Refusal(
        "observations_due_passed", f"observations may be filed until {for_people(due)}", {"due": to_json(due)}
    )


def guard_observations_answered(ctx: Context) -> Refusal | None:
    """A rejection after observations says why they were not accepted (art. 10-bis)."""
    filed = ctx.data.get("preavviso", {}).get("observations")
    if filed is None or str(ctx.payload.get("observations_not_accepted", "")).strip():
        return None
    return Refusal(
        "observations_answered",
        "the applicant filed observations: the decision must say why they were not accepted",
        {"observations_filed_at": filed["filed_at"]},
    )


def notify(ctx: Context, parent: Mapping[str, Any]) -> Outcome:
    """Send the notice: the observation window opens and the term is suspended."""
    days = rules(parent)["observation_days"]
    notice = {
        "reason": ctx.payload["reason"],
        "documents": list(ctx.payload.get("documents", [])),
        "sent_at": to_json(ctx.now),
        "by": ctx.actor,
        "observations_due": to_json(ctx.now + timedelta(days=days)),
    }
    return Outcome(changes={"preavviso": notice}, record={"preavviso": notice})


def _restart(ctx: Context, restarts: datetime, extra: Mapping[str, Any]) -> Outcome:
    """The term runs again from ``restarts``: a due date moves by the time it was suspended."""
    notice = dict(ctx.data["preavviso"])
    suspended = restarts - from_json(notice["sent_at"])
    changes: dict[str, Any] = {"preavviso": {**notice, **extra, "term_restarts_at": to_json(restarts)}}
    record: dict[str, Any] = {**extra, "term_restarts_at": to_json(restarts)}
    if ctx.data.get("evaluation_due"):
        due = to_json(from_json(ctx.data["evaluation_due"]) + suspended)
        changes["evaluation_due"] = record["evaluation_due"] = due
    return Outcome(changes=changes, record=record)


def observe(ctx: Context, parent: Mapping[str, Any]) -> Outcome:
    """File the observations; the term restarts ``restart_after_days`` after them."""
    filed = {"text": ctx.payload["text"], "documents": list(ctx.payload.get("documents", []))}
    filed["filed_at"] = to_json(ctx.now)
    restarts = ctx.now + timedelta(days=rules(parent)["restart_after_days"])
    return _restart(ctx, restarts, {"observations": filed})


def close_observations(ctx: Context) -> Outcome:
    """No observations came: the term restarts at the end of the window."""
    due = from_json(ctx.data["preavviso"]["observations_due"])
    return _restart(ctx, due, {"observations": None})


def reject(ctx: Context) -> Outcome:
    """The final negative decision, with why the observations (if any) were not accepted."""
    decision = {**ctx.payload, "at": to_json(ctx.now), "by": ctx.actor}
    return Outcome(changes={"rejection": decision}, record={"rejection": decision})


def reconsider(ctx: Context) -> Outcome:
    """Accept the observations: the evaluation is done again; the notice stays in the history."""
    done = {**ctx.data["preavviso"], "reconsidered": {**ctx.payload, "at": to_json(ctx.now)}}
    return Outcome(
        changes={"preavviso": None, "preavvisi": [*ctx.data.get("preavvisi", []), done]},
        record={"reconsidered": dict(ctx.payload)},
    )
