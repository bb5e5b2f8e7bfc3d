"""CLI start-up: ``filiere --help`` and one ``filiere show`` against ``python -c "import sqlmodel"``.

Run: ``.venv/bin/python bench/cli_startup.py [--rounds 15]``

Each round runs the three commands once each, in a shuffled order, as fresh
processes (wall time, ``subprocess.run``). The baseline is the import every
``show`` must pay for anyway (the models are SQLModel tables). Target: each
command ≤ 2x the baseline. ``show`` reads the demo's database, made once.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def wall(command: list[str]) -> float:
    """Seconds one process takes from start to exit."""
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([str(BIN / "filiere"), "demo", "--quiet"], cwd=folder, check=True, capture_output=True)
        database = str(Path(folder) / "filiere-demo.db")
        commands = {
            "import sqlmodel": [sys.executable, "-c", "import sqlmodel"],
            "filiere --help": [str(BIN / "filiere"), "--help"],
            "filiere show": [str(BIN / "filiere"), "--db", database, "show", "proposal", "P-000001"],
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            order = list(commands)
            random.shuffle(order)
            for name in order:
                times[name].append(wall(commands[name]))
    base = times["import sqlmodel"]
    print(f"rounds={args.rounds}")
    for name, values in times.items():
        ratios = [v / b for v, b in zip(values, base, strict=True)]
        print(
            f"{name:<16} {statistics.median(values) * 1000:6.0f} ms"
            f"   vs import sqlmodel {statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
        )


if __name__ == "__main__":
    main()
