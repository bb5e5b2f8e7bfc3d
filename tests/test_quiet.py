"""Embedded, Filiere writes nothing to stdout or stderr; a host that configures logging gets its lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

#: Fires transitions, a refusal, a scheduler run and a replay, as an embedding program would.
SCRIPT = """
import sys
from datetime import datetime
from zoneinfo import ZoneInfo

from scheduler import run_until
from workflow import Engine, GuardRefused, SimulatedClock, example_call_path, read_call_file

{setup}
rome = ZoneInfo("Europe/Rome")
clock = SimulatedClock(datetime(2022, 2, 25, tzinfo=rome))
with Engine(sys.argv[1], clock=clock) as engine:
    call = read_call_file(example_call_path("manifestazione-2022"))
    engine.create("call", actor="op.rossi", role="operator", payload=call)
    run_until(engine, datetime(2022, 3, 2, tzinfo=rome))
    try:
        engine.fire("call", "MI-FILIERE-2022", "close", actor="system", role="system")
    except GuardRefused:
        pass
    run_until(engine, datetime(2028, 1, 1, tzinfo=rome))
    assert engine.replay().ok
"""


def run(tmp_path: Path, setup: str = "") -> subprocess.CompletedProcess[str]:
    script = tmp_path / "embed.py"
    script.write_text(SCRIPT.format(setup=setup), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'filiere.db'}"
    return subprocess.run([sys.executable, script, url], capture_output=True, text=True, check=True)


def test_embedded_engine_prints_nothing(tmp_path: Path) -> None:
    done = run(tmp_path)
    assert (done.stdout, done.stderr) == ("", "")


def test_a_host_that_configures_logging_gets_the_lines(tmp_path: Path) -> None:
    """stdlib logging configured by the host: the transitions and the scheduler's jobs, under filiere.*."""
    done = run(
        tmp_path, "import logging; logging.basicConfig(level=logging.INFO, format='%(name)s %(message)s')"
    )
    assert done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if line.startswith("filiere.")]
    assert lines[0].startswith("filiere.transition transition kind='call' id='MI-FILIERE-2022'")
    assert any(line.startswith("filiere.scheduler job refused by the engine") for line in lines)
    assert any("trigger='close'" in line for line in lines)


def test_serve_says_where_it_listens_and_logs_each_request(tmp_path: Path) -> None:
    """``filiere serve`` prints its address once bound (port 0 too), then logs one INFO line a request."""
    import json
    import urllib.error
    import urllib.request

    filiere = Path(sys.executable).parent / "filiere"
    url = f"sqlite:///{tmp_path / 'filiere.db'}"
    subprocess.run([filiere, "--db", url, "init"], check=True, capture_output=True)
    server = subprocess.Popen(
        [filiere, "--db", url, "--log-json", "serve", "--port", "0", "--no-webhooks"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert first.startswith("listening on http://127.0.0.1:")
        address = first.split()[2]
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(f"{address}/v1/events", timeout=30)
    finally:
        server.terminate()
        _, err = server.communicate(timeout=30)
    requests = [json.loads(line) for line in err.splitlines() if '"request"' in line]
    assert [(r["level"], r["method"], r["path"], r["status"]) for r in requests] == [
        ("info", "GET", "/v1/events", 401)
    ]
