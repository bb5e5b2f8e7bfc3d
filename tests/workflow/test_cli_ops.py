"""The operators' commands, run as operators run them: the installed ``filiere`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.factories import partners

FILIERE = str(Path(sys.executable).parent / "filiere")
CALL_FILE = str(
    Path(__file__).resolve().parents[2] / "workflow" / "examples" / "calls" / "manifestazione-2022.toml"
)
MEASURE_FILE = str(
    Path(__file__).resolve().parents[2] / "workflow" / "examples" / "measures" / "ricerca-e-innova-2023.toml"
)


class Cli:
    """Runs ``filiere`` on one database."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {**os.environ, "FILIERE_DATABASE_URL": f"sqlite:///{folder / 'ops.db'}"}

    def __call__(self, *args: str, now: str | None = None) -> subprocess.CompletedProcess[str]:
        head = ["--now", now] if now else []
        return subprocess.run(
            [FILIERE, *head, *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.folder,
            timeout=120,
            check=False,
        )

    def json(self, *args: str, now: str | None = None) -> Any:
        result = self(*args, "--json", now=now)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture(name="template", scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once: a simulation database with the 2022 call open, one partnership, one draft P-000001."""
    tmp_path = tmp_path_factory.mktemp("template")
    run = Cli(tmp_path)
    assert run("init", "--simulation").returncode == 0
    assert run("load", "call", CALL_FILE, now="2022-02-25T10:00").returncode == 0
    assert (
        run(
            "fire",
            "call",
            "MI-FILIERE-2022",
            "open",
            "--actor",
            "system",
            "--role",
            "system",
            now="2022-03-01T09:00",
        ).returncode
        == 0
    )
    (tmp_path / "partnership.json").write_text(
        json.dumps({"name": "Filiera", "agreement": "Accordo", "partners": partners(10)})
    )
    assert run("register", "partnership.json", "--actor", "capofila.alfa").returncode == 0
    draft = {
        "call_id": "MI-FILIERE-2022",
        "partnership_id": "PT-000001",
        "title": "T",
        "summary": "S",
        "areas": ["a"],
    }
    assert (
        run(
            "create",
            "proposal",
            "--actor",
            "capofila.alfa",
            "--role",
            "applicant",
            "--data",
            json.dumps(draft),
        ).returncode
        == 0
    )
    return tmp_path / "ops.db"


@pytest.fixture(name="cli")
def _cli(template: Path, tmp_path: Path) -> Cli:
    """A copy of the template database (SQLite's backup API: consistent, WAL included)."""
    import sqlite3

    source, target = sqlite3.connect(template), sqlite3.connect(tmp_path / "ops.db")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return Cli(tmp_path)


SUBMIT = ("fire", "proposal", "P-000001", "submit", "--actor", "capofila.alfa", "--role", "applicant")


class TestCommands:
    def test_fire_json_shape(self, cli: Cli) -> None:
        """``fire --json`` prints the event: its fields, hash, and the simulation flag."""
        event = cli.json(*SUBMIT, now="2022-09-10T11:00")
        assert {
            "seq",
            "entity_kind",
            "entity_id",
            "trigger",
            "from_state",
            "to_state",
            "actor",
            "role",
            "occurred_at",
            "effective_at",
            "payload",
            "definition_version",
            "prev_hash",
            "hash",
            "replayed",
            "dry_run",
        } <= set(event)
        assert (event["to_state"], event["simulation"], event["simulated_now"]) == (
            "submitted",
            True,
            "2022-09-10T09:00:00Z",
        )

    def test_human_output_says_simulation(self, cli: Cli) -> None:
        """Every human output of a simulation says so."""
        result = cli(*SUBMIT, now="2022-09-10T11:00")
        assert result.stdout.startswith(
            "[SIMULATION, clock at 2022-09-10 11:00:00 Europe/Rome] submit proposal P-000001"
        )

    def test_dry_run_writes_nothing(self, cli: Cli) -> None:
        """``--dry-run`` reports the event and writes nothing."""
        dry = cli.json(*SUBMIT, "--dry-run", now="2022-09-10T11:00")
        assert dry["dry_run"] is True
        assert cli.json("show", "proposal", "P-000001")["state"] == "draft"

    def test_retry_with_key(self, cli: Cli) -> None:
        """The same key twice: the first event back, marked replayed."""
        first = cli.json(*SUBMIT, "--key", "k1", now="2022-09-10T11:00")
        again = cli.json(*SUBMIT, "--key", "k1")
        assert (again["seq"], again["replayed"]) == (first["seq"], True)

    def test_show_history_status_list(self, cli: Cli) -> None:
        """show, history (JSON lines), status and list answer with their documents."""
        cli.json(*SUBMIT, now="2022-09-10T11:00")
        shown = cli.json("show", "proposal", "P-000001")
        assert (shown["state"], shown["version"], shown["data"]["protocol"]) == (
            "submitted",
            2,
            "MI-FILIERE-2022-000001",
        )
        lines = cli("history", "proposal", "P-000001", "--json").stdout.splitlines()
        assert [json.loads(line)["trigger"] for line in lines] == ["create", "submit"]
        status = cli.json("status", "MI-FILIERE-2022")
        assert (status["state"], status["proposals"], status["deadline"]["at"]) == (
            "open",
            {"submitted": 1},
            "2022-12-31T15:00:00Z",
        )
        assert cli.json("elenco", "MI-FILIERE-2022", "--as-of", "2022-12-01T00:00")["version"] is None

    def test_measure_budget_and_ranking(self, cli: Cli) -> None:
        """``load measure`` and ``measure`` show the budget and the order of applications."""
        assert cli("load", "measure", MEASURE_FILE, now="2023-01-20T10:00").returncode == 0
        document = cli.json("measure", "RICERCA-INNOVA-2023")
        assert (document["budget"], document["remaining"], document["ranking"]) == (
            "27197000.00",
            "27197000.00",
            [],
        )

    def test_scheduler_plan(self, cli: Cli) -> None:
        """``scheduler plan --json`` lists the jobs the database asks for (JSON lines)."""
        jobs = [json.loads(line) for line in cli("scheduler", "plan", "--json").stdout.splitlines()]
        assert [(j["trigger"], j["entity_id"], j["run_at"]) for j in jobs] == [
            ("close", "MI-FILIERE-2022", "2022-12-31T15:00:00.001000Z")
        ]

    def test_init_is_idempotent_and_typed(self, cli: Cli) -> None:
        """``init --json`` on an existing database reports its schema and simulation flag."""
        assert cli.json("init") == {
            "database": cli.env["FILIERE_DATABASE_URL"],
            "schema": "0005",
            "simulation": True,
        }


class TestExitCodes:
    @pytest.mark.parametrize(
        ("args", "code", "words"),
        [
            (("show", "proposal", "P-999999"), 3, "no proposal P-999999"),
            (
                (
                    "fire",
                    "proposal",
                    "P-000001",
                    "evaluate",
                    "--actor",
                    "e",
                    "--role",
                    "evaluator",
                    "--data",
                    '{"scores": {}}',
                ),
                4,
                "can't evaluate",
            ),
            (
                (*SUBMIT[:4], "--actor", "capofila.alfa", "--role", "operator"),
                6,
                "role operator may not submit",
            ),
            (
                ("fire", "proposal", "P-000001", "submit", "--actor", "someone", "--role", "applicant"),
                5,
                "refused by guard owner",
            ),
            ((*SUBMIT, "--expect-version", "9"), 7, "is at version 1, not 9"),
            ((*SUBMIT, "--data", "{not json"), 8, "invalid input: data"),
            (("load", "call", "/nonexistent.toml"), 16, "cannot use /nonexistent.toml: no such file"),
        ],
        ids=[
            "not-found",
            "not-allowed-in-state",
            "forbidden-role",
            "guard-refused",
            "conflict",
            "invalid-input",
            "missing-file",
        ],
    )
    def test_error_classes(self, cli: Cli, args: tuple[str, ...], code: int, words: str) -> None:
        """Each error class exits with its own code and one line on stderr, nothing on stdout."""
        result = cli(*args)
        assert result.returncode == code, result.stderr
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1
        assert words in result.stderr

    def test_database_unavailable(self, tmp_path: Path) -> None:
        """An unreachable database exits 10."""
        result = subprocess.run(
            [FILIERE, "--db", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2", "status", "X"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 10
        assert "database unavailable" in result.stderr

    def test_clock_only_in_simulations(self, tmp_path: Path) -> None:
        """``--now`` on a real database is a configuration error (exit 9)."""
        real = Cli(tmp_path)
        assert real("init").returncode == 0
        result = real("status", "X", now="2022-01-01T00:00")
        assert result.returncode == 9
        assert "not a simulation" in result.stderr

    def test_debug_shows_the_traceback(self, cli: Cli) -> None:
        """Tracebacks only with --debug."""
        assert "Traceback" not in cli("show", "proposal", "nope").stderr
        assert "Traceback" in cli("--debug", "show", "proposal", "nope").stderr


class TestBatch:
    def test_batch_goes_on_and_reruns_idempotently(self, cli: Cli) -> None:
        """A batch reports every line, goes past bad ones, exits 15; re-run with keys, it changes nothing."""
        lines = [
            {
                "kind": "proposal",
                "id": "P-000001",
                "trigger": "submit",
                "actor": "capofila.alfa",
                "role": "applicant",
                "key": "b1",
            },
            "not json",
            {
                "kind": "proposal",
                "id": "P-000001",
                "trigger": "withdraw",
                "actor": "intruder",
                "role": "applicant",
                "key": "b2",
            },
        ]
        (cli.folder / "b.jsonl").write_text(
            "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n"
        )
        first = cli("batch", "b.jsonl", "--json", now="2022-09-10T11:00")
        results = [json.loads(line) for line in first.stdout.splitlines()]
        assert first.returncode == 15
        assert [(r["line"], r["ok"], r.get("type")) for r in results] == [
            (1, True, None),
            (2, False, "InvalidInput"),
            (3, False, "GuardRefused"),
        ]
        events = cli("history", "proposal", "P-000001", "--json").stdout.count("\n")
        again = [json.loads(line) for line in cli("batch", "b.jsonl", "--json").stdout.splitlines()]
        assert again[0]["replayed"] is True
        assert cli("history", "proposal", "P-000001", "--json").stdout.count("\n") == events

    def test_batch_dry_run(self, cli: Cli) -> None:
        """``batch --dry-run`` checks every line and writes nothing."""
        line = {
            "kind": "proposal",
            "id": "P-000001",
            "trigger": "submit",
            "actor": "capofila.alfa",
            "role": "applicant",
        }
        (cli.folder / "d.jsonl").write_text(json.dumps(line) + "\n")
        result = cli("batch", "d.jsonl", "--dry-run", "--json", now="2022-09-10T11:00")
        assert result.returncode == 0
        assert json.loads(result.stdout)["dry_run"] is True
        assert cli.json("show", "proposal", "P-000001")["state"] == "draft"


class TestConcurrency:
    def test_two_fire_processes_at_once(self, cli: Cli) -> None:
        """Two ``filiere fire`` at once on one SQLite file: both finish; one wins, one gets a conflict."""
        cli("status", "MI-FILIERE-2022", now="2022-09-10T11:00")
        procs = [
            subprocess.Popen(
                [FILIERE, *SUBMIT, "--expect-version", "1"],
                env=cli.env,
                cwd=cli.folder,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        outcomes = []
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            outcomes.append((proc.returncode, err))
        codes = sorted(code for code, _ in outcomes)
        assert codes in ([0, 7], [0, 4])
        assert all("database is locked" not in err for _, err in outcomes)
