"""Domain handlers: plain functions named after the transitions they serve.

One module per machine of ``states`` (``handlers.proposal`` serves
``states.proposal``). In each module a function named like a trigger handles
it, ``guard_<name>`` implements a guard, and ``PAYLOADS`` maps each trigger to
its payload model. Nothing here touches the database, the clock or the logger.
"""

from __future__ import annotations

from types import ModuleType

from handlers import application, call, decree, evaluator, measure, partnership, project, proposal
from handlers.base import (
    Context,
    DomainError,
    FollowUp,
    InvalidPayload,
    ListVersion,
    Outcome,
    Reader,
    Refusal,
    Snapshot,
)

#: The handler module of each machine, by machine name.
MODULES: dict[str, ModuleType] = {
    "application": application,
    "call": call,
    "decree": decree,
    "evaluator": evaluator,
    "measure": measure,
    "partnership": partnership,
    "project": project,
    "proposal": proposal,
}

__all__ = [
    "MODULES",
    "Context",
    "DomainError",
    "FollowUp",
    "InvalidPayload",
    "ListVersion",
    "Outcome",
    "Reader",
    "Refusal",
    "Snapshot",
]
