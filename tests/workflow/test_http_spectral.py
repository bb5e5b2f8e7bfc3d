"""``docs/openapi.json`` against the Italian API guidelines' Spectral rule set: no error.

The rule set is vendored in ``tests/fixtures/spectral/`` (its README says from
where). The linter is Stoplight's ``spectral`` (npm ``@stoplight/spectral-cli``):
found on the PATH or where ``.ci/run`` installs it. Locally the test skips
when it is absent; under ``CI=true`` it is required, as ``.ci/run`` installs it.
Warnings are allowed (no ``servers``: each administration serves the API under
its own address), errors are not.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
RULES = ROOT / "tests" / "fixtures" / "spectral" / "italian-guidelines.yml"
DOCUMENT = ROOT / "docs" / "openapi.json"
INSTALLED = ROOT / ".ci" / "spectral" / "node_modules" / ".bin" / "spectral"


def _spectral() -> str | None:
    return shutil.which("spectral") or (str(INSTALLED) if INSTALLED.exists() else None)


@pytest.fixture(name="spectral")
def _spectral_binary() -> str:
    found = shutil.which("spectral") or (str(INSTALLED) if INSTALLED.exists() else None)
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("spectral is required under CI=true (.ci/run installs it)")
        pytest.skip("spectral is not installed (npm install @stoplight/spectral-cli)")
    return found


def _errors(spectral: str, document: Path) -> list[str]:
    """The findings of severity error, as ``code: message at path``."""
    run = subprocess.run(
        [spectral, "lint", "--ruleset", str(RULES), "--format", "json", "--quiet", str(document)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    start = run.stdout.find("[")
    assert start >= 0, run.stdout + run.stderr
    findings = json.loads(run.stdout[start:])
    return [
        f"{f['code']}: {f['message']} at {'/'.join(map(str, f['path']))}"
        for f in findings
        if f["severity"] == 0
    ]


def test_the_document_passes_the_italian_rules(spectral: str) -> None:
    assert _errors(spectral, DOCUMENT) == []


def test_the_rules_bite(spectral: str, tmp_path: Path) -> None:
    """The same document with one error answered as plain JSON and no contact: two errors."""
    document = json.loads(DOCUMENT.read_text())
    del document["info"]["contact"]
    answer = document["paths"]["/v1/whoami"]["get"]["responses"]["401"]
    answer["content"] = {"application/json": answer["content"]["application/problem+json"]}
    broken = tmp_path / "openapi.json"
    broken.write_text(json.dumps(document))
    assert {e.split(":")[0] for e in _errors(spectral, broken)} == {
        "use-problem-json-for-errors",
        "has-contact",
    }
