"""Per-fire cost: one shared Machine per definition vs a new Machine per call.

Run: ``.venv/bin/python bench/machine_per_call.py [--fires 2000] [--rounds 5]``

Two measurements, both as interleaved rounds so that both sides see the same
machine noise, reported as medians and as the per-round ratio:

1. the machine step alone (guards + state change on a scratch token), without
   the database: what building a Machine per call would add;
2. the whole ``Engine.fire`` (SQLite file, WAL, synchronous=FULL, one
   transaction per fire, hash-chained event) with the engine as shipped and
   with its machine step replaced by one that builds a Machine per call.
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

from handlers import MODULES
from states import DEFINITIONS
from workflow import machine as _machine
from workflow.clock import SimulatedClock
from workflow.engine import Engine, _Step
from workflow.logconfig import configure


def per_call_machine(self: _Step, bound: _machine.Bound, ctx: Any, state: str) -> str:
    """The engine's machine step, but with a Machine built for this one call."""
    fresh = _machine.build(bound.definition, bound.module)
    return _SHARED_RUN(self, fresh, ctx, state)


_SHARED_RUN = _Step._run_machine


def fire_loop(engine: Engine, fires: int, tag: str) -> float:
    """Seconds per fire of ``declare_ties`` (a self-loop with one guard)."""
    engine.create("evaluator", actor="op", role="operator", entity_id=tag, payload={"name": tag, "ties": []})
    start = time.perf_counter()
    for i in range(fires):
        engine.fire(
            "evaluator",
            tag,
            "declare_ties",
            actor=tag,
            role="evaluator",
            payload={"ties": [] if i % 2 else ["00743110157"]},
        )
    return (time.perf_counter() - start) / fires


def step_loop(steps: int, fresh: bool) -> float:
    """Seconds per machine step alone, shared or fresh Machine."""
    bound = _machine.build(DEFINITIONS["evaluator"], MODULES["evaluator"])
    from handlers.base import Context

    ctx = Context(
        "evaluator",
        "e",
        None,
        "declare_ties",
        {"ties": []},
        "e",
        "evaluator",
        datetime.now(UTC),
        None,
        lambda n: 0,
    )  # type: ignore[arg-type]
    start = time.perf_counter()
    for _ in range(steps):
        machine = _machine.build(bound.definition, bound.module).machine if fresh else bound.machine
        token = _machine.Token("active")
        machine.events["declare_ties"].trigger(token, ctx=ctx, refusals=[])
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fires", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    configure(level=logging.WARNING)  # the per-transition log line is measured elsewhere
    shared_fire, fresh_fire, shared_step, fresh_step = [], [], [], []
    with tempfile.TemporaryDirectory() as folder:
        engine = Engine(
            f"sqlite:///{Path(folder) / 'bench.db'}", clock=SimulatedClock(datetime(2022, 3, 1, tzinfo=UTC))
        )
        for r in range(args.rounds):
            shared_step.append(step_loop(args.fires * 5, fresh=False))
            fresh_step.append(step_loop(args.fires, fresh=True))
            shared_fire.append(fire_loop(engine, args.fires, f"shared{r}"))
            _Step._run_machine = per_call_machine  # type: ignore[method-assign]
            try:
                fresh_fire.append(fire_loop(engine, args.fires, f"fresh{r}"))
            finally:
                _Step._run_machine = _SHARED_RUN  # type: ignore[method-assign]

    def us(xs: list[float]) -> str:
        return f"{statistics.median(xs) * 1e6:8.1f} µs (min {min(xs) * 1e6:.1f}, max {max(xs) * 1e6:.1f})"

    def ratio(a: list[float], b: list[float]) -> float:
        return statistics.median(x / y for x, y in zip(a, b, strict=True))

    print(f"rounds={args.rounds} fires/round={args.fires}")
    print(f"machine step, shared Machine     : {us(shared_step)}")
    print(
        f"machine step, new Machine per call: {us(fresh_step)}   ratio {ratio(fresh_step, shared_step):.1f}x"
    )
    print(f"Engine.fire, shared Machine      : {us(shared_fire)}")
    print(
        f"Engine.fire, new Machine per call : {us(fresh_fire)}   ratio {ratio(fresh_fire, shared_fire):.2f}x"
    )


if __name__ == "__main__":
    main()
