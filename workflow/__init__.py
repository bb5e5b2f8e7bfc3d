"""Filiere's engine: fire transitions, read state, audit the log.

The public surface is ``__all__`` (pinned by ``tests/test_exports.py``)::

    from workflow import Engine, SimulatedClock
    engine = Engine("sqlite:///filiere.db")
    event = engine.fire("proposal", "P-000001", "submit", actor="capofila.alfa", role="applicant")

Names load lazily (PEP 562) so that the ``filiere`` command, which lives in
this package, starts without importing SQLAlchemy for ``--help``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handlers.base import ListVersion, Snapshot
    from workflow.audit.verify import ChainReport, verify_chain
    from workflow.clock import Clock, SimulatedClock, SystemClock
    from workflow.config import example_call_path, read_call_file
    from workflow.engine import Engine
    from workflow.errors import (
        AlreadyRunning,
        ConfigurationError,
        ConflictError,
        DatabaseError,
        DatabaseUnavailable,
        FiliereError,
        ForbiddenRole,
        GuardRefused,
        HandlerError,
        IdempotencyMismatch,
        InvalidDefinition,
        InvalidInput,
        NotFound,
        TransitionNotAllowed,
        VersionConflict,
    )
    from workflow.store.eventlog import StoredEvent as Event

_WHERE = {
    "Engine": "workflow.engine",
    "AlreadyExists": "workflow.errors",
    "Event": "workflow.store.eventlog:StoredEvent",
    "Snapshot": "handlers.base",
    "ListVersion": "handlers.base",
    "Clock": "workflow.clock",
    "SystemClock": "workflow.clock",
    "SimulatedClock": "workflow.clock",
    "ChainReport": "workflow.audit.verify",
    "verify_chain": "workflow.audit.verify",
    "read_call_file": "workflow.config",
    "example_call_path": "workflow.config",
    **dict.fromkeys(
        (
            "AlreadyRunning",
            "ConfigurationError",
            "ConflictError",
            "DatabaseError",
            "DatabaseUnavailable",
            "FiliereError",
            "ForbiddenRole",
            "GuardRefused",
            "HandlerError",
            "IdempotencyMismatch",
            "InvalidDefinition",
            "InvalidInput",
            "NotFound",
            "TransitionNotAllowed",
            "VersionConflict",
        ),
        "workflow.errors",
    ),
}

__all__ = [
    # the engine
    "Engine",
    "Event",
    "Snapshot",
    "ListVersion",
    # time
    "Clock",
    "SimulatedClock",
    "SystemClock",
    # configuration
    "example_call_path",
    "read_call_file",
    # audit
    "ChainReport",
    "verify_chain",
    # errors
    "FiliereError",
    "AlreadyExists",
    "AlreadyRunning",
    "ConfigurationError",
    "ConflictError",
    "DatabaseError",
    "DatabaseUnavailable",
    "ForbiddenRole",
    "GuardRefused",
    "HandlerError",
    "IdempotencyMismatch",
    "InvalidDefinition",
    "InvalidInput",
    "NotFound",
    "TransitionNotAllowed",
    "VersionConflict",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'workflow' has no attribute {name!r}")
    module, _, attribute = where.partition(":")
    value = getattr(import_module(module), attribute or name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
