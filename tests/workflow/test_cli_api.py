"""``filiere apikey``, ``filiere webhook`` and ``filiere serve``, run as operators run them."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.workflow.test_cli import FILIERE, run


@pytest.fixture(name="initialised", scope="module")
def _initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database made by ``filiere init`` once per module (each CLI start costs about a second)."""
    path = tmp_path_factory.mktemp("init") / "api.db"
    assert run("--db", f"sqlite:///{path}", "init").returncode == 0
    assert not Path(f"{path}-wal").exists()  # all in the file: a copy of it is the whole database
    return path


@pytest.fixture(name="db")
def _db(initialised: Path, tmp_path: Path) -> str:
    """A copy of the initialised database, the test's own."""
    shutil.copyfile(initialised, tmp_path / "api.db")
    return f"sqlite:///{tmp_path / 'api.db'}"


def test_apikey_create_list_revoke(db: str) -> None:
    """A key is shown once at creation, listed without its secret, and can be revoked."""
    created = run("--db", db, "apikey", "create", "--actor", "sistema.bandi", "--role", "operator", "--json")
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert key["key"].startswith(f"fk_{key['id']}_")
    listed = run("--db", db, "apikey", "list", "--json")
    assert key["key"] not in listed.stdout
    assert [k["id"] for k in json.loads(listed.stdout)["keys"]] == [key["id"]]
    revoked = run("--db", db, "apikey", "revoke", key["id"], "--json")
    assert json.loads(revoked.stdout)["revoked_at"] is not None


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("apikey", "create", "--actor", "x", "--role", "king"), 8),
        (("apikey", "revoke", "nope"), 3),
        (("webhook", "add", "ftp://x"), 8),
        (("webhook", "add", "http://169.254.169.254/latest/meta-data/", "--allow-private"), 8),
        (("webhook", "add", "http://127.0.0.1:8080/x"), 8),
        (("webhook", "add", "https://x.example/", "--secret", "s3cret"), 8),
        (("webhook", "remove", "nope"), 3),
    ],
)
def test_bad_input_is_typed_and_writes_nothing(db: str, args: tuple[str, ...], code: int) -> None:
    result = run("--db", db, *args)
    assert result.returncode == code
    assert result.stderr.startswith("error: ")
    assert json.loads(run("--db", db, "apikey", "list", "--json").stdout)["keys"] == []
    assert json.loads(run("--db", db, "webhook", "list", "--json").stdout)["webhooks"] == []


def test_webhook_add_list_deliver_once(db: str) -> None:
    """An unreachable URL: deliver --once records the failure, list shows it, never the credentials."""
    url = "http://relay:hunter2@127.0.0.1:1/x"
    added = run("--db", db, "webhook", "add", url, "--from-seq", "0", "--allow-private")
    assert added.returncode == 0, added.stderr
    assert "hunter2" not in added.stdout + added.stderr
    assert "127.0.0.1:1/x (with credentials, kept apart)" in added.stdout
    listed = json.loads(run("--db", db, "webhook", "list", "--json").stdout)["webhooks"]
    assert listed[0]["url"] == "http://127.0.0.1:1/x"
    assert listed[0]["credentials"] is True
    from workflow.config import example_call_path

    assert run("--db", db, "load", "call", str(example_call_path("manifestazione-2022"))).returncode == 0
    delivered = run("--db", db, "webhook", "deliver", "--once")
    assert (delivered.returncode, delivered.stdout.strip()) == (0, "0 events delivered")
    assert "hunter2" not in delivered.stderr
    (hook,) = json.loads(run("--db", db, "webhook", "list", "--json").stdout)["webhooks"]
    assert (hook["id"], hook["attempts"], hook["delivered_seq"]) == (listed[0]["id"], 1, 0)
    assert hook["next_attempt_at"] is not None
    text = run("--db", db, "webhook", "list")
    assert "1 failed attempts" in text.stdout
    assert "hunter2" not in text.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(name="server")
def _server(db: str) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen([FILIERE, "--db", db, "serve", "--port", str(port), "--no-webhooks"])
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("filiere serve did not start")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_answers_over_tcp(db: str, server: str) -> None:
    """A started server: a key made with the CLI works over real HTTP; the spec is served."""
    key = json.loads(
        run("--db", db, "apikey", "create", "--actor", "corte.conti", "--role", "auditor", "--json").stdout
    )
    headers = {"Authorization": f"Bearer {key['key']}"}
    assert httpx.get(f"{server}/v1/whoami", headers=headers).json()["role"] == "auditor"
    assert httpx.get(f"{server}/v1/entities/call/NOPE", headers=headers).status_code == 404
    assert httpx.get(f"{server}/openapi.json").json()["info"]["title"] == "Filiere"
