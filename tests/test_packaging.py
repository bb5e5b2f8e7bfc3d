"""The wheel holds the four packages and the shipped calls, and installs a working command."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installs_in_a_fresh_environment(tmp_path: Path) -> None:
    """Build the wheel, install it in a new virtualenv, run ``filiere --help`` and a diagram."""
    pip = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--quiet",
        "--wheel-dir",
        str(tmp_path),
        str(ROOT),
    ]
    subprocess.run(pip, check=True, timeout=300)
    wheel = next(tmp_path.glob("filiere-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for package in ("workflow", "states", "handlers", "scheduler"):
        assert f"{package}/__init__.py" in names
    assert "workflow/examples/calls/manifestazione-2022.toml" in names
    assert not any(name.startswith("tests/") for name in names)

    env_dir = tmp_path / "env"
    venv.create(env_dir, with_pip=False)  # installed into by this pip: no ensurepip, no byte-compiling
    python = env_dir / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-compile"]
    subprocess.run([*install, str(wheel)], check=True, timeout=600)
    helped = subprocess.run(
        [env_dir / "bin" / "filiere", "--help"], capture_output=True, text=True, check=True
    )
    assert "demo" in helped.stdout
    drawn = subprocess.run(
        [env_dir / "bin" / "filiere", "diagram", "call"], capture_output=True, text=True, check=True
    )
    assert drawn.stdout.startswith("stateDiagram-v2")
