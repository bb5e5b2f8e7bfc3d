"""Lint and types as tests, so that CI enforces them like any other rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["workflow", "states", "handlers", "scheduler"]


def tool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a Python tool of this environment from the project root."""
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )


@pytest.mark.parametrize(
    "command",
    [("ruff", "check", "."), ("ruff", "format", "--check", ".")],
    ids=["ruff-check", "ruff-format"],
)
def test_ruff(command: tuple[str, ...]) -> None:
    """``ruff check`` and ``ruff format --check`` are clean."""
    result = tool(*command)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    """``mypy --strict`` is clean on the four packages."""
    result = tool("mypy", *PACKAGES)
    assert result.returncode == 0, result.stdout + result.stderr
