"""One SQLite database, one scheduler: whatever path names the database, it names one lock."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler.leader import FileLeader
from scheduler.service import SchedulerService
from workflow import AlreadyRunning, Engine
from workflow.clock import SystemClock

FILIERE = str(Path(sys.executable).parent / "filiere")


@pytest.fixture(name="leading")
def _leading(db_path: Path) -> Iterator[SchedulerService]:
    """A scheduler leading the database at its real path."""
    engine = Engine(f"sqlite:///{db_path}", clock=SystemClock())
    service = SchedulerService(engine)
    service.start(wait_for_lead=False)
    try:
        yield service
    finally:
        service.stop()
        engine.db.dispose()


def test_a_symlinked_path_is_the_same_lock(leading: SchedulerService, db_path: Path, tmp_path: Path) -> None:
    """A second scheduler reached through a symlink (in another folder) refuses, in-process and by the CLI."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = elsewhere / "link.db"
    link.symlink_to(db_path)
    other = Engine(f"sqlite:///{link}", clock=SystemClock())
    try:
        with pytest.raises(AlreadyRunning, match=f"held by process {os.getpid()}"):
            SchedulerService(other).start(wait_for_lead=False)
    finally:
        other.db.dispose()
    result = subprocess.run(
        [FILIERE, "--db", f"sqlite:///{link}", "scheduler", "run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 13, result.stderr
    assert "another scheduler is running" in result.stderr
    assert not (elsewhere / "link.db.scheduler.lock").exists()


@pytest.mark.parametrize("spelling", ["{name}", "./{name}", "{absolute}", "sub/../{name}"])
def test_every_spelling_of_a_path_is_the_same_lock(
    leading: SchedulerService, db_path: Path, spelling: str
) -> None:
    """Relative, dotted, absolute and ``..`` spellings of the database all collide with the leader."""
    (db_path.parent / "sub").mkdir(exist_ok=True)
    path = spelling.format(name=db_path.name, absolute=db_path)
    result = subprocess.run(
        [FILIERE, "--db", f"sqlite:///{path}", "scheduler", "run"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=db_path.parent,
    )
    assert result.returncode == 13, result.stderr


def test_the_lock_file_sits_beside_the_real_database(db_path: Path, tmp_path: Path) -> None:
    """The lock is named after the resolved file, so a symlink's folder gets no lock of its own."""
    link = tmp_path / "alias.db"
    link.symlink_to(db_path)
    assert FileLeader(str(link)).path == FileLeader(str(db_path)).path == Path(f"{db_path}.scheduler.lock")
