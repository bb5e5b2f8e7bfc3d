"""Issue 13, point 10: what the audit tools missed or misnamed, each on both backends where stored.

A request hash altered in place; a manifest whose definitions were edited; an
export copied without its manifest; a wrong kept head told from a rewrite and
from a truncation; two events swapped told from a deletion.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select, text

from tests.factories import World
from tests.workflow.test_cli import run
from workflow.audit.definitions import proven
from workflow.audit.export import export_events, read_events, read_manifest, verify_file
from workflow.audit.replay import replay
from workflow.audit.stored import canonical_events, stored_definitions
from workflow.audit.verify import ChainReport, canonical_row, parse_head, verify_chain
from workflow.canonical import GENESIS, chain_hash, event_bytes
from workflow.errors import InvalidInput
from workflow.store.tables import EVENT

HISTORIES = Path(__file__).parent.parent / "fixtures" / "histories"
GOLDEN = HISTORIES / "demo-2022.jsonl"
BROKEN, UNKNOWN_RULES, INVALID = 12, 17, 8


def keyed(world: World) -> World:
    """A short history whose draft and its submission were fired with idempotency keys."""
    world.open_call()
    engine = world.engine
    partnership = world.partnership()
    draft = engine.create(
        "proposal",
        actor="capofila.alfa",
        role="applicant",
        payload={
            "call_id": "MI-FILIERE-2022",
            "partnership_id": partnership,
            "title": "Filiera",
            "summary": "Progetto",
            "areas": ["a"],
        },
        idempotency_key="draft-1",
    ).entity_id
    engine.fire(
        "proposal", draft, "submit", actor="capofila.alfa", role="applicant", idempotency_key="submit-1"
    )
    world.submitted("capofila.beta")
    return world


def sql(world: World, *statements: str) -> None:
    """Tamper with the database behind the engine's back (either backend)."""
    with world.engine.db.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def verify(world: World, head: str | None = None) -> ChainReport:
    seq, digest = parse_head(head) if head else (None, None)
    return verify_chain(world.engine.db, head_hash=digest, head_seq=seq)


def rows(world: World) -> list[dict[str, Any]]:
    with world.engine.db.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(EVENT).order_by(EVENT.c.seq))]


def rechain(world: World, *, legacy: bool = False, start: int = 1) -> None:
    """Re-hash every entity's chain from event ``start``, and the whole tree, as a forger would.

    With ``legacy``, as format 1 wrote it (the request hash not covered).
    """
    from workflow import merkle
    from workflow.store import tree

    world.engine.seal()
    heads: dict[tuple[str, str], str] = {}
    leaves = []
    stored = sorted(rows(world), key=lambda r: r["position"])
    with world.engine.db.begin() as connection:
        for row in stored:
            key = (row["entity_kind"], row["entity_id"])
            digest = row["hash"]
            if row["seq"] >= start:
                fields = canonical_row(row)
                fields["prev_hash"] = heads.get(key, GENESIS)
                if legacy:
                    fields.pop("request_hash", None)
                digest = chain_hash(fields["prev_hash"], event_bytes(fields))
                connection.execute(
                    text("UPDATE event SET prev_hash = :p, hash = :h WHERE seq = :s"),
                    {"p": fields["prev_hash"], "h": digest, "s": row["seq"]},
                )
            heads[key] = digest
            leaves.append(tree.leaf_of(digest))
        connection.execute(text("DELETE FROM tree_node"))
        for (level, index), digest in merkle.nodes_of(leaves).items():
            connection.execute(
                text("INSERT INTO tree_node (level, idx, hash) VALUES (:l, :i, :h)"),
                {"l": level, "i": index, "h": digest.hex()},
            )
        connection.execute(text("UPDATE tree_head SET root = :r"), {"r": merkle.reference_root(leaves).hex()})


def keyed_seqs(world: World) -> list[int]:
    return [r["seq"] for r in rows(world) if r["request_hash"] is not None]


# --- 1. the request hash is covered -------------------------------------------------------------


class TestRequestHash:
    def test_an_altered_request_hash_is_caught(self, contract_world: World) -> None:
        """Changing, or clearing, an idempotent event's stored request hash breaks the chain at it."""
        world = keyed(contract_world)
        seq = keyed_seqs(world)[1]
        report = verify(world)
        assert report.ok, report.problem
        sql(world, f"UPDATE event SET request_hash = '{'0' * 64}' WHERE seq = {seq}")
        report = verify(world)
        assert (report.ok, report.first_bad_seq) == (False, seq)
        assert "altered" in str(report.problem)
        sql(world, f"UPDATE event SET request_hash = NULL WHERE seq = {seq}")
        assert verify(world).first_bad_seq == seq

    def test_a_database_written_before_still_verifies(self, contract_world: World, tmp_path: Path) -> None:
        """A log whose keyed events were hashed by the older rule verifies, exports and replays clean."""
        world = keyed(contract_world)
        rechain(world, legacy=True)
        report = verify(world)
        assert report.ok, report.problem
        assert report.legacy_request_hashes == len(keyed_seqs(world)) == 2
        out = tmp_path / "old.jsonl"
        export_events(world.engine.db, out)
        assert not any("request_hash" in e for e in read_events(out))  # not covered: not exported
        assert verify_file(out).ok
        rules = proven(read_manifest(out)["definitions"])  # type: ignore[index]
        assert rules.conclude(replay(read_events(out), rules.definitions)).ok
        world.engine.fire(  # a retry of a format-1 event is still recognised
            "proposal",
            "P-000001",
            "submit",
            actor="capofila.alfa",
            role="applicant",
            idempotency_key="submit-1",
        )

    def test_a_new_event_cannot_pass_for_an_old_one(self, contract_world: World) -> None:
        """Format 2 is told by the bytes: an altered request hash of a new event fails both rules."""
        world = keyed(contract_world)
        rechain(world, legacy=True)
        world.engine.fire(
            "proposal", "P-000002", "withdraw", actor="capofila.beta", role="applicant", idempotency_key="w-2"
        )
        seq = keyed_seqs(world)[-1]
        sql(world, f"UPDATE event SET request_hash = '{'1' * 64}' WHERE seq = {seq}")
        assert verify(world).first_bad_seq == seq

    def test_the_export_carries_it_and_the_file_proves_it(self, world: World, tmp_path: Path) -> None:
        """An exported keyed event carries its request hash; changing or dropping it breaks the file."""
        keyed(world)
        out = tmp_path / "log.jsonl"
        export_events(world.engine.db, out)
        lines = out.read_bytes().splitlines()
        seq = keyed_seqs(world)[0]
        event = orjson.loads(lines[seq - 1])
        assert event["request_hash"] == rows(world)[seq - 1]["request_hash"]
        assert verify_file(out).ok
        for forged in (
            {**event, "request_hash": "2" * 64},
            {k: v for k, v in event.items() if k != "request_hash"},
        ):
            lines[seq - 1] = orjson.dumps(forged, option=orjson.OPT_SORT_KEYS)
            out.write_bytes(b"\n".join(lines) + b"\n")
            report = verify_file(out)
            assert (report.ok, report.first_bad_seq) == (False, seq)

    def test_an_event_as_returned_proves_its_own_hash(self, world: World) -> None:
        """What fire returns (and the API and webhooks send) is what the hash covers, request hash too."""
        keyed(world)
        event = world.engine.fire(
            "proposal", "P-000002", "withdraw", actor="capofila.beta", role="applicant", idempotency_key="w"
        )
        document = event.to_json()
        assert document["request_hash"] is not None
        assert chain_hash(document["prev_hash"], event_bytes(document)) == document["hash"]
        stored = next(world.engine.events(after=event.seq - 1))
        assert stored.to_json() == document


# --- 2 and 3. the definitions replay judges by are proven by their versions ----------------------


def copy(source: Path, target: Path, *, manifest: dict[str, Any] | None = None, keep: bool = True) -> Path:
    """An export copied elsewhere, with its manifest (edited) or without one."""
    shutil.copyfile(source, target)
    if keep:
        data = manifest if manifest is not None else read_manifest(source)
        Path(f"{target}.manifest.json").write_bytes(orjson.dumps(data))
    return target


def edited_manifest() -> dict[str, Any]:
    """The golden manifest with the proposal machine's ``evaluate`` taken from evaluators."""
    manifest = read_manifest(GOLDEN)
    assert manifest is not None
    for content in manifest["definitions"].values():
        for arrow in content["transitions"]:
            if content["name"] == "proposal" and arrow["trigger"] == "evaluate":
                arrow["roles"] = ["director"]
    return manifest


def future(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str, dict[str, Any]]:
    """The events with every proposal's rules moved to a version this Filiere does not ship."""
    from states import DEFINITIONS
    from states.definition import content_version

    content = DEFINITIONS["proposal"].content()
    content["states"] = [*content["states"], "archived"]  # type: ignore[list-item]
    version = content_version(content)
    old = DEFINITIONS["proposal"].version
    moved = [{**e, "definition_version": version} if e["definition_version"] == old else e for e in events]
    return moved, version, content


@pytest.fixture(name="fresh", scope="module")
def _fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's log exported today: every event names a definition this Filiere ships.

    (The golden histories name the definitions of the day they were written; a machine
    changed since, the call's, so they replay only with their manifest.)
    """
    from workflow.audit.export import export_events
    from workflow.demo import run_demo
    from workflow.store.db import make_engine

    folder = tmp_path_factory.mktemp("fresh")
    run_demo(folder / "demo.db", echo=lambda _line: None)
    db = make_engine(f"sqlite:///{folder / 'demo.db'}")
    try:
        export_events(db, folder / "demo.jsonl")
    finally:
        db.dispose()
    return folder / "demo.jsonl"


class TestDefinitions:
    def test_an_edited_manifest_is_tampered_not_illegal(self, tmp_path: Path) -> None:
        """Genuine events under an edited manifest: one tampered definition, no illegal event, exit 12."""
        path = copy(GOLDEN, tmp_path / "log.jsonl", manifest=edited_manifest())
        rules = proven(read_manifest(path)["definitions"])  # type: ignore[index]
        result = rules.conclude(replay(read_events(path), rules.definitions))
        assert result.illegal == []
        golden = read_manifest(GOLDEN)
        assert golden is not None
        edited = [v for v, c in golden["definitions"].items() if c["name"] == "proposal"]  # the log's own
        assert [p.entity for p in result.definitions] == [f"definition {v}" for v in edited]
        assert "does not hash to its version" in result.definitions[0].reason
        replayed = run("audit", "replay", "--file", str(path))
        assert replayed.returncode == BROKEN, replayed.stdout
        assert "tampered" in replayed.stdout
        assert "ILLEGAL" not in replayed.stdout

    def test_a_tampered_definition_with_no_genuine_copy_leaves_its_events_unjudged(self, fresh: Path) -> None:
        """When no proven rules exist for a version, its events are counted unjudged, never illegal."""
        events, version, content = future(list(read_events(fresh)))
        honest = proven({version: content})
        assert honest.conclude(replay(events, honest.definitions)).ok
        edited = {**content, "finals": []}
        rules = proven({version: edited})
        result = rules.conclude(replay(events, rules.definitions))
        assert result.illegal == []
        assert result.unjudged == sum(e["definition_version"] == version for e in events) > 0
        assert [p.entity for p in result.definitions] == [f"definition {version}"]

    def test_the_definition_table_is_proven_too(self, contract_world: World) -> None:
        """On either backend, an edited ``definition`` row is reported; the events stay legal."""
        world = keyed(contract_world)
        version = _proposal_version()
        with world.engine.db.connect() as connection:
            stored = connection.execute(text(f"SELECT content FROM definition WHERE version = '{version}'"))
            content = json.loads(stored.scalar_one())
        content["initial"] = ["submitted"]
        with world.engine.db.begin() as connection:
            connection.execute(
                text("UPDATE definition SET content = :c WHERE version = :v"),
                {"c": json.dumps(content), "v": version},
            )
        rules = proven(stored_definitions(world.engine.db), "the definition table")
        result = rules.conclude(replay(canonical_events(world.engine.db), rules.definitions))
        assert result.illegal == []
        assert [p.entity for p in result.definitions] == [f"definition {version}"]
        assert "the definition table carries a definition that does not hash" in result.definitions[0].reason

    def test_without_a_manifest_the_shipped_definitions_serve(self, tmp_path: Path, fresh: Path) -> None:
        """An export copied alone replays under the shipped definitions when their versions match."""
        path = copy(fresh, tmp_path / "alone.jsonl", keep=False)
        replayed = run("audit", "replay", "--file", str(path))
        assert replayed.returncode == 0, replayed.stdout
        assert "all legal" in replayed.stdout
        assert "no manifest" in replayed.stdout
        verified = run("audit", "verify", "--file", str(path))
        assert verified.returncode == 0, verified.stdout

    def test_without_a_manifest_unknown_rules_are_one_problem(self, tmp_path: Path, fresh: Path) -> None:
        """Events naming unshipped rules and no manifest: one problem, nothing illegal, exit 17."""
        events, _, _ = future(list(read_events(fresh)))
        path = tmp_path / "future.jsonl"
        path.write_bytes(b"".join(orjson.dumps(e, option=orjson.OPT_SORT_KEYS) + b"\n" for e in events))
        replayed = run("audit", "replay", "--file", str(path), "--json")
        assert replayed.returncode == UNKNOWN_RULES, replayed.stdout
        report = json.loads(replayed.stdout)
        assert report["illegal"] == []
        assert [p["entity"] for p in report["definitions"]] == ["manifest"]
        assert report["definitions"][0]["reason"].startswith("no manifest: definitions unknown")
        assert report["unjudged"] == sum(
            e["definition_version"] != g["definition_version"]
            for e, g in zip(events, read_events(fresh), strict=True)
        )

    def test_a_damaged_manifest_is_invalid_input(self, tmp_path: Path) -> None:
        """A manifest that is not one is said in one line, not a traceback."""
        path = copy(GOLDEN, tmp_path / "log.jsonl", keep=False)
        Path(f"{path}.manifest.json").write_text("[1, 2")
        for command in ("verify", "replay"):
            result = run("audit", command, "--file", str(path))
            assert result.returncode == INVALID, result.stderr
            assert "Traceback" not in result.stderr
            assert "not JSON" in result.stderr


def _proposal_version() -> str:
    from states import DEFINITIONS

    return DEFINITIONS["proposal"].version


# --- 4. a kept head: truncated, rewritten, or wrong -----------------------------------------------


class TestKeptHead:
    def test_truncation_rewrite_and_a_wrong_head_are_told_apart(self, contract_world: World) -> None:
        """With SEQ:HASH: a log cut before the head, a log rewritten up to it, a head kept wrong."""
        world = keyed(contract_world)
        kept = verify(world)
        head = f"{kept.head_seq}:{kept.head_hash}"
        assert verify(world, head).ok
        # a rewrite: an earlier event of the head's entity altered and its chain re-hashed from
        # there (verify alone passes); chains are per entity, so the head's own is the one to alter
        early = min(r["seq"] for r in rows(world) if r["entity_id"] == rows(world)[-1]["entity_id"])
        sql(world, f"UPDATE event SET actor = 'someone.else' WHERE seq = {early}")
        rechain(world, start=early)
        assert verify(world).ok
        report = verify(world, head)
        assert (report.ok, report.first_bad_seq) == (False, kept.head_seq)
        assert f"event {kept.head_seq} has another hash" in str(report.problem)
        assert "rewritten or forked" in str(report.problem)
        assert "tail cut" not in str(report.problem)
        # a truncation: the tail removed and the tree head moved back to the shorter log
        sql(world, f"DELETE FROM event WHERE seq > {kept.head_seq - 2}")
        shorter = verify(world)
        sql(world, f"UPDATE tree_head SET size = {shorter.tree_size}, root = '{shorter.root}'")
        assert verify(world).ok
        report = verify(world, head)
        assert (report.ok, report.first_bad_seq) == (False, kept.head_seq - 1)
        assert "truncated" in str(report.problem)

    def test_a_head_kept_with_the_wrong_number(self, contract_world: World) -> None:
        """The right hash with another number is a wrong head, not a damaged log."""
        world = keyed(contract_world)
        kept = verify(world)
        report = verify(world, f"{kept.head_seq - 1}:{kept.head_hash}")
        assert (report.ok, report.first_bad_seq) == (False, kept.head_seq - 1)
        assert "wrong head" in str(report.problem)

    def test_a_hash_alone_does_not_claim_a_cut_tail(self, world: World) -> None:
        """Without its number a missing head is only "not in this log", and says how to tell more."""
        keyed(world)
        report = verify(world, "ab" * 32)
        assert "is not in this log" in str(report.problem)
        assert "SEQ:HASH" in str(report.problem)

    def test_the_cli_takes_seq_hash_and_refuses_a_malformed_head(self, world: World, tmp_path: Path) -> None:
        """``--head 12:HASH`` on the database and on an export; a malformed head is invalid input."""
        keyed(world)
        kept = verify(world)
        out = tmp_path / "log.jsonl"
        export_events(world.engine.db, out)
        for before, after in ((("--db", world.path), ()), ((), ("--file", str(out)))):
            ok = run(*before, "audit", "verify", *after, "--head", f"{kept.head_seq}:{kept.head_hash}")
            assert ok.returncode == 0, ok.stdout + ok.stderr
            ahead = run(*before, "audit", "verify", *after, "--head", f"{kept.head_seq + 5}:{'cd' * 32}")
            assert ahead.returncode == BROKEN
            assert "truncated" in ahead.stdout
        for bad in ("xyz", "12:" + "g" * 64, "0:" + "a" * 64):
            refused = run("--db", world.path, "audit", "verify", "--head", bad)
            assert refused.returncode == INVALID, refused.stderr
            assert "--head" in refused.stderr

    def test_parse_head(self) -> None:
        assert parse_head("A" * 64) == (None, "a" * 64)
        assert parse_head(f" 83:{'b' * 64} ") == (83, "b" * 64)
        assert parse_head(f"83 {'c' * 64}") == (83, "c" * 64)  # as ``audit export`` prints it
        for bad in ("", "1:2:" + "a" * 64, "x:" + "a" * 64, "a" * 63):
            with pytest.raises(InvalidInput):
                parse_head(bad)


# --- 5. events out of sequence ------------------------------------------------------------------


class TestReordered:
    def test_two_swapped_events_in_the_database(self, contract_world: World) -> None:
        """Swapping two events' places (their sealed positions) is reported as events out of sequence."""
        world = keyed(contract_world)
        world.engine.seal()
        sql(
            world,
            "UPDATE event SET position = -1 WHERE position = 5",
            "UPDATE event SET position = 5 WHERE position = 6",
            "UPDATE event SET position = 6 WHERE position = -1",
        )
        report = verify(world)
        assert (report.ok, report.first_bad_seq) == (False, 5)
        moved = "events out of sequence: the event sealed at position 5 is at position 6"
        assert moved in str(report.problem)
        assert "deleted" not in str(report.problem)

    def test_a_deleted_event_is_still_a_deletion(self, contract_world: World) -> None:
        """A gap whose missing event is nowhere is a deletion, not a reordering (seen at the next one)."""
        world = keyed(contract_world)
        sql(world, "DELETE FROM event WHERE seq = 5")
        report = verify(world)
        assert (report.first_bad_seq, "deleted" in str(report.problem)) == (6, True)
        assert "out of sequence" not in str(report.problem)

    def test_swapped_and_moved_lines_of_an_export(self, tmp_path: Path) -> None:
        """Lines swapped, or one moved to the end: out of sequence, naming the line; in slices too."""
        lines = GOLDEN.read_bytes().splitlines()
        swapped = [*lines[:4], lines[5], lines[4], *lines[6:]]
        moved = [*lines[:4], *lines[5:], lines[4]]
        deleted = [*lines[:4], *lines[5:]]
        for order, problem in (
            (swapped, "events out of sequence: the event that follows 4 is on line 6 (reordered)"),
            (moved, f"events out of sequence: the event that follows 4 is on line {len(lines)} (reordered)"),
            (deleted, "sequence jumps from 4 to 6 (deleted)"),
        ):
            path = tmp_path / "log.jsonl"
            path.write_bytes(b"\n".join(order) + b"\n")
            report = verify_file(path)
            assert (report.ok, report.first_bad_seq) == (False, 5)
            assert str(report.problem) == f"event 5: {problem}"
            assert verify_file(path, workers=3) == report

    def test_swapped_and_moved_lines_of_a_sealed_export(self, tmp_path: Path, fresh: Path) -> None:
        """In a format-2 export the missing position is looked for: found elsewhere, a reordering."""
        lines = fresh.read_bytes().splitlines()
        swapped = [*lines[:4], lines[5], lines[4], *lines[6:]]
        moved = [*lines[:4], *lines[5:], lines[4]]
        deleted = [*lines[:4], *lines[5:]]
        for order, bad, problem in (
            (swapped, 5, "events out of sequence: the event sealed at position 5 is on line 6 (reordered)"),
            (
                moved,
                5,
                f"events out of sequence: the event sealed at position 5 is on line {len(lines)} (reordered)",
            ),
            (deleted, 6, "position jumps from 4 to 6 (deleted)"),
        ):
            path = copy(fresh, tmp_path / "log.jsonl")
            path.write_bytes(b"\n".join(order) + b"\n")
            report = verify_file(path)
            assert (report.ok, report.first_bad_seq) == (False, bad)
            assert str(report.problem) == f"event {bad}: {problem}"


def test_a_follower_of_the_api_can_prove_a_keyed_event(world: World) -> None:
    """Over HTTP an event carries its request hash only when it has one, so its hash recomputes."""
    from fastapi.testclient import TestClient

    from workflow.http import keys
    from workflow.http.api import create_app

    keyed(world)
    secret = keys.create(world.engine.db, actor="corte.conti", role="auditor", now=world.clock.now())[1]
    with TestClient(create_app(world.engine)) as client:
        page = client.get("/v1/events", params={"after": 0}, headers={"Authorization": f"Bearer {secret}"})
    assert page.status_code == 200, page.text
    events = page.json()["events"]
    assert [e["seq"] for e in events if "request_hash" in e] == keyed_seqs(world)
    for event in events:
        document = {k: v for k, v in event.items() if k not in ("replayed", "dry_run")}
        assert chain_hash(document["prev_hash"], event_bytes(document)) == document["hash"]
