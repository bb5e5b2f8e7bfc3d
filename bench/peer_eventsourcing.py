"""Filiere against the ``eventsourcing`` library, same workload, same machine, same run.

Run: ``.venv/bin/python bench/peer_eventsourcing.py [--entities 100] [--commands 4] [--rounds 5]``
(needs ``pip install -e '.[bench]'``).

The workload, both sides: create ``--entities`` aggregates, then run
``--commands`` commands on each, one transaction per command, on a SQLite file
in WAL mode with ``synchronous=FULL`` (SQLite's default, which ``eventsourcing``
keeps; Filiere sets it). A command reads the entity, changes it, and appends
one event.

- Filiere: ``Engine.fire`` on evaluators (``create``, then ``declare_ties``: a
  self-loop with a guard and a validated payload), each event hash-chained,
  the state row updated in the same transaction.
- eventsourcing 9: one ``Aggregate`` per entity, one event per command
  (``repository.get`` rebuilds it from its events, the command method
  triggers the event, ``save`` commits it), its SQLite persistence module.

Filiere does more per command (role and guard checks, payload validation, the
state row, the hash chain); the target is that it is not slower (≥ 1.0x).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from workflow.clock import SimulatedClock
from workflow.engine import Engine
from workflow.logconfig import configure

TIES = ["00743110157"]


class Evaluator(Aggregate):
    """The same entity as Filiere's evaluator: a name and declared ties."""

    @event("Registered")
    def __init__(self, name: str) -> None:
        self.name = name
        self.state = "active"
        self.ties: list[str] = []

    @event("TiesDeclared")
    def declare_ties(self, ties: list[str]) -> None:
        if self.state != "active":
            raise ValueError("not active")
        self.ties = list(ties)


class Evaluators(Application[UUID]):
    """The application that persists them."""


def filiere_round(engine: Engine, entities: int, commands: int, tag: str) -> float:
    """Commands/s (creations included) through ``Engine.fire``."""
    start = time.perf_counter()
    for n in range(entities):
        name = f"{tag}-{n}"
        engine.create(
            "evaluator", actor="op", role="operator", entity_id=name, payload={"name": name, "ties": []}
        )
        for i in range(commands):
            payload = {"ties": [] if i % 2 else TIES}
            engine.fire("evaluator", name, "declare_ties", actor=name, role="evaluator", payload=payload)
    return entities * (commands + 1) / (time.perf_counter() - start)


def peer_round(app: Evaluators, entities: int, commands: int, tag: str) -> float:
    """Commands/s (creations included) through eventsourcing."""
    start = time.perf_counter()
    for n in range(entities):
        evaluator = Evaluator(name=f"{tag}-{n}")
        app.save(evaluator)
        for i in range(commands):
            loaded: Any = app.repository.get(evaluator.id)
            loaded.declare_ties([] if i % 2 else TIES)
            app.save(loaded)
    return entities * (commands + 1) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=100)
    parser.add_argument("--commands", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    configure(level=logging.WARNING)
    ours: list[float] = []
    theirs: list[float] = []
    with tempfile.TemporaryDirectory() as folder:
        engine = Engine(
            f"sqlite:///{Path(folder) / 'filiere.db'}", clock=SimulatedClock(datetime(2022, 3, 1, tzinfo=UTC))
        )
        app = Evaluators(
            env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(Path(folder) / "peer.db")}
        )
        for r in range(args.rounds):
            ours.append(filiere_round(engine, args.entities, args.commands, f"f{r}"))
            theirs.append(peer_round(app, args.entities, args.commands, f"p{r}"))
    ratios = [a / b for a, b in zip(ours, theirs, strict=True)]
    print(f"rounds={args.rounds} entities={args.entities} commands/entity={args.commands} (+1 creation)")
    print(f"filiere       {statistics.median(ours):8,.0f} commands/s")
    print(f"eventsourcing {statistics.median(theirs):8,.0f} commands/s")
    print(
        f"filiere/eventsourcing {statistics.median(ratios):.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f})"
    )


if __name__ == "__main__":
    main()
