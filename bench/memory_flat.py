"""Memory while firing on many proposals one after another: it must stay flat.

Run: ``.venv/bin/python bench/memory_flat.py [--proposals 100000] [--every 10000]``

One engine on a SQLite file; the 2022 call opened; one registered
partnership; then, for each proposal in turn, ``create`` a draft and
``submit`` it (2 fires, 2 transactions). Every ``--every`` proposals the
script prints the process's RSS and how many models the proposal machine
holds: the engine runs each trigger on a scratch token that the shared
``transitions.Machine`` must not keep (LIBRARIES.md, "models are retained").
The baseline is the RSS after the first ``--every`` proposals, once caches are
warm; the figure is the growth from there to the end.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import tempfile
import time
from pathlib import Path


def rss_mb() -> float:
    """This process's resident set size now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=10_000)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.factories import World, rome
    from workflow.clock import SimulatedClock
    from workflow.engine import Engine
    from workflow.logconfig import configure

    configure(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        clock = SimulatedClock(rome(2022, 3, 1, 9))
        engine = Engine(f"sqlite:///{Path(folder) / 'memory.db'}", clock=clock)
        world = World(engine=engine, clock=clock, path=str(Path(folder) / "memory.db"))
        world.open_call()
        partnership = world.partnership("capofila.alfa")
        machine = engine._bound("proposal").machine
        print(f"{'proposals':>10} {'fires':>8} {'RSS MB':>8} {'machine models':>15} {'fires/s':>8}")
        baseline, started = 0.0, time.perf_counter()
        for n in range(1, args.proposals + 1):
            proposal = world.draft("capofila.alfa", partnership=partnership)
            engine.fire("proposal", proposal, "submit", actor="capofila.alfa", role="applicant")
            if n % args.every == 0:
                gc.collect()
                now = rss_mb()
                baseline = baseline or now
                rate = 2 * n / (time.perf_counter() - started)
                print(f"{n:>10,} {2 * n:>8,} {now:>8.1f} {len(machine.models):>15} {rate:>8.0f}", flush=True)
        growth = rss_mb() - baseline
        print(f"growth after warm-up: {growth:+.1f} MB over {args.proposals - args.every:,} proposals")


if __name__ == "__main__":
    main()
