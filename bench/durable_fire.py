"""Durable transitions/s: the engine's ``fire`` against the raw driver doing the same writes.

Run: ``.venv/bin/python bench/durable_fire.py [--fires 500] [--rounds 5] [--postgres URL]``

One transition, both sides: in one transaction, lock the chain head, read the
entity row, update it (state, version, data), append the hash-chained event
(canonical JSON + SHA-256 over the previous hash), move the chain head,
commit. The raw side does exactly these statements with ``sqlite3`` (WAL,
``synchronous=FULL``, ``BEGIN IMMEDIATE``, the engine's own file settings) or
``psycopg`` (one connection, autocommit off), with a payload of the same size;
the engine side is ``Engine.fire("evaluator", e, "declare_ties", ...)``: a
self-loop with one guard, its payload validated, its handler run, its event
logged at WARNING (the per-transition INFO line is its own measurement).

Rounds interleave the two sides so that both see the same noise; each figure is
the median of the rounds, each ratio the median of per-round ratios.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from workflow.clock import SimulatedClock
from workflow.engine import Engine
from workflow.logconfig import configure

TIES = ["00743110157"]
CANONICAL = orjson.OPT_SORT_KEYS


def engine_loop(engine: Engine, fires: int, tag: str) -> float:
    """Transitions/s through ``Engine.fire``."""
    engine.create("evaluator", actor="op", role="operator", entity_id=tag, payload={"name": tag, "ties": []})
    start = time.perf_counter()
    for i in range(fires):
        payload = {"ties": [] if i % 2 else TIES}
        engine.fire("evaluator", tag, "declare_ties", actor=tag, role="evaluator", payload=payload)
    return fires / (time.perf_counter() - start)


def _event(seq: int, prev: str, tag: str, version: int, now: str) -> tuple[dict[str, Any], str]:
    fields = {
        "seq": seq,
        "entity_kind": "evaluator",
        "entity_id": tag,
        "entity_version": version,
        "trigger": "declare_ties",
        "from_state": "active",
        "to_state": "active",
        "actor": tag,
        "role": "evaluator",
        "occurred_at": now,
        "effective_at": now,
        "payload": {"changes": {"ties": TIES}, "input": {"ties": TIES}},
        "definition_version": "0123456789abcdef",
        "cause_seq": None,
        "idempotency_key": None,
        "request_hash": None,
        "prev_hash": prev,
    }
    digest = hashlib.sha256(prev.encode() + orjson.dumps(fields, option=CANONICAL)).hexdigest()
    return fields, digest


def raw_sqlite_loop(path: Path, fires: int, tag: str) -> float:
    """Transitions/s doing the engine's writes with sqlite3 directly."""
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=30000"):
        db.execute(f"PRAGMA {pragma}")
    db.execute(
        "INSERT INTO entity (kind, id, state, version, data, parent_id, created_at, updated_at)"
        " VALUES ('evaluator', ?, 'active', 1, '{}', NULL, '2022-03-01 00:00:00', '2022-03-01 00:00:00')",
        (tag,),
    )
    start = time.perf_counter()
    for _ in range(fires):
        db.execute("BEGIN IMMEDIATE")
        seq, prev = db.execute("SELECT seq, hash FROM chain_head WHERE id = 1").fetchone()
        version, data = db.execute(
            "SELECT version, data FROM entity WHERE kind = 'evaluator' AND id = ?", (tag,)
        ).fetchone()
        now = datetime.now(UTC)
        fields, digest = _event(seq + 1, prev, tag, version + 1, now.isoformat())
        new_data = orjson.dumps({**orjson.loads(data), "ties": TIES}, option=CANONICAL).decode()
        db.execute(
            "UPDATE entity SET state = 'active', version = ?, data = ?, updated_at = ?"
            " WHERE kind = ? AND id = ?",
            (version + 1, new_data, now.isoformat(" "), "evaluator", tag),
        )
        _insert_event(db.execute, "?", fields, digest)
        db.execute("UPDATE chain_head SET seq = ?, hash = ? WHERE id = 1", (seq + 1, digest))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - start
    db.close()
    return fires / elapsed


def _insert_event(execute: Callable[..., Any], mark: str, fields: dict[str, Any], digest: str) -> None:
    names = [*fields, "hash"]
    values = [orjson.dumps(v).decode() if k == "payload" else v for k, v in fields.items()]
    execute(
        f"INSERT INTO event ({', '.join(names)}) VALUES ({', '.join([mark] * len(names))})",
        (*values, digest),
    )


def raw_postgres_loop(url: str, fires: int, tag: str) -> float:
    """Transitions/s doing the engine's writes with psycopg directly."""
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as db:
        db.execute(
            "INSERT INTO entity (kind, id, state, version, data, parent_id, created_at, updated_at)"
            " VALUES ('evaluator', %s, 'active', 1, '{}', NULL, now(), now())",
            (tag,),
        )
        db.commit()
        start = time.perf_counter()
        for _ in range(fires):
            seq, prev = db.execute("SELECT seq, hash FROM chain_head WHERE id = 1 FOR UPDATE").fetchone()
            version, data = db.execute(
                "SELECT version, data FROM entity WHERE kind = 'evaluator' AND id = %s FOR UPDATE", (tag,)
            ).fetchone()
            now = datetime.now(UTC)
            fields, digest = _event(seq + 1, prev, tag, version + 1, now.isoformat())
            new_data = orjson.dumps({**orjson.loads(data), "ties": TIES}, option=CANONICAL).decode()
            db.execute(
                "UPDATE entity SET state = 'active', version = %s, data = %s, updated_at = %s"
                " WHERE kind = %s AND id = %s",
                (version + 1, new_data, now, "evaluator", tag),
            )
            fields = {**fields, "occurred_at": now, "effective_at": now}
            _insert_event(db.execute, "%s", fields, digest)
            db.execute("UPDATE chain_head SET seq = %s, hash = %s WHERE id = 1", (seq + 1, digest))
            db.commit()
        return fires / (time.perf_counter() - start)


def fresh_postgres(url: str) -> str:
    """A new, empty schema on the server (an Engine migrates it); a URL whose connections use it."""
    import psycopg

    schema = f"bench_{int(time.time())}"
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    return f"{url}?options=-csearch_path%3D{schema}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fires", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    configure(level=logging.WARNING)
    clock = SimulatedClock(datetime(2022, 3, 1, tzinfo=UTC))
    figures: dict[str, list[float]] = {k: [] for k in ("sqlite engine", "sqlite raw", "pg engine", "pg raw")}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        engine = Engine(f"sqlite:///{path}", clock=clock)
        pg_url = None if args.no_postgres else fresh_postgres(args.postgres)
        pg_engine = (
            Engine(pg_url.replace("postgresql://", "postgresql+psycopg://"), clock=clock) if pg_url else None
        )
        for r in range(args.rounds):
            figures["sqlite engine"].append(engine_loop(engine, args.fires, f"e{r}"))
            figures["sqlite raw"].append(raw_sqlite_loop(path, args.fires, f"r{r}"))
            if pg_engine is not None and pg_url is not None:
                figures["pg engine"].append(engine_loop(pg_engine, args.fires, f"e{r}"))
                figures["pg raw"].append(raw_postgres_loop(pg_url, args.fires, f"r{r}"))
    print(f"rounds={args.rounds} fires/round={args.fires}")
    for backend in ("sqlite", "pg"):
        ours, raw = figures[f"{backend} engine"], figures[f"{backend} raw"]
        if not ours:
            continue
        ratio = statistics.median(a / b for a, b in zip(ours, raw, strict=True))
        print(
            f"{backend:>6}: engine {statistics.median(ours):7,.0f}/s   raw {statistics.median(raw):7,.0f}/s"
            f"   engine/raw {ratio:.2f} (rounds {min(a / b for a, b in zip(ours, raw, strict=True)):.2f}"
            f"-{max(a / b for a, b in zip(ours, raw, strict=True)):.2f})"
        )


if __name__ == "__main__":
    main()
