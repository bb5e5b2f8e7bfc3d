"""The public surfaces are deliberate: pinned here so changes are seen in review."""

from __future__ import annotations

import subprocess
import sys

import handlers
import states
import workflow


def test_workflow_exports() -> None:
    """``workflow.__all__`` is the documented API, and every name resolves."""
    assert sorted(workflow.__all__) == sorted(
        [
            "AlreadyExists",
            "AlreadyRunning",
            "AsOf",
            "Budget",
            "ChainReport",
            "Clock",
            "ConfigurationError",
            "ConflictError",
            "DatabaseError",
            "DatabaseUnavailable",
            "Engine",
            "Event",
            "FiliereError",
            "ForbiddenRole",
            "GuardRefused",
            "HandlerError",
            "IdempotencyMismatch",
            "InvalidDefinition",
            "InvalidInput",
            "ListVersion",
            "NotFound",
            "Problem",
            "ReplayReport",
            "SimulatedClock",
            "Snapshot",
            "SystemClock",
            "TransitionNotAllowed",
            "VersionConflict",
            "example_call_path",
            "example_measure_path",
            "get_logger",
            "read_call_file",
            "read_measure_file",
            "verify_chain",
        ]
    )
    for name in workflow.__all__:
        assert getattr(workflow, name) is not None


def test_states_and_handlers_exports() -> None:
    """``states`` and ``handlers`` export their definitions and building blocks."""
    assert set(states.__all__) >= {
        "DEFINITIONS",
        "MachineDefinition",
        "Transition",
        "PROPOSAL",
        "CALL",
        "DECREE",
    }
    assert set(handlers.__all__) >= {"MODULES", "Context", "Outcome", "Refusal", "Snapshot"}
    assert set(states.DEFINITIONS) == set(handlers.MODULES)


def test_importing_workflow_is_light() -> None:
    """``import workflow`` (and so the CLI's --help) does not import SQLAlchemy."""
    code = "import sys, workflow, workflow.cli.main; print('sqlalchemy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_scheduler_exports() -> None:
    """``scheduler`` exports the service, its plan and the simulation's ``run_until``."""
    import scheduler

    assert sorted(scheduler.__all__) == ["Job", "SchedulerService", "plan", "run_until"]
