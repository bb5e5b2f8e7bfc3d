"""The CLI's doors: databases it refuses, options anywhere, one exit code per mistake, JSON errors.

Run as operators run it: the installed ``filiere`` in a subprocess (issues 13 and 14).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.factories import partners
from tests.workflow.test_cli_ops import CALL_FILE, FILIERE, SUBMIT, Cli
from workflow.cli.exits import EXIT_CODES, TABLE, markdown_table

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operators.md"


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The error: exactly one line on stderr, no traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Any:
    return subprocess.run(
        [FILIERE, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


@pytest.fixture(name="cli")
def _cli(template: Path, tmp_path: Path) -> Cli:
    source, target = sqlite3.connect(template), sqlite3.connect(tmp_path / "ops.db")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return Cli(tmp_path)


@pytest.fixture(name="template", scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulation with the 2022 call open, one partnership and one draft P-000001 (one batch run)."""
    folder = tmp_path_factory.mktemp("doors")
    cli = Cli(folder)
    assert cli("init", "--simulation").returncode == 0
    assert cli("load", "call", CALL_FILE, now="2022-02-25T10:00").returncode == 0
    lines = [
        {"kind": "call", "id": "MI-FILIERE-2022", "trigger": "open", "actor": "system", "role": "system"},
        {
            "kind": "partnership",
            "trigger": "create",
            "actor": "capofila.alfa",
            "role": "applicant",
            "data": {"name": "Filiera", "agreement": "Accordo", "partners": partners(10)},
        },
        {
            "kind": "proposal",
            "trigger": "create",
            "actor": "capofila.alfa",
            "role": "applicant",
            "data": {
                "call_id": "MI-FILIERE-2022",
                "partnership_id": "PT-000001",
                "title": "T",
                "summary": "S",
                "areas": ["a"],
            },
        },
    ]
    (folder / "setup.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = cli("batch", "setup.jsonl", now="2022-03-01T09:00")
    assert result.returncode == 0, result.stdout + result.stderr
    return folder / "ops.db"


class TestDatabases:
    @pytest.mark.parametrize(
        "args",
        [
            ("status", "X"),
            ("show", "proposal", "P-000001"),
            ("list", "proposal"),
            (*SUBMIT,),
            ("audit", "verify"),
            ("scheduler", "plan"),
            ("apikey", "list"),
        ],
        ids=lambda a: "-".join(a[:2]),
    )
    def test_a_mistyped_sqlite_path_is_refused(self, tmp_path: Path, args: tuple[str]) -> None:
        """Every command but init and demo: one line naming the path and `filiere init`, exit 10, no file."""
        missing = tmp_path / "typo.db"
        result = run("--db", str(missing), *args, cwd=tmp_path)
        assert result.returncode == EXIT_CODES["database unavailable"]
        line = one_line(result)
        assert str(missing) in line
        assert "filiere init" in line
        assert not missing.exists()
        assert list(tmp_path.iterdir()) == []

    def test_init_creates_it(self, tmp_path: Path) -> None:
        target = tmp_path / "new.db"
        assert run("--db", str(target), "init").returncode == 0
        assert target.exists()
        assert run("--db", str(target), "list", "call").returncode == 0

    @pytest.mark.parametrize(
        ("url", "code", "words"),
        [
            ("/etc/passwd", 10, "/etc/passwd is not a SQLite database"),
            ("mysql://root@localhost/filiere", 9, "unsupported scheme 'mysql'"),
            ("oracle://x", 9, "unsupported scheme 'oracle'"),
            ("/", 10, "is a folder"),
            ("sqlite://", 10, "in-memory SQLite is not supported"),
        ],
    )
    def test_urls_filiere_cannot_use(self, url: str, code: int, words: str) -> None:
        for command in (("status", "X"), ("init",)):
            result = run("--db", url, *command)
            assert result.returncode == code, result.stderr
            assert words in one_line(result)

    def test_postgresql_without_its_driver(self, tmp_path: Path) -> None:
        """The driver made unimportable: one line naming the extra, exit 10 (database unavailable)."""
        code = (
            "import sys; sys.modules['psycopg'] = None\n"
            "from workflow.cli import main\n"
            "sys.exit(main(['--db', 'postgresql://postgres@127.0.0.1:5432/test', 'status', 'X']))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == EXIT_CODES["database unavailable"]
        assert "pip install 'filiere[postgres]'" in one_line(result)

    def test_the_postgres_extra_names_the_driver(self) -> None:
        import tomllib

        project = tomllib.loads((DOCS.parents[1] / "pyproject.toml").read_text())["project"]
        assert any(d.startswith("psycopg[binary]") for d in project["optional-dependencies"]["postgres"])


class TestOptionsAnywhere:
    def test_db_json_and_log_json_after_the_command(self, cli: Cli, tmp_path: Path) -> None:
        url = cli.env["FILIERE_DATABASE_URL"]
        env = {k: v for k, v in os.environ.items() if k != "FILIERE_DATABASE_URL"}
        for args in (
            ("show", "proposal", "P-000001", "--db", url, "--json"),
            ("--json", "show", "proposal", "P-000001", f"--db={url}"),
            ("show", "--json", "proposal", "--db", url, "P-000001", "--log-json"),
        ):
            result = subprocess.run(
                [FILIERE, *args], capture_output=True, text=True, env=env, cwd=tmp_path, check=False
            )
            assert result.returncode == 0, (args, result.stderr)
            assert json.loads(result.stdout)["id"] == "P-000001"
        assert not (tmp_path / "filiere.db").exists()

    def test_an_option_value_is_not_taken_for_a_global_option(self, cli: Cli) -> None:
        """``--data --json`` gives --data the value "--json" (not JSON: exit 8), as click would."""
        result = cli("create", "proposal", "--actor", "a", "--role", "applicant", "--data", "--json")
        assert result.returncode == 8
        assert one_line(result).startswith("error: invalid input: data: not JSON")


class TestExitCodes:
    def test_the_documented_table_is_the_code(self) -> None:
        """docs/operators.md shows exactly what `filiere exit-codes` prints."""
        assert markdown_table() in DOCS.read_text(encoding="utf-8")
        result = run("exit-codes")
        assert (result.returncode, result.stdout) == (0, markdown_table())

    def test_every_error_class_is_in_its_row(self) -> None:
        from workflow import errors

        classes = {
            c.__name__: c
            for c in vars(errors).values()
            if isinstance(c, type) and issubclass(c, errors.FiliereError)
        }
        rows = {name: row.code for row in TABLE for name in row.types if name in classes}
        assert {name: c.exit_code for name, c in classes.items()} == rows
        assert len({row.code for row in TABLE}) == len(TABLE)

    @pytest.mark.parametrize(
        "args",
        [
            ("create", "proposal", "--actor", "a", "--role", "applicant", "--data", "@missing.json"),
            ("register", "missing.json", "--actor", "a"),
            ("load", "call", "missing.toml"),
            ("load", "measure", "missing.toml"),
            ("batch", "missing.jsonl"),
            ("audit", "verify", "--file", "missing.jsonl"),
            ("audit", "replay", "--file", "missing.jsonl"),
            ("audit", "export", "--out", "/no/such/dir/x.jsonl"),
            ("batch", "."),
        ],
        ids=lambda a: "-".join(a[:2]),
    )
    def test_a_missing_file_exits_the_same_everywhere(self, cli: Cli, args: tuple[str, ...]) -> None:
        result = cli(*args)
        assert result.returncode == EXIT_CODES["file unavailable"], result.stderr
        assert "cannot use" in one_line(result)

    @pytest.mark.parametrize(
        "args",
        [
            ("fire", "proposal", "P-000001", "submit", "--actor", "a", "--role", "capo"),
            ("create", "proposal", "--actor", "a", "--role", "capo"),
            ("register", "missing.json", "--actor", "a", "--role", "capo"),
            ("apikey", "create", "--actor", "a", "--role", "capo"),
        ],
        ids=lambda a: a[0],
    )
    def test_an_unknown_role_exits_the_same_everywhere(self, cli: Cli, args: tuple[str, ...]) -> None:
        result = cli(*args)
        assert result.returncode == EXIT_CODES["invalid input"]
        assert "unknown role 'capo'" in one_line(result)

    @pytest.mark.parametrize(
        "data",
        ["{not json", "[1, 2]", '{"reason": 1e999999}', '{"reason": NaN}', "[" * 100_000],
        ids=["syntax", "not-an-object", "overflow", "nan", "deep"],
    )
    def test_a_bad_payload_exits_the_same_everywhere(self, cli: Cli, data: str) -> None:
        for command in (
            ("create", "proposal", "--actor", "a", "--role", "applicant"),
            ("fire", "proposal", "P-000001", "withdraw", "--actor", "capofila.alfa", "--role", "applicant"),
        ):
            result = cli(*command, "--data", data)
            assert result.returncode == EXIT_CODES["invalid input"], result.stderr
            assert "invalid input: data:" in one_line(result)
        assert cli.json("show", "proposal", "P-000001")["version"] == 1


class TestJsonErrors:
    def test_errors_are_json_on_stderr(self, cli: Cli) -> None:
        cases = [
            (("show", "proposal", "P-999999"), "NotFound", None, 3),
            ((*SUBMIT[:6], "--role", "nobody"), "InvalidInput", "role", 8),
            (("fire", "proposal", "P-000001", "submit", "--actor", "a"), "UsageError", "--role", 2),
            (("show", "proposal", "P-000001", "--db", "mysql://x"), "ConfigurationError", "scheme", 9),
        ]
        for args, kind, field, code in cases:
            result = cli(*args, "--json")
            assert (result.returncode, result.stdout) == (code, ""), result.stderr
            document = json.loads(result.stderr)
            assert document == {
                "ok": False,
                "type": kind,
                "field": field,
                "exit_code": code,
                "message": document["message"],
            }
            assert "\n" not in document["message"]


class TestHostileInput:
    """The CLI half of issue 13's check list: one line and a documented code, never a traceback."""

    def test_check_list(self, cli: Cli) -> None:
        (cli.folder / "bad.json").write_bytes(b'{"title": "\xff"}')
        (cli.folder / "bom.toml").write_bytes(b"\xef\xbb\xbf" + Path(CALL_FILE).read_bytes())
        cases = [
            (("create", "proposal", "--actor", "a", "--role", "applicant", "--data", "@bad.json"), 8),
            (("audit", "export", "--out", "/no/such/dir/x.jsonl"), 16),
            (
                (
                    *("fire", "proposal", "P-000001", "withdraw", "--actor", "a", "--role", "applicant"),
                    *("--data", '{"reason":1e999999}'),
                ),
                8,
            ),
            (("--db", "/etc/passwd", "status", "X"), 10),
            (("--db", "mysql://x/y", "status", "X"), 9),
            (("load", "call", "bom.toml"), 9),
        ]
        for args, code in cases:
            result = cli(*args)
            assert result.returncode == code, (args, result.stderr)
            one_line(result)
        assert not Path("/no/such/dir").exists()

    def test_an_undecodable_argument_on_a_c_locale(self, cli: Cli) -> None:
        result = subprocess.run(
            [os.fsencode(FILIERE), b"show", b"proposal", b"\xff"],
            capture_output=True,
            env={**cli.env, "LC_ALL": "C", "LANG": "C"},
            cwd=cli.folder,
            timeout=60,
            check=False,
        )
        assert result.returncode == EXIT_CODES["invalid input"]
        assert result.stderr.count(b"\n") == 1
        assert b"Traceback" not in result.stderr


class TestBatch:
    LINES: ClassVar[list[Any]] = [
        {**dict(zip(("kind", "id", "trigger"), SUBMIT[1:4], strict=True)), "actor": "capofila.alfa"},
        {"kind": "proposal", "id": "P-000001", "trigger": "submit", "actor": "capofila.alfa"},
        {"kind": "proposal", "id": "P-000001", "trigger": "submit", "actor": "x", "key": 123},
        "{broken",
        b'{"kind": "proposal", "id": "\xff"}',
        {"kind": "proposal", "id": "P-000001", "trigger": "withdraw", "actor": "capofila.alfa", "extra": 1},
        {"kind": "proposal", "id": "P-000001", "trigger": "withdraw", "actor": "capofila.alfa"},
    ]

    def _write(self, cli: Cli) -> None:
        raw = b""
        for line in self.LINES:
            text = json.dumps({"role": "applicant", **line}) if isinstance(line, dict) else line
            raw += (text if isinstance(text, bytes) else text.encode()) + b"\n"
        (cli.folder / "b.jsonl").write_bytes(raw)

    def test_dry_run_agrees_with_the_real_run_line_by_line(self, cli: Cli) -> None:
        """A line depending on an earlier one is judged as the real run judges it; bad lines don't stop it."""
        self._write(cli)
        cli("status", "MI-FILIERE-2022", now="2022-09-10T11:00")
        dry = cli("batch", "b.jsonl", "--dry-run", "--json")
        assert cli.json("show", "proposal", "P-000001")["version"] == 1
        real = cli("batch", "b.jsonl", "--json")
        assert dry.returncode == real.returncode == EXIT_CODES["batch had failures"]

        def outcome(result: Any) -> list[tuple[Any, ...]]:
            lines = [json.loads(line) for line in result.stdout.splitlines()]
            return [(r["line"], r["ok"], r.get("type"), r.get("field"), r.get("to_state")) for r in lines]

        expected = [
            (1, True, None, None, "submitted"),
            (2, False, "TransitionNotAllowed", None, None),
            (3, False, "InvalidInput", "key", None),
            (4, False, "InvalidInput", "line", None),
            (5, False, "InvalidInput", "line", None),
            (6, False, "InvalidInput", "extra", None),
            (7, True, None, None, "withdrawn"),
        ]
        assert outcome(dry) == outcome(real) == expected
        assert "5 of 7 lines failed" in real.stderr
        assert cli.json("show", "proposal", "P-000001")["state"] == "withdrawn"


class TestListAndWords:
    def test_list_by_kind_state_and_call_paged(self, cli: Cli) -> None:
        lines = [
            {
                "kind": "proposal",
                "trigger": "create",
                "actor": "capofila.alfa",
                "role": "applicant",
                "data": {
                    "call_id": "MI-FILIERE-2022",
                    "partnership_id": "PT-000001",
                    "title": f"T{n}",
                    "summary": "S",
                    "areas": ["a"],
                },
            }
            for n in range(3)
        ]
        (cli.folder / "p.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
        assert cli("batch", "p.jsonl").returncode == 0
        withdraw = ("withdraw", "--actor", "capofila.alfa", "--role", "applicant")
        assert cli("fire", "proposal", "P-000002", *withdraw).returncode == 0
        first = cli.json("list", "proposal", "--state", "draft", "--call", "MI-FILIERE-2022", "--limit", "2")
        assert [e["id"] for e in first["entities"]] == ["P-000001", "P-000003"]
        assert first["next_after"] == "P-000003"
        assert first["entities"][0]["updated_at"].endswith("Z")
        second = cli.json("list", "proposal", "--state", "draft", "--after", "P-000003")
        assert ([e["id"] for e in second["entities"]], second["next_after"]) == (["P-000004"], None)
        text = cli("list", "proposal", "--state", "withdrawn").stdout
        assert text.rstrip().endswith("1 proposal shown")
        assert cli.json("list", "call", "--call", "nowhere")["entities"] == []
        wrong = cli("list", "MI-FILIERE-2022")
        assert wrong.returncode == 8
        assert "filiere elenco" in one_line(wrong)

    def test_people_read_rome_to_the_second(self, cli: Cli) -> None:
        status = cli("status", "MI-FILIERE-2022", now="2022-09-10T11:00:00.250")
        assert "it is 2022-09-10 11:00:00 Europe/Rome" in status.stdout
        assert "deadline in force: 2022-12-31 16:00:00 Europe/Rome" in status.stdout
        assert not re.search(r"\d\d:\d\d:\d\d[.+]", status.stdout)
        document = cli.json("status", "MI-FILIERE-2022")
        assert document["now"] == "2022-09-10T09:00:00.250000Z"
        assert document["simulated_now"] == document["now"]
        verified = cli("audit", "verify").stdout
        assert re.match(r"chain ok: \d+ events, head", verified)

    def test_demo_help_tells_both_phases(self) -> None:
        result = run("demo", "--help")
        assert result.returncode == 0
        assert "Phase 1" in result.stdout
        assert "Phase 2" in result.stdout
        assert "--verbose" in result.stdout


class TestRehearsal:
    """``Engine.rehearsal``, which ``batch --dry-run`` stands on, on both backends."""

    def test_in_order_then_rolled_back(self, contract_world: Any) -> None:
        from workflow.errors import TransitionNotAllowed

        world = contract_world
        world.open_call()
        draft = world.draft()
        head = list(world.engine.events())
        submit = {"actor": "capofila.alfa", "role": "applicant"}
        with world.engine.rehearsal() as fire:
            first = fire("proposal", draft, "submit", **submit)
            with pytest.raises(TransitionNotAllowed):
                fire("proposal", draft, "submit", **submit)
            withdrawn = fire("proposal", draft, "withdraw", **submit, payload={})
        assert (first.dry_run, first.to_state, withdrawn.from_state, withdrawn.seq) == (
            True,
            "submitted",
            "submitted",
            first.seq + 1,
        )
        assert list(world.engine.events()) == head
        assert world.engine.get("proposal", draft).state == "draft"
        real = world.engine.fire("proposal", draft, "submit", **submit)
        # The same transition for real; on PostgreSQL ``seq`` comes from a sequence, which a
        # rolled-back rehearsal advances (a gap in insertion numbers; positions have none).
        assert (real.to_state, real.entity_version) == (first.to_state, first.entity_version)
        assert real.seq >= first.seq
        last = head[-1].position
        assert last is not None
        assert [(e.seq, e.position) for e in world.engine.events(after=last)] == [(real.seq, last + 1)]
