"""Verify and replay a log of 1,000,000 events: events/s and peak RSS, against a raw baseline.

Run: ``.venv/bin/python bench/audit_million.py [--events 1000000] [--folder /tmp/filiere-audit]``

How the log is made: the real engine runs one proposal's life on a SQLite
file (the 2022 call opened, an evaluator, a partnership of 13 partners
registered, a draft, submit, request_integration, integrate, evaluate); that
life is then copied with new ids, new times (one second apart) and a
recomputed hash chain until the log holds ``--events`` events, written both
as an export (JSON lines + manifest) and into the SQLite file's tables, with
each entity's final row. So every event is a real event, legal under the
definitions it names, and replay must find the tables equal to the log.

Each measurement runs in its own process, so its peak RSS (``ru_maxrss``) is
its own. The baseline is the least any verifier must do: read each line,
parse it, and hash it (``orjson.loads`` + SHA-256), in the same run.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

SETUP_KINDS = ("call", "evaluator")


def make_template(folder: Path) -> Path:
    """One real proposal life through the engine; return the database."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.factories import World, rome
    from workflow.clock import SimulatedClock
    from workflow.engine import Engine
    from workflow.logconfig import configure

    configure(level=40)
    path = folder / "template.db"
    clock = SimulatedClock(rome(2022, 3, 1, 9))
    engine = Engine(f"sqlite:///{path}", clock=clock)
    world = World(engine=engine, clock=clock, path=str(path))
    world.open_call()
    world.evaluator("eval.bianchi")
    proposal = world.submitted("capofila.alfa")
    world.at(2022, 3, 2, 9)
    due = {"reason": "Manca l'accordo firmato", "due": "2022-03-20T12:00"}
    engine.fire("proposal", proposal, "request_integration", actor="op.rossi", role="operator", payload=due)
    engine.fire(
        "proposal", proposal, "integrate", actor="capofila.alfa", role="applicant", payload={"note": "ok"}
    )
    payload = {"scores": world.scores()}
    engine.fire("proposal", proposal, "evaluate", actor="eval.bianchi", role="evaluator", payload=payload)
    engine.db.dispose()
    return path


def _stored_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def build(folder: Path, events: int) -> tuple[Path, Path]:
    """Write ``log.jsonl`` (+ manifest) and ``log.db`` holding ``events`` events."""
    from workflow.audit.export import write_manifest
    from workflow.audit.stored import stored_definitions

    template = make_template(folder)
    db_path = folder / "log.db"
    shutil.copyfile(template, db_path)
    connection = sqlite3.connect(db_path)
    connection.row_factory = sqlite3.Row
    rows = [dict(r) for r in connection.execute("SELECT * FROM event ORDER BY seq")]
    setup = [r for r in rows if r["entity_kind"] in SETUP_KINDS]
    life = [r for r in rows if r["entity_kind"] not in SETUP_KINDS]
    finals = [
        dict(r) for r in connection.execute("SELECT * FROM entity WHERE kind IN ('partnership', 'proposal')")
    ]
    connection.execute("DELETE FROM event")
    connection.execute("DELETE FROM entity WHERE kind IN ('partnership', 'proposal')")
    ids = ("PT-000001", "P-000001", "MI-FILIERE-2022-000001")
    out = folder / "log.jsonl"

    def renamed(text: str, n: int) -> str:
        return (
            text.replace(ids[2], f"MI-FILIERE-2022-{n:07d}")
            .replace(ids[0], f"PT-{n:07d}")
            .replace(ids[1], f"P-{n:07d}")
        )

    def stream() -> Iterator[dict[str, Any]]:
        yield from setup
        n = 0
        while True:
            n += 1
            for row in life:
                yield {**row, **{k: renamed(row[k], n) for k in ("entity_id", "payload")}}

    wanted = len(setup) + max(1, (events - len(setup)) // len(life)) * len(life)  # whole lives only
    seq, prev = _write(connection, list(rows[0]), stream(), wanted, out)
    for n in range(1, (seq - len(setup)) // len(life) + 1):
        _insert_finals(connection, finals, n, renamed)
    connection.execute("UPDATE chain_head SET seq = ?, hash = ?", (seq, prev))
    connection.commit()
    connection.close()
    from workflow.store.db import make_engine

    write_manifest(out, seq, (seq, prev), stored_definitions(make_engine(f"sqlite:///{db_path}")))
    return out, db_path


def _write(
    connection: sqlite3.Connection,
    columns: list[str],
    stream: Iterator[dict[str, Any]],
    wanted: int,
    out: Path,
) -> tuple[int, str]:
    """Renumber, re-time and re-chain ``wanted`` events; write them to ``out`` and the table."""
    from workflow.audit.verify import canonical_row
    from workflow.canonical import GENESIS, chain_hash, event_bytes

    start = datetime(2022, 3, 1, 9, tzinfo=UTC)
    prev, seq = GENESIS, 0
    batch: list[tuple[Any, ...]] = []
    with out.open("wb") as handle:
        for template_row in stream:
            if seq == wanted:
                break
            seq += 1
            moment = start + timedelta(seconds=seq)
            row = {
                **template_row,
                "seq": seq,
                "prev_hash": prev,
                "occurred_at": moment,
                "effective_at": moment,
            }
            canonical = canonical_row({**row, "hash": ""})
            prev = chain_hash(prev, event_bytes(canonical))
            canonical["hash"] = prev
            handle.write(orjson.dumps(canonical, option=orjson.OPT_SORT_KEYS) + b"\n")
            stored = {
                **row,
                "hash": prev,
                "occurred_at": _stored_time(moment),
                "effective_at": _stored_time(moment),
            }
            batch.append(tuple(stored[c] for c in columns))
            if len(batch) == 10_000:
                _insert(connection, columns, batch)
                batch = []
    _insert(connection, columns, batch)
    return seq, prev


def _insert_finals(
    connection: sqlite3.Connection, finals: list[dict[str, Any]], n: int, renamed: Any
) -> None:
    """The final rows of the ``n``-th copy's partnership and proposal."""
    connection.executemany(
        f"INSERT INTO entity ({', '.join(finals[0])}) VALUES ({', '.join('?' * len(finals[0]))})",
        [tuple(renamed(v, n) if k in ("id", "data") else v for k, v in f.items()) for f in finals],
    )


def _insert(connection: sqlite3.Connection, names: list[str], batch: list[tuple[Any, ...]]) -> None:
    connection.executemany(
        f"INSERT INTO event ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", batch
    )


# --- measurements, each in its own process -------------------------------------------------


def measure(what: str, log: Path, db: Path) -> dict[str, Any]:
    """Run one measurement here; return seconds, events and peak RSS."""
    start = time.perf_counter()
    if what == "baseline":
        import hashlib

        events = 0
        with log.open("rb") as handle:
            for line in handle:
                orjson.loads(line)
                hashlib.sha256(line).hexdigest()
                events += 1
        ok = True
    elif what in ("verify-file", "verify-db"):
        from workflow.audit.export import verify_file
        from workflow.audit.verify import verify_chain
        from workflow.store.db import make_engine

        report = verify_file(log) if what == "verify-file" else verify_chain(make_engine(f"sqlite:///{db}"))
        events, ok = report.events, report.ok
    else:
        from workflow.audit.compare import compare
        from workflow.audit.export import read_events, read_manifest
        from workflow.audit.replay import replay
        from workflow.audit.stored import canonical_events, stored_definitions
        from workflow.store.db import make_engine

        if what == "replay-file":
            manifest = read_manifest(log) or {}
            result = replay(read_events(log), manifest["definitions"])
        else:
            engine = make_engine(f"sqlite:///{db}")
            result = replay(canonical_events(engine), stored_definitions(engine))
            if what == "replay-compare-db":
                compare(engine, result)
        events, ok = result.events, result.ok
        if not ok:
            print(result.text()[:2000], file=sys.stderr)
    seconds = time.perf_counter() - start
    peak_mb = _peak_rss_kb() / 1024
    # verify --file checks a large export in parallel processes: the biggest of them, too.
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "what": what,
        "events": events,
        "seconds": seconds,
        "ok": ok,
        "peak_rss_mb": round(max(peak_mb, children_mb), 1),
    }


def _peak_rss_kb() -> int:
    """This process's peak RSS: ``VmHWM``, which (unlike ``ru_maxrss``) starts afresh at exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_child(what: str, log: Path, db: Path) -> dict[str, Any]:
    """Run :func:`measure` in a fresh interpreter and read its JSON."""
    done = subprocess.run(
        [sys.executable, __file__, "--measure", what, "--log", str(log), "--db", str(db)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(done.stdout.splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/filiere-audit-bench"))
    parser.add_argument("--measure")
    parser.add_argument("--log", type=Path)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--reuse", action="store_true", help="Keep the log built by an earlier run.")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.log, args.db)))
        return
    args.folder.mkdir(parents=True, exist_ok=True)
    log, db = args.folder / "log.jsonl", args.folder / "log.db"
    if not (args.reuse and log.exists() and db.exists()):
        for stale in args.folder.iterdir():
            stale.unlink()
        started = time.perf_counter()
        log, db = build(args.folder, args.events)
        print(f"built {args.events:,} events in {time.perf_counter() - started:.0f} s: {log}, {db}")
    results = [
        run_child(w, log, db)
        for w in ("baseline", "verify-file", "verify-db", "replay-file", "replay-db", "replay-compare-db")
    ]
    base = results[0]["events"] / results[0]["seconds"]
    print(f"{'what':<20}{'events':>12}{'seconds':>10}{'events/s':>12}{'vs baseline':>13}{'peak RSS':>11}  ok")
    for r in results:
        rate = r["events"] / r["seconds"]
        print(
            f"{r['what']:<20}{r['events']:>12,}{r['seconds']:>10.1f}{rate:>12,.0f}"
            f"{rate / base:>12.2f}x{r['peak_rss_mb']:>8.0f} MB  {r['ok']}"
        )


if __name__ == "__main__":
    main()
