"""Fuzzing the CLI's argument and payload parsing in-process (issue 13's acceptance, CLI half).

``workflow.cli.main(argv)`` runs with generated command lines and payloads on a real
SQLite file. Whatever comes in: no traceback, an exit code from the documented table and never
the "unexpected error" one, and the chain verifies afterwards.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import workflow.logconfig
from tests.factories import partners
from tests.workflow.test_cli_ops import CALL_FILE
from workflow.cli import main
from workflow.cli.exits import EXIT_CODES


def call(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(name="db", scope="module")
def _db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database with an open call, a partnership and a draft; structlog put back afterwards."""
    saved = structlog.get_config()
    folder = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'fuzz.db'}"
    assert call(["--db", url, "init"])[0] == 0
    assert call(["--db", url, "load", "call", CALL_FILE])[0] == 0
    setup = [
        {"kind": "partnership", "trigger": "create", "actor": "capofila.alfa", "role": "applicant"},
        {"kind": "proposal", "trigger": "create", "actor": "capofila.alfa", "role": "applicant"},
    ]
    setup[0]["data"] = {"name": "Filiera", "agreement": "Accordo", "partners": partners(10)}
    setup[1]["data"] = {
        "call_id": "MI-FILIERE-2022",
        "partnership_id": "PT-000001",
        "title": "T",
        "summary": "S",
        "areas": ["a"],
    }
    (folder / "setup.jsonl").write_text("".join(json.dumps(line) + "\n" for line in setup))
    call(["--db", url, "batch", str(folder / "setup.jsonl")])
    yield url
    structlog.configure(**saved)
    workflow.logconfig._transition_lines = True


KINDS = st.sampled_from(["proposal", "call", "partnership", "decree", "evaluator", "measure", "x", ""])
IDS = st.one_of(
    st.sampled_from(["P-000001", "PT-000001", "MI-FILIERE-2022", "P-999999"]), st.text(max_size=12)
)
TRIGGERS = st.sampled_from(["submit", "withdraw", "create", "open", "close", "evaluate", "list", "nope"])
ROLES = st.sampled_from(["applicant", "operator", "evaluator", "director", "system", "auditor", "capo"])
TEXT = st.text(max_size=20)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
PAYLOADS = st.one_of(
    JSON_VALUES.map(lambda v: json.dumps(v, allow_nan=True)),
    st.dictionaries(
        st.sampled_from(["reason", "title", "call_id", "partnership_id", "areas", "scores", "id"]),
        JSON_VALUES,
        max_size=4,
    ).map(json.dumps),
    st.sampled_from(
        ['{"reason": 1e999999}', '{"a": NaN}', "[" * 5000, '{"x": 1' + "0" * 5000 + "}", "@", "@/"]
    ),
    TEXT,
)
OPTIONS = st.sampled_from(["--json", "--debug", "--log-json", "--limit", "--state", "--key", "--as-of", "--"])


@st.composite
def command_lines(draw: Any) -> list[str]:
    """A command line shaped like a real one, with every part liable to be wrong."""
    actor = ["--actor", draw(st.one_of(st.just("capofila.alfa"), TEXT))]
    role = ["--role", draw(ROLES)]
    data = ["--data", draw(PAYLOADS)] if draw(st.booleans()) else []
    shapes = [
        ["show", draw(KINDS), draw(IDS)],
        ["history", draw(KINDS), draw(IDS)],
        ["fire", draw(KINDS), draw(IDS), draw(TRIGGERS), *actor, *role, *data],
        ["fire", "proposal", "P-000001", draw(TRIGGERS), *actor, *role, *data, "--dry-run"],
        ["create", draw(KINDS), *actor, *role, *data],
        ["list", draw(KINDS), "--state", draw(TEXT), "--limit", draw(st.sampled_from(["0", "1", "x"]))],
        ["elenco", draw(IDS), "--as-of", draw(st.sampled_from(["2022-13-01", "0001-01-01T00:00", "x"]))],
        ["status", draw(IDS)],
        ["audit", "as-of", draw(st.sampled_from(["9999-12-31T23:59", "2022-06-01", "", "1e9"]))],
        ["apikey", "create", *actor, *role],
        ["exit-codes"],
        ["diagram", draw(KINDS)],
    ]
    line = draw(st.sampled_from(shapes))
    extra = draw(st.one_of(st.just([]), st.lists(st.one_of(OPTIONS, TEXT), max_size=2)))
    position = draw(st.integers(0, len(line)))
    return [*line[:position], *extra, *line[position:]]


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=command_lines())
def test_no_traceback_and_a_documented_code(db: str, argv: list[str]) -> None:
    code, _, err = call(["--db", db, *argv])
    assert code in set(EXIT_CODES.values()) - {EXIT_CODES["unexpected error"]}, (argv, err)
    assert "Traceback" not in err or "--debug" in argv, (argv, err)
    if code != 0:
        assert err.strip(), argv


def test_the_chain_verifies_after_the_fuzzing(db: str, tmp_path: Path) -> None:
    """Run after the fuzz test (same module, file order): whatever it fired, the log is intact."""
    code, out, err = call(["--db", db, "audit", "verify", "--json"])
    assert code == 0, err
    assert json.loads(out)["ok"] is True


class TestCatchAll:
    """Anything unexpected: one line ``error: …``, exit 1; the traceback only with --debug."""

    @pytest.fixture(autouse=True)
    def _boom(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from workflow.engine import Engine

        def boom(*_args: Any, **_kwargs: Any) -> None:
            raise RuntimeError("boom\non two lines")

        monkeypatch.setattr(Engine, "get", boom)

    def test_one_line_and_exit_1(self, db: str) -> None:
        code, out, err = call(["--db", db, "show", "proposal", "P-000001"])
        assert (code, out, err) == (1, "", "error: RuntimeError: boom on two lines\n")

    def test_json(self, db: str) -> None:
        code, _, err = call(["show", "proposal", "P-000001", "--json", "--db", db])
        assert code == 1
        assert json.loads(err) == {
            "ok": False,
            "type": "UnexpectedError",
            "message": "RuntimeError: boom on two lines",
            "field": None,
            "exit_code": 1,
        }

    def test_traceback_with_debug(self, db: str) -> None:
        code, _, err = call(["--db", db, "--debug", "show", "proposal", "P-000001"])
        assert code == 1
        assert err.startswith("Traceback")
        assert err.endswith("error: RuntimeError: boom on two lines\n")
