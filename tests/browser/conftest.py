"""A real server and Debian's Chromium for the console's browser tests.

Locally the tests skip when Chromium or Playwright is missing; under ``CI=true``
they must run (``.ci/run`` installs Chromium with apt when it is absent).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.factories import World, rome
from workflow.clock import SimulatedClock
from workflow.engine import Engine
from workflow.http import keys

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _require(condition: bool, why: str) -> None:
    if not condition:
        if os.environ.get("CI") == "true":
            pytest.fail(f"required under CI=true: {why}")
        pytest.skip(why)


@dataclass
class Site:
    """The console of a seeded database, served on a free local port."""

    url: str
    world: World
    keys: dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(world: World) -> None:
    world.open_call()
    world.at(2022, 9, 10, 11)
    for n, owner in enumerate(("capofila.alfa", "capofila.beta", "capofila.gamma")):
        world.submitted(owner, partnership=world.partnership(owner, start=1 + 40 * n))
    world.draft("capofila.delta", partnership=world.partnership("capofila.delta", start=200))
    world.at(2022, 9, 20, 10)


@pytest.fixture(name="site", scope="module")
def _site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    _require(CHROMIUM is not None, "Debian's chromium is not installed (apt-get install -y chromium)")
    import uvicorn

    from workflow.http.api import create_app

    path = tmp_path_factory.mktemp("console") / "console.db"
    clock = SimulatedClock(rome(2022, 2, 25, 10))
    engine = Engine(f"sqlite:///{path}", clock=clock)
    world = World(engine=engine, clock=clock, path=str(path))
    _seed(world)
    secrets = {
        role: keys.create(engine.db, actor=actor, role=role, now=clock.now())[1]
        for actor, role in (("op.rossi", "operator"), ("corte.conti", "auditor"))
    }
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the console's server did not start"
    yield Site(f"http://127.0.0.1:{port}", world, secrets)
    server.should_exit = True
    thread.join(10)
    engine.db.dispose()


@pytest.fixture(name="browser", scope="module")
def _browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        _require(False, "playwright is not installed")
        raise
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--disable-background-networking", "--disable-component-update", "--no-first-run"],
        )
        yield browser
        browser.close()


@pytest.fixture(name="page")
def _page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        locale="it-IT", accept_downloads=True, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    yield page
    context.close()


AXE = Path(__file__).parents[1] / "vendor" / "axe-core" / "axe.min.js"
SHOTS = Path(__file__).parents[2] / "docs" / "console"
