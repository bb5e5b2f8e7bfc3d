"""Webhooks: the log delivered to a real local HTTP server, in order, at least once, signed."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.factories import World
from workflow.errors import InvalidInput, NotFound
from workflow.http import webhooks


class Receiver:
    """A real HTTP server on localhost that records what it is sent and fails when told to."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail_next = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                status = 200
                if receiver.fail_next:
                    receiver.fail_next -= 1
                    status = 503
                self.send_response(status)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def acknowledged_seqs(self) -> list[int]:
        return [json.loads(r["body"])["seq"] for r in self.received]


@pytest.fixture(name="receiver")
def _receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def test_every_event_in_order_with_retries(world: World, receiver: Receiver) -> None:
    """Failures are retried with the same event after a back-off; order is never broken."""
    hook = webhooks.add(world.engine.db, receiver.url, world.clock.now(), secret="s3cret", from_seq=0)
    world.open_call()
    world.submitted()
    head = max(e.seq for e in world.engine.events())
    deliverer = webhooks.Deliverer(world.engine.db, clock=world.clock, timeout=5)
    receiver.fail_next = 2
    assert deliverer.run_once() == 0  # the first event fails: nothing else is tried
    assert deliverer.run_once() == 0  # within the back-off: not even tried
    assert len(receiver.received) == 1
    world.clock.advance(seconds=1)
    assert deliverer.run_once() == 0  # second failure
    world.clock.advance(seconds=2)
    assert deliverer.run_once() == head
    assert receiver.acknowledged_seqs() == [1, 1, 1, *range(2, head + 1)]
    (stored,) = webhooks.all_webhooks(world.engine.db)
    assert (stored.delivered_seq, stored.attempts, stored.last_error) == (head, 0, "")
    assert hook.id == stored.id


def test_signed_and_described(world: World, receiver: Receiver) -> None:
    """Each body is the event's JSON; the HMAC-SHA256 header proves who sent it."""
    webhooks.add(world.engine.db, receiver.url, world.clock.now(), secret="s3cret", from_seq=0)
    world.open_call()
    webhooks.Deliverer(world.engine.db, clock=world.clock).run_once()
    first = receiver.received[0]
    expected = "sha256=" + hmac.new(b"s3cret", first["body"], hashlib.sha256).hexdigest()
    assert first["headers"]["X-Filiere-Signature"] == expected
    event = json.loads(first["body"])
    assert (event["seq"], event["trigger"], first["headers"]["X-Filiere-Seq"]) == (1, "create", "1")
    assert event["hash"] == next(world.engine.events()).hash


def test_new_hooks_start_from_now_and_removed_hooks_stop(world: World, receiver: Receiver) -> None:
    world.open_call()
    hook = webhooks.add(world.engine.db, receiver.url, world.clock.now())
    deliverer = webhooks.Deliverer(world.engine.db, clock=world.clock)
    assert deliverer.run_once() == 0  # the call's events happened before the hook
    world.draft()
    assert deliverer.run_once() == 2  # a partnership and a draft
    webhooks.remove(world.engine.db, hook.id, world.clock.now())
    world.draft()
    assert deliverer.run_once() == 0
    with pytest.raises(NotFound):
        webhooks.remove(world.engine.db, "nope", world.clock.now())


def test_an_unreachable_url_is_recorded(world: World) -> None:
    webhooks.add(world.engine.db, "http://127.0.0.1:1/hook", world.clock.now(), from_seq=0)
    world.open_call()
    webhooks.Deliverer(world.engine.db, clock=world.clock, timeout=2).run_once()
    (stored,) = webhooks.all_webhooks(world.engine.db)
    assert (stored.delivered_seq, stored.attempts) == (0, 1)
    assert "refused" in stored.last_error.lower()


@pytest.mark.parametrize("url", ["ftp://example.org/x", "not a url", "file:///etc/passwd"])
def test_only_http_urls(world: World, url: str) -> None:
    with pytest.raises(InvalidInput):
        webhooks.add(world.engine.db, url, world.clock.now())
    assert webhooks.all_webhooks(world.engine.db) == []


@pytest.mark.postgres
def test_one_deliverer_per_webhook_on_postgres(pg_engine: Any, clock: Any, receiver: Receiver) -> None:
    """Two processes serving one PostgreSQL database: while one delivers a webhook, the other skips it."""
    import hashlib

    from sqlalchemy import text

    hook = webhooks.add(pg_engine.db, receiver.url, clock.now(), from_seq=0)
    pg_engine.create(
        "evaluator", actor="op", role="operator", entity_id="e1", payload={"name": "e", "ties": []}
    )
    digest = hashlib.sha256(f"filiere-webhook:{hook.id}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    with pg_engine.db.connect() as other:  # another process's deliverer, mid-round
        assert other.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        assert webhooks.Deliverer(pg_engine.db, clock=clock).run_once() == 0
        other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
    assert webhooks.Deliverer(pg_engine.db, clock=clock).run_once() == 1
    assert receiver.acknowledged_seqs() == [1]
