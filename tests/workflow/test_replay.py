"""Replay: the log alone rebuilds every entity and list, judges every step, and finds every divergence."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from tests.factories import CALL_ID, World, rome
from workflow.audit.compare import compare
from workflow.audit.export import export_events, read_events, read_manifest, verify_file
from workflow.audit.replay import Problem, ReplayResult, replay
from workflow.audit.stored import canonical_events, stored_definitions
from workflow.clock import SimulatedClock
from workflow.engine import Engine

HISTORIES = Path(__file__).parent.parent / "fixtures" / "histories"


@pytest.fixture(name="demo")
def _demo(demo_source: Path, tmp_path: Path) -> Engine:
    """A private copy of the demo's database (both phases, 83 events), to tamper with."""
    target = tmp_path / "demo.db"
    shutil.copyfile(demo_source, target)
    engine = Engine(f"sqlite:///{target}", clock=SimulatedClock(rome(2028, 1, 1)))
    yield engine
    engine.db.dispose()


def full_replay(engine: Engine) -> ReplayResult:
    return compare(engine.db, replay(canonical_events(engine.db), stored_definitions(engine.db)))


def tamper(engine: Engine, *statements: str) -> None:
    """Change the live tables behind the engine's back, without an event."""
    database = engine.db.url.database
    assert database
    with sqlite3.connect(database) as connection:
        for statement in statements:
            connection.execute(statement)


def events_of(engine: Engine) -> list[dict[str, Any]]:
    return list(canonical_events(engine.db))


class TestFaithful:
    def test_demo_replays_to_the_live_tables(self, demo: Engine) -> None:
        """Every entity, list version and budget rebuilt from the log equals the tables."""
        result = full_replay(demo)
        assert result.ok, result.text()
        assert (result.events, result.last_seq, len(result.states)) == (83, 83, 26)
        live = {
            (e.kind, e.id): e for kind in ("proposal", "measure", "application") for e in demo.entities(kind)
        }
        for key, entity in live.items():
            assert result.states[key] == (entity.state, entity.version)
        assert [v["number"] for v in result.lists["MI-FILIERE-2022"]] == [1, 2]

    def test_kept_data_is_the_live_data(self, demo: Engine) -> None:
        """Asked to keep data, replay rebuilds every entity's data exactly as the tables hold it."""
        result = replay(canonical_events(demo.db), stored_definitions(demo.db), keep_data=True)
        for kind in ("call", "proposal", "measure", "application", "decree", "partnership"):
            for entity in demo.entities(kind):
                assert result.entities[(kind, entity.id)].data == entity.data
                assert result.entities[(kind, entity.id)].parent_id == entity.parent_id

    def test_report_for_people_and_for_machines(self, demo: Engine) -> None:
        """The text report starts with the verdict; the JSON one says ok and counts."""
        result = full_replay(demo)
        assert result.text() == "replayed 83 events (to 83), 26 entities: all legal, no divergence"
        assert result.to_json() == {
            "ok": True,
            "events": 83,
            "last_seq": 83,
            "entities": 26,
            "illegal": [],
            "divergences": [],
            "definitions": [],
            "unjudged": 0,
        }


class TestDivergence:
    def test_a_state_changed_without_an_event(self, demo: Engine) -> None:
        """Acceptance: a proposal's state changed in SQL is reported, and nothing else."""
        tamper(demo, "UPDATE entity SET state = 'listed' WHERE kind = 'proposal' AND id = 'P-000004'")
        result = full_replay(demo)
        assert result.illegal == []
        assert result.divergences == [
            Problem(None, "proposal P-000004", "state", "expired", "listed", "state differs")
        ]

    def test_every_divergence_is_reported(self, demo: Engine) -> None:
        """Several corruptions at once: replay does not stop at the first."""
        tamper(
            demo,
            "UPDATE entity SET state = 'funded' WHERE id = 'P-000003'",
            "UPDATE entity SET data = json_set(data, '$.title', 'Altro') WHERE id = 'P-000001'",
            "UPDATE entity SET version = 9 WHERE id = 'A-000001'",
            "DELETE FROM list_entry WHERE number = 2 AND proposal_id = 'P-000006'",
            "INSERT INTO entity (kind, id, state, version, data, parent_id, created_at, updated_at)"
            " SELECT kind, 'P-999999', state, version, data, parent_id, created_at, updated_at"
            " FROM entity WHERE id = 'P-000001'",
        )
        found = {(p.entity, p.field) for p in full_replay(demo).divergences}
        assert found == {
            ("proposal P-000003", "state"),
            ("proposal P-000001", "data.title"),
            ("application A-000001", "version"),
            ("list MI-FILIERE-2022 v2", "entries"),
            ("proposal P-999999", "existence"),
        }

    def test_a_budget_changed_without_an_event(self, demo: Engine) -> None:
        """A measure's money is part of what replay rebuilds and compares."""
        measure = demo.get("measure", "FILIERE-2022")
        money_field = next(k for k in sorted(measure.data) if "reserved" in k or "available" in k)
        tamper(
            demo,
            f"UPDATE entity SET data = json_set(data, '$.{money_field}', '1.00') WHERE id = 'FILIERE-2022'",
        )
        (problem,) = full_replay(demo).divergences
        assert (problem.entity, problem.field, problem.found) == (
            "measure FILIERE-2022",
            f"data.{money_field}",
            "1.00",
        )


def rewritten(engine: Engine, seq: int, **fields: Any) -> list[dict[str, Any]]:
    """The demo's events with event ``seq`` rewritten (replay judges content, not hashes)."""
    events = events_of(engine)
    events[seq - 1] = {**events[seq - 1], **fields}
    return events


def reasons(events: list[dict[str, Any]], engine: Engine) -> list[tuple[int | None, str]]:
    return [(p.seq, p.reason) for p in replay(events, stored_definitions(engine.db)).illegal]


class TestLegality:
    @pytest.mark.parametrize(
        ("seq", "fields", "reason"),
        [
            (19, {"role": "applicant"}, "role applicant may not evaluate"),
            (19, {"from_state": "draft"}, "the entity was in submitted, the event says draft"),
            (19, {"to_state": "listed"}, "no arrow evaluate from submitted to listed"),
            (19, {"entity_version": 5}, "entity version 5 does not follow 2"),
            (19, {"entity_id": "P-000099"}, "fired on an entity that was never created"),
            (2, {"role": "applicant"}, "role applicant may not create a evaluator"),
            (
                81,
                {"occurred_at": "2027-12-31T14:59:59.000000Z"},
                "close at 2027-12-31T14:59:59.000000Z before the deadline in force 2027-12-31T15:00:00Z",
            ),
        ],
    )
    def test_an_illegal_step_is_named(
        self, demo: Engine, seq: int, fields: dict[str, Any], reason: str
    ) -> None:
        """Each rule a step can break is reported with the event's sequence number."""
        assert (seq, reason) in reasons(rewritten(demo, seq, **fields), demo)

    def test_an_unknown_definition_is_not_judged_but_reported(self, demo: Engine) -> None:
        """An event naming rules nobody has is not called illegal: the missing rules are the problem."""
        from workflow.audit.definitions import proven

        rules = proven(stored_definitions(demo.db), "the definition table")
        result = rules.conclude(replay(rewritten(demo, 19, definition_version="0" * 16), rules.definitions))
        assert (result.illegal, result.unjudged) == ([], 1)
        assert [(p.seq, p.entity) for p in result.definitions] == [(19, "definition 0000000000000000")]
        assert "the definition table does not carry it" in result.definitions[0].reason
        assert not result.ok

    def test_created_twice(self, demo: Engine) -> None:
        events = events_of(demo)
        events.append({**events[0], "seq": 84})
        assert (84, "created twice") in reasons(events, demo)

    def test_an_application_outside_the_window(self, demo: Engine) -> None:
        """Submitting to a measure after it closed is illegal, whatever the log says."""
        events = events_of(demo)
        late = {**events[30], "seq": 84, "occurred_at": "2022-10-18T09:00:00.000000Z"}
        late["entity_id"], late["entity_version"] = "A-000004", 2
        events.insert(36, late)  # after the close, event 36
        found = reasons(events, demo)
        assert any(s == 84 and "outside the measure's window" in r for s, r in found)

    def test_every_illegal_event_is_reported(self, demo: Engine) -> None:
        """Two bad steps, two reports: replay never stops at the first."""
        events = rewritten(demo, 19, role="applicant")
        events[20] = {**events[20], "role": "applicant"}
        assert [s for s, _ in reasons(events, demo)] == [19, 21]


class TestGoldenHistories:
    def test_the_2022_history_replays_clean(self) -> None:
        """A committed export of both phases replays under the definitions it names."""
        path = HISTORIES / "demo-2022.jsonl"
        manifest = read_manifest(path)
        assert manifest is not None
        assert verify_file(path).ok
        result = replay(read_events(path), manifest["definitions"], keep_data=True)
        assert result.ok, result.text()
        assert (result.events, len(result.entities)) == (83, 26)
        assert result.entities[("application", "A-000006")].state == "revoked"
        assert [v["entries"] for v in result.lists["MI-FILIERE-2022"]] == [
            ["P-000001", "P-000002"],
            ["P-000001", "P-000006"],
        ]

    def test_the_broken_history_is_reported(self) -> None:
        """A late submission, re-hashed so the chain is intact, is still caught by its legality."""
        path = HISTORIES / "demo-2022-late-submission.jsonl"
        manifest = read_manifest(path)
        assert manifest is not None
        assert verify_file(path).ok  # the forger re-hashed: the chain alone proves nothing
        result = replay(read_events(path), manifest["definitions"])
        assert [(p.seq, p.entity) for p in result.illegal] == [
            (53, "proposal P-000005"),
            (54, "proposal P-000006"),
        ]
        assert "after the deadline in force 2027-12-31T15:00:00Z" in result.illegal[0].reason
        assert "before the event before it" in result.illegal[1].reason


class TestExport:
    def test_export_then_verify_the_file(self, demo: Engine, tmp_path: Path) -> None:
        """The export alone verifies, and its manifest names the head and every definition."""
        out = tmp_path / "log.jsonl"
        manifest = export_events(demo.db, out)
        lines = out.read_bytes().splitlines()
        assert len(lines) == manifest["events"] == 83
        assert orjson.loads(lines[-1])["hash"] == manifest["head_hash"]
        used = {e["definition_version"] for e in read_events(out)}
        assert used <= set(manifest["definitions"]) == set(stored_definitions(demo.db))  # project: unused
        report = verify_file(out)
        assert (report.ok, report.events, report.head_hash) == (True, 83, manifest["head_hash"])
        assert verify_file(out, workers=4) == report

    @pytest.mark.parametrize(
        ("edit", "bad_seq"),
        [
            (lambda lines: lines.__setitem__(40, lines[40].replace(b"director", b"operator")), 41),
            (lambda lines: lines.pop(), 83),
            (lambda lines: lines.pop(10), 12),  # the next position jumps
            (lambda lines: lines.insert(5, lines[4]), 5),  # its entity's chain goes back
            (lambda lines: lines.__setitem__(7, b"{oops"), 8),
            (lambda lines: lines.__setitem__(3, lines[3].replace(b'":', b'": ')), 4),
            (lambda lines: lines.__setitem__(2, b'{"seq": 3}'), 3),
        ],
        ids=["altered", "tail-cut", "deleted", "duplicated", "not-json", "not-canonical", "not-an-event"],
    )
    @pytest.mark.parametrize("workers", [1, 3, 7])
    def test_a_tampered_export(
        self,
        demo: Engine,
        tmp_path: Path,
        edit: Callable[[list[bytes]], object],
        bad_seq: int,
        workers: int,
    ) -> None:
        """Altered, deleted, duplicated lines and a cut tail are each found at their event.

        In one pass and cut into slices checked by parallel processes: the same report.
        """
        out = tmp_path / "log.jsonl"
        export_events(demo.db, out)
        lines = out.read_bytes().splitlines()
        edit(lines)
        out.write_bytes(b"\n".join(lines) + b"\n")
        report = verify_file(out, workers=workers)
        assert (report.ok, report.first_bad_seq) == (False, bad_seq)
        assert report == verify_file(out, workers=1)

    def test_a_cut_tail_without_the_manifest_needs_the_kept_head(self, demo: Engine, tmp_path: Path) -> None:
        """With the manifest gone too, the head hash the auditor kept still catches the cut."""
        out = tmp_path / "log.jsonl"
        kept = export_events(demo.db, out)["head_hash"]
        out.write_bytes(b"\n".join(out.read_bytes().splitlines()[:-3]) + b"\n")
        Path(f"{out}.manifest.json").unlink()
        assert verify_file(out).ok
        report = verify_file(out, head_hash=kept)
        assert (report.ok, report.first_bad_seq) == (False, 81)


class TestAsOf:
    def test_state_at_moments_of_the_story(self, demo: Engine) -> None:
        """The API answers what a proposal, the call, the list and a measure were at a moment."""
        before = demo.as_of(rome(2022, 10, 14, 11, 59))
        after = demo.as_of(rome(2022, 10, 14, 12, 0))
        assert before.entity("proposal", "P-000001").state == "evaluated"
        assert after.entity("proposal", "P-000001").state == "listed"
        assert "MI-FILIERE-2022" not in before.lists
        assert after.lists["MI-FILIERE-2022"][0].proposal_ids == ("P-000001", "P-000002")
        assert after.entity("call", "MI-FILIERE-2022").state == "open"
        assert ("measure", "FILIERE-2022") not in after.entities
        end = demo.as_of(rome(2028, 1, 1))
        assert end.entity("call", "MI-FILIERE-2022").state == "closed"
        assert end.entity("measure", "FILIERE-2024").state == "closed"
        assert end.budget("FILIERE-2024") == demo.budget("FILIERE-2024")

    def test_as_of_agrees_with_the_list_query(self, demo: Engine) -> None:
        """Two roads to the list at a moment (replay and the list tables) give the same entries."""
        for moment in (rome(2022, 12, 1), rome(2023, 11, 1)):
            rebuilt = demo.as_of(moment).list_of("MI-FILIERE-2022")
            assert rebuilt is not None
            assert rebuilt == demo.list_as_of("MI-FILIERE-2022", moment)


class TestBothBackends:
    def test_replay_and_compare(self, contract_world: World) -> None:
        """On SQLite and PostgreSQL alike: a clean history compares clean; a state set in SQL is found."""
        world = contract_world
        world.open_call()
        listed = world.evaluated()
        world.submitted("capofila.beta", partnership=world.partnership("capofila.beta", start=40))
        world.decree([listed])
        assert full_replay(world.engine).ok
        with world.engine.db.begin() as connection:
            connection.execute(text("UPDATE entity SET state = 'funded' WHERE id = :id"), {"id": listed})
            connection.execute(text("DELETE FROM list_entry"))
        found = [(p.entity, p.field, p.expected, p.found) for p in full_replay(world.engine).divergences]
        assert found == [
            (f"proposal {listed}", "state", "listed", "funded"),
            (f"list {CALL_ID} v1", "entries", [listed], []),
        ]
