"""The Phase-1 bonus (*premialità*) a Phase-2 application earns by citing a recognised proposal.

It is judged at submission: the application earns it if the proposal it cites
is in the version of the Phase-1 list (*elenco*) in force when the application
is submitted. What is recorded then (:func:`recognition`) is what the
evaluation reads, so a later withdrawal of the proposal does not take the
bonus away, and an application submitted after the decree that dropped the
proposal does not earn it. The measure's cut-offs (``submitted_by`` for the
proposal's submission, ``recognised_by`` for its listing) apply on top.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.base import Context
from handlers.measure import measure_of
from handlers.timeutil import from_json, to_json


def recognition(ctx: Context) -> dict[str, Any] | None:
    """At submission: the list in force, and whether (and since when) the cited proposal is in it.

    ``None`` when the measure has no bonus or the application cites no proposal.
    """
    rule = measure_of(ctx).data["evaluation"].get("bonus")
    proposal_id = ctx.data.get("proposal_id")
    if rule is None or proposal_id is None:
        return None
    version = ctx.reader.list_version(rule["call_id"])
    listed = version is not None and proposal_id in version.proposal_ids
    proposal = ctx.reader.get("proposal", proposal_id) if listed else None
    facts = proposal.data if proposal is not None else {}
    return {
        "call_id": rule["call_id"],
        "list_version": version.number if version else None,
        "decree_id": version.decree_id if version else None,
        "listed": listed,
        "proposal_submitted_at": facts.get("submitted_at"),
        "proposal_listed_at": facts.get("listed_at"),
        "judged_at": to_json(ctx.now),
    }


def _in_time(cutoffs: Mapping[str, Any], submitted_at: Any, listed_at: Any) -> bool:
    for cutoff, moment in (
        (cutoffs.get("submitted_by"), submitted_at),
        (cutoffs.get("recognised_by"), listed_at),
    ):
        if cutoff is not None and (moment is None or from_json(moment) > from_json(cutoff)):
            return False
    return True


def bonus_points(ctx: Context) -> int:
    """The Phase-1 bonus the application earned.

    An application submitted before the bonus was judged at submission (no
    ``recognition`` in its data) keeps the earlier rule: the cited proposal's
    state at evaluation.
    """
    measure = measure_of(ctx)
    rule = measure.data["evaluation"].get("bonus")
    if rule is None:
        return 0
    cutoffs = measure.data["bonus_cutoffs_utc"]
    seen = ctx.data.get("recognition")
    if seen is not None:
        earned = seen["listed"] and _in_time(
            cutoffs, seen["proposal_submitted_at"], seen["proposal_listed_at"]
        )
        return int(rule["points"]) if earned else 0
    proposal_id = ctx.data.get("proposal_id")
    proposal = ctx.reader.get("proposal", proposal_id) if proposal_id else None
    if (
        proposal is None
        or proposal.state not in ("listed", "funded")
        or proposal.parent_id != rule["call_id"]
    ):
        return 0
    earned = _in_time(cutoffs, proposal.data.get("submitted_at"), proposal.data.get("listed_at"))
    return int(rule["points"]) if earned else 0
