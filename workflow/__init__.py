"""Filiere's engine: fire transitions, read state, audit the log.

The public surface is ``__all__`` (pinned by ``tests/test_exports.py``)::

    from workflow import Engine, SimulatedClock
    engine = Engine("sqlite:///filiere.db")
    event = engine.fire("proposal", "P-000001", "submit", actor="capofila.alfa", role="applicant")

``workflow.__version__`` is the installed distribution's version. Names load
lazily (PEP 562) so that the ``filiere`` command, which lives in this
package, starts without importing SQLAlchemy for ``--help``.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handlers.base import ListVersion, Snapshot
    from workflow.audit.replay import Problem
    from workflow.audit.verify import ChainReport, verify_chain
    from workflow.clock import Clock, SimulatedClock, SystemClock
    from workflow.config import example_call_path, example_measure_path, read_call_file, read_measure_file
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
    from workflow.logconfig import get_logger
    from workflow.results import AsOf, Budget, ReplayReport
    from workflow.store.eventlog import StoredEvent as Event

    __version__: str

_WHERE = {
    "Engine": "workflow.engine",
    "AlreadyExists": "workflow.errors",
    "Event": "workflow.store.eventlog:StoredEvent",
    "Snapshot": "handlers.base",
    "ListVersion": "handlers.base",
    "Clock": "workflow.clock",
    "SystemClock": "workflow.clock",
    "SimulatedClock": "workflow.clock",
    "Budget": "workflow.results",
    "AsOf": "workflow.results",
    "ReplayReport": "workflow.results",
    "Problem": "workflow.audit.replay",
    "ChainReport": "workflow.audit.verify",
    "verify_chain": "workflow.audit.verify",
    "read_call_file": "workflow.config",
    "example_call_path": "workflow.config",
    "read_measure_file": "workflow.config",
    "example_measure_path": "workflow.config",
    "get_logger": "workflow.logconfig",
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
    "Budget",
    # reading the past
    "AsOf",
    "ReplayReport",
    "Problem",
    # time
    "Clock",
    "SimulatedClock",
    "SystemClock",
    # configuration
    "example_call_path",
    "example_measure_path",
    "read_call_file",
    "read_measure_file",
    # audit
    "ChainReport",
    "verify_chain",
    # logging (quiet until the host or the CLI configures it)
    "get_logger",
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
    if name == "__version__":
        globals()[name] = _installed_version()
        return globals()[name]
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'workflow' has no attribute {name!r}")
    module, _, attribute = where.partition(":")
    value = getattr(import_module(module), attribute or name)
    globals()[name] = value
    return value


def _installed_version() -> str:
    """The installed distribution's version (``pip install`` decides it, not a copy in the source)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("filiere")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def __dir__() -> list[str]:
    return sorted(__all__)
