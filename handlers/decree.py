"""Handlers of the Decree machine: draft, amend, approve.

Approval makes the next version of the call's list (*elenco*): the proposals
still listed or funded in the previous version, plus those the decree names.
Withdrawn proposals drop out. The new entries are listed in the same
transaction, each by its own event.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from handlers.base import Context, FollowUp, Outcome, Refusal
from handlers.callconfig import Name
from handlers.payloads import Payload
from handlers.timeutil import to_json

ProposalIds = Annotated[list[Name], Field(min_length=1, max_length=10_000)]


class Draft(Payload):
    """A decree being prepared: its act number and the proposals it lists."""

    call_id: Name
    act: Name
    proposal_ids: ProposalIds


class Amend(Payload):
    """A new list of proposals for a decree still in draft."""

    proposal_ids: ProposalIds


class Approve(Payload):
    """The approval, optionally with its date of signature as a note."""

    note: str = ""


PAYLOADS: dict[str, type[Payload]] = {"create": Draft, "amend": Amend, "approve": Approve}

_KEPT = ("listed", "funded")


def guard_call_exists(ctx: Context) -> Refusal | None:
    """A decree belongs to an existing call."""
    if ctx.reader.get("call", ctx.payload["call_id"]) is None:
        return Refusal("call_exists", f"no call {ctx.payload['call_id']}", {})
    return None


def guard_proposals_evaluated(ctx: Context) -> Refusal | None:
    """Every proposal named is under this decree's call and judged worthy (evaluated)."""
    call_id = ctx.data.get("call_id") or ctx.payload.get("call_id")
    ids = ctx.payload.get("proposal_ids") or ctx.data["proposal_ids"]
    wrong = []
    for proposal_id in ids:
        proposal = ctx.reader.get("proposal", proposal_id)
        if proposal is None or proposal.parent_id != call_id or proposal.state != "evaluated":
            wrong.append({"id": proposal_id, "state": proposal.state if proposal else None})
    if not wrong:
        return None
    listing = ", ".join(f"{w['id']} ({w['state'] or 'unknown'})" for w in wrong)
    return Refusal(
        "proposals_evaluated", f"not evaluated under call {call_id}: {listing}", {"proposals": wrong}
    )


def create(ctx: Context) -> Outcome:
    """Prepare the decree."""
    return Outcome(changes=dict(ctx.payload), parent_id=ctx.payload["call_id"])


def amend(ctx: Context) -> Outcome:
    """Replace the proposals a draft decree names."""
    return Outcome(changes={"proposal_ids": sorted(set(ctx.payload["proposal_ids"]))})


def approve(ctx: Context) -> Outcome:
    """Approve: the next list version, and each new proposal listed."""
    call_id = ctx.data["call_id"]
    previous = ctx.reader.list_version(call_id)
    kept: set[str] = set()
    if previous is not None:
        for proposal_id in previous.proposal_ids:
            proposal = ctx.reader.get("proposal", proposal_id)
            if proposal is not None and proposal.state in _KEPT:
                kept.add(proposal_id)
    added = sorted(set(ctx.data["proposal_ids"]))
    entries = tuple(sorted(kept | set(added)))
    number = 1 if previous is None else previous.number + 1
    return Outcome(
        changes={"approved_at": to_json(ctx.now), "list_version": number},
        record={"list_version": number, "entries": list(entries), "added": added},
        follow_ups=tuple(
            FollowUp("proposal", pid, "list", {"decree_id": ctx.entity_id}, actor=ctx.actor, role=ctx.role)
            for pid in added
        ),
        list_version=(call_id, number, entries),
    )
