"""``filiere audit export | verify --file | replay | as-of``, run as an auditor runs them."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.workflow.test_cli import run

HISTORIES = Path(__file__).parent.parent / "fixtures" / "histories"
BROKEN = 12  # the exit code of a chain or a history that does not prove out


@pytest.fixture(name="db")
def _db(demo_source: Path, tmp_path: Path) -> Path:
    target = tmp_path / "demo.db"
    shutil.copyfile(demo_source, target)
    return target


def test_export_verify_replay_round_trip(db: Path, tmp_path: Path) -> None:
    """Export, verify the file without the database, replay it: all agree on 83 events."""
    out = tmp_path / "log.jsonl"
    exported = run("--db", str(db), "audit", "export", "--out", str(out), "--json")
    assert exported.returncode == 0, exported.stderr
    summary = json.loads(exported.stdout)
    assert summary["events"] == 83
    verified = run("audit", "verify", "--file", str(out), "--json")
    assert verified.returncode == 0, verified.stdout
    assert json.loads(verified.stdout)["head_hash"] == summary["head_hash"]
    replayed = run("audit", "replay", "--file", str(out), "--json")
    assert replayed.returncode == 0, replayed.stdout
    assert json.loads(replayed.stdout)["ok"] is True


def test_a_cut_export_fails_against_the_kept_head(db: Path, tmp_path: Path) -> None:
    """The head hash kept from the export catches a tail cut from the file and its manifest."""
    out = tmp_path / "log.jsonl"
    kept = json.loads(run("--db", str(db), "audit", "export", "--out", str(out), "--json").stdout)[
        "head_hash"
    ]
    out.write_text("".join(out.read_text().splitlines(keepends=True)[:-1]))
    Path(f"{out}.manifest.json").unlink()
    result = run("audit", "verify", "--file", str(out), "--head", kept)
    assert result.returncode == BROKEN
    assert "chain BROKEN at event 83" in result.stdout


def test_replay_of_the_live_database_reports_a_divergence(db: Path) -> None:
    """A state changed in SQL: exit 12, and the report names entity, field, expected, found."""
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE entity SET state = 'listed' WHERE id = 'P-000004'")
    result = run("--db", str(db), "audit", "replay")
    assert result.returncode == BROKEN
    assert result.stdout.splitlines() == [
        "replayed 83 events (to 83), 26 entities: 1 problems",
        "  proposal P-000004: state: log says 'expired', table has 'listed'",
    ]


def test_replay_of_the_broken_golden_history() -> None:
    """The committed broken history fails replay, naming the late submission."""
    result = run("audit", "replay", "--file", str(HISTORIES / "demo-2022-late-submission.jsonl"), "--json")
    assert result.returncode == BROKEN
    report = json.loads(result.stdout)
    assert [p["seq"] for p in report["illegal"]] == [53, 54]
    assert report["divergences"] == []


def test_replay_until_a_sequence_number(db: Path) -> None:
    """``--until`` stops the replay there (and does not compare with today's tables)."""
    result = run("--db", str(db), "audit", "replay", "--until", "25", "--json")
    assert result.returncode == 0, result.stdout
    assert (json.loads(result.stdout)["last_seq"], json.loads(result.stdout)["events"]) == (25, 25)


def test_as_of_a_moment(db: Path) -> None:
    """``audit as-of``: the proposal and the list at noon on the day of the first decree."""
    result = run("--db", str(db), "audit", "as-of", "2022-10-14T12:00", "--kind", "proposal", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    states = {e["id"]: e["state"] for e in document["entities"]}
    assert states == {"P-000001": "listed", "P-000002": "listed", "P-000003": "draft", "P-000004": "draft"}
    assert document["lists"]["MI-FILIERE-2022"][0]["entries"] == ["P-000001", "P-000002"]
    assert document["as_of"] == "2022-10-14T10:00:00Z"  # UTC in JSON


def test_as_of_bad_time_is_invalid_input(db: Path) -> None:
    """A moment that is not a time: exit 8, one line on stderr."""
    result = run("--db", str(db), "audit", "as-of", "yesterday")
    assert (result.returncode, result.stdout) == (8, "")


def test_no_database_is_not_an_empty_chain(tmp_path: Path) -> None:
    """A mistyped path is an error (exit 10), never a new empty database that verifies."""
    missing = tmp_path / "nope.db"
    for args in (("audit", "verify"), ("audit", "replay"), ("audit", "export", "--out", str(tmp_path / "x"))):
        result = run("--db", str(missing), *args)
        assert result.returncode == 10, result.stdout
        assert f"no database at {missing}" in result.stderr
    assert not missing.exists()
