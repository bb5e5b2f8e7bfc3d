"""An integrator's whole call through the public API only: both phases, the scheduler, replay, as-of.

This file may import ``workflow`` and ``scheduler`` and nothing under them:
``test_only_public_names_are_imported`` reads this file's own imports.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from stdnum import luhn

import workflow
from scheduler import run_until
from workflow import (
    AsOf,
    Budget,
    DatabaseUnavailable,
    Engine,
    InvalidInput,
    NotFound,
    ReplayReport,
    SimulatedClock,
    example_call_path,
    example_measure_path,
    read_call_file,
    read_measure_file,
)

ROME = ZoneInfo("Europe/Rome")
CALL, MEASURE = "MI-FILIERE-2022", "FILIERE-2022"
SCORES_PHASE_1 = {"coherence": 18, "partnership": 30, "innovation": 24, "impact": 16}
SCORES_PHASE_2 = {
    "coherence": 9,
    "innovativeness": 16,
    "measurability": 15,
    "representativeness": 10,
    "investments": 15,
    "employment": 10,
}


def rome(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=ROME)  # type: ignore[misc, arg-type]


def companies(first: int, count: int = 10) -> list[dict[str, object]]:
    """``count`` Lombard SMEs with valid partite IVA, the first one the capofila."""
    members = []
    for n in range(first, first + count):
        body = f"{n:07d}015"
        members.append(
            {
                "tax_code": body + luhn.calc_check_digit(body),
                "name": f"Impresa {n} S.r.l.",
                "lombardy_seat": True,
                "capofila": n == first,
                "size": "sme",
            }
        )
    return members


def test_only_public_names_are_imported() -> None:
    """Nothing below ``workflow`` or ``scheduler`` is imported here: the public API is enough."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    ours = {m for m in modules if m.split(".")[0] in ("workflow", "scheduler", "handlers", "states", "tests")}
    assert ours == {"workflow", "scheduler"}


def test_version() -> None:
    """``workflow.__version__`` and ``filiere --version`` both say the installed distribution's version."""
    assert workflow.__version__ == version("filiere")
    filiere = Path(sys.executable).parent / "filiere"
    out = subprocess.run([filiere, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"filiere {version('filiere')}"


def test_a_whole_call_through_both_phases(tmp_path: Path) -> None:
    clock = SimulatedClock(rome(2022, 2, 25, 10))
    with Engine(f"sqlite:///{tmp_path / 'filiere.db'}", clock=clock) as engine:
        # Configuration: the call, an evaluator, the Phase-2 measure.
        engine.create(
            "call",
            actor="op.rossi",
            role="operator",
            payload=read_call_file(example_call_path("manifestazione-2022")),
        )
        engine.create(
            "evaluator",
            actor="op.rossi",
            role="operator",
            entity_id="eval.neri",
            payload={"name": "Luca Neri", "ties": []},
        )
        measure = read_measure_file(example_measure_path("bando-filiere-2022"))
        engine.create("measure", actor="op.rossi", role="operator", payload=measure)

        # The scheduler opens the call at its opening, on the simulated clock.
        opened = run_until(engine, rome(2022, 3, 1, 10))
        assert [(e.entity_id, e.trigger, e.occurred_at) for e in opened] == [
            (CALL, "open", rome(2022, 3, 1, 9))
        ]
        assert clock.now() == rome(2022, 3, 1, 10)

        # Phase 1: a partnership, two drafts, one submitted, evaluated and listed by a decree.
        partnership = engine.create(
            "partnership",
            actor="capofila.alfa",
            role="applicant",
            payload={"name": "Filiera alfa", "agreement": "Accordo di progetto", "partners": companies(100)},
        ).entity_id
        draft = {
            "call_id": CALL,
            "partnership_id": partnership,
            "title": "Filiera",
            "summary": "…",
            "areas": ["a", "b"],
        }
        listed = engine.create("proposal", actor="capofila.alfa", role="applicant", payload=draft).entity_id
        left = engine.create("proposal", actor="capofila.alfa", role="applicant", payload=draft).entity_id
        clock.set(rome(2022, 3, 10, 11))
        engine.fire("proposal", listed, "submit", actor="capofila.alfa", role="applicant")
        clock.set(rome(2022, 4, 1, 10))
        engine.fire(
            "proposal",
            listed,
            "evaluate",
            actor="eval.neri",
            role="evaluator",
            payload={"scores": SCORES_PHASE_1},
        )
        clock.set(rome(2022, 4, 15, 12))
        decree = engine.create(
            "decree",
            actor="dir.verdi",
            role="director",
            payload={"call_id": CALL, "act": "d.d.u.o. n. 1", "proposal_ids": [listed]},
        ).entity_id
        engine.fire("decree", decree, "approve", actor="dir.verdi", role="director")
        assert engine.get("proposal", listed).state == "listed"

        # Phase 2: the window opens and closes by the scheduler; one application, funded.
        assert [e.trigger for e in run_until(engine, rome(2022, 9, 5, 12))] == ["open"]
        team = [{**m, "main": "80000.00", "experimental": "0.00"} for m in companies(200)]
        application = engine.create(
            "application",
            actor="capofila.alfa",
            role="applicant",
            payload={
                "measure_id": MEASURE,
                "title": "Digital twin",
                "duration_months": 18,
                "partners": team,
                "proposal_id": listed,
            },
        ).entity_id
        engine.fire("application", application, "submit", actor="capofila.alfa", role="applicant")
        closed = run_until(engine, rome(2022, 10, 20))
        assert [(e.entity_id, e.trigger) for e in closed] == [(MEASURE, "close")]
        clock.set(rome(2022, 11, 15, 10))
        engine.fire(
            "application",
            application,
            "evaluate",
            actor="eval.neri",
            role="evaluator",
            payload={"scores": SCORES_PHASE_2},
        )
        clock.set(rome(2022, 12, 1, 10))
        engine.fire("application", application, "fund", actor="dir.verdi", role="director")
        granted = Decimal(engine.get("application", application).data["aid"]["base"])
        assert engine.budget(MEASURE) == Budget(
            MEASURE, "closed", Decimal(measure["budget"]), granted, Decimal(measure["budget"]) - granted
        )

        # To the end: each extension moves the close job; the last close expires the draft left.
        ended = run_until(engine, rome(2028, 1, 1))
        assert [(e.entity_id, e.trigger, e.effective_at) for e in ended] == [
            (CALL, "close", rome(2027, 12, 31, 16)),
            (left, "expire", rome(2027, 12, 31, 16)),
        ]
        assert engine.get("proposal", left).state == "expired"
        assert engine.get("proposal", listed).state == "funded"

        # The past, rebuilt from the log, as typed values.
        before_decree, after_funding = engine.as_of(rome(2022, 4, 15, 11)), engine.as_of(rome(2022, 12, 2))
        assert isinstance(before_decree, AsOf)
        assert before_decree.entity("proposal", listed).state == "evaluated"
        assert before_decree.list_of(CALL) is None
        assert before_decree.budget(MEASURE).reserved == Decimal("0.00")
        assert after_funding.entity("proposal", listed).state == "funded"
        assert after_funding.list_of(CALL) == engine.list_as_of(CALL, rome(2022, 12, 2))
        assert after_funding.budget(MEASURE).reserved == granted
        with pytest.raises(NotFound):
            before_decree.entity("application", application)

        report = engine.replay()
        assert isinstance(report, ReplayReport)
        last = list(engine.events())[-1]
        assert (report.ok, report.events, report.last_seq) == (True, last.seq, last.seq)
        assert report.states[("proposal", left)] == ("expired", engine.get("proposal", left).version)
        assert engine.replay(as_of=rome(2022, 4, 15, 11)).states[("proposal", listed)][0] == "evaluated"

        with pytest.raises(InvalidInput):
            run_until(engine, rome(2027, 1, 1))  # a simulation's clock only moves forward
    assert engine.closed
    with pytest.raises(DatabaseUnavailable, match="closed"):
        engine.get("proposal", listed)
