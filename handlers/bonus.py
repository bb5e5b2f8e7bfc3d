"""The Phase-1 bonus (*premialità*) a Phase-2 application earns by citing a recognised proposal."""

from __future__ import annotations

from handlers.base import Context
from handlers.measure import measure_of
from handlers.timeutil import from_json


def bonus_points(ctx: Context) -> int:
    """The Phase-1 bonus, if the application cites a proposal recognised in time."""
    rule = measure_of(ctx).data["evaluation"].get("bonus")
    proposal_id = ctx.data.get("proposal_id")
    proposal = ctx.reader.get("proposal", proposal_id) if rule and proposal_id else None
    if (
        rule is None
        or proposal is None
        or proposal.state not in ("listed", "funded")
        or proposal.parent_id != rule["call_id"]
    ):
        return 0
    cutoffs = measure_of(ctx).data["bonus_cutoffs_utc"]
    for cutoff, field in (
        (cutoffs.get("submitted_by"), "submitted_at"),
        (cutoffs.get("recognised_by"), "listed_at"),
    ):
        if cutoff is not None and from_json(proposal.data[field]) > from_json(cutoff):
            return 0
    return int(rule["points"])
