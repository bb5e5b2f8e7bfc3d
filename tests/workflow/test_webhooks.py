"""Webhooks: the log delivered to a real local HTTP server, in order, at least once, signed.

The receiver listens on 127.0.0.1, a loopback address the destination policy
refuses by default: each webhook here is added with ``allow_private=True``,
as an operator would for a test receiver.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import standardwebhooks
import structlog
from sqlalchemy import insert, select

from tests.factories import World
from workflow.clock import SimulatedClock, SystemClock
from workflow.errors import InvalidInput, NotFound
from workflow.http import webhooks
from workflow.http.destinations import Policy
from workflow.store.tables import WEBHOOK

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


class Receiver:
    """A real HTTP server on localhost that records what it is sent and answers as told.

    With ``secret`` set it verifies each request with the ``standardwebhooks`` library (as
    a receiver following the specification does) and answers 401 to one it refuses.
    """

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.fail_next = 0
        self.redirect_to: str | None = None
        self.secret: str | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                self.send_response(receiver.answer(body, dict(self.headers)))
                if receiver.redirect_to:
                    self.send_header("Location", receiver.redirect_to)
                self.end_headers()

            def do_GET(self) -> None:
                receiver.received.append({"path": self.path, "headers": dict(self.headers), "body": b""})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.base}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, body: bytes, headers: dict[str, str]) -> int:
        if self.redirect_to:
            return 302
        if self.fail_next:
            self.fail_next -= 1
            return 503
        if self.secret is not None:
            try:
                standardwebhooks.Webhook(self.secret).verify(body, headers)
            except standardwebhooks.WebhookVerificationError as refused:
                self.refused.append(str(refused))
                return 401
        return 200

    def acknowledged_seqs(self) -> list[int]:
        return [json.loads(r["body"])["seq"] for r in self.received]


@pytest.fixture(name="receiver")
def _receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def add(world: World, url: str, **kw: Any) -> webhooks.Webhook:
    return webhooks.add(world.engine.db, url, world.clock.now(), allow_private=True, **kw)


def stored(world: World) -> webhooks.Webhook:
    (hook,) = webhooks.all_webhooks(world.engine.db)
    return hook


def test_every_event_in_order_with_retries(world: World, receiver: Receiver) -> None:
    """Failures are retried with the same event after a back-off; order is never broken."""
    hook = add(world, receiver.url, from_seq=0)
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
    assert (stored(world).delivered_seq, stored(world).attempts, stored(world).last_error) == (head, 0, "")
    assert (hook.id, stored(world).next_attempt_at) == (stored(world).id, None)


def test_signed_per_standard_webhooks(world: World, receiver: Receiver) -> None:
    """A receiver verifies each request with the standardwebhooks library; the id is stable per event."""
    receiver.secret = SECRET
    hook = add(world, receiver.url, secret=SECRET, from_seq=0)
    world.open_call()
    assert webhooks.Deliverer(world.engine.db, clock=world.clock).run_once() == 2
    assert receiver.refused == []
    first = receiver.received[0]
    event = json.loads(first["body"])
    assert (event["seq"], event["trigger"], first["headers"]["X-Filiere-Seq"]) == (1, "create", "1")
    assert first["headers"]["webhook-id"] == f"msg_{hook.id}_1"
    assert event["hash"] == next(world.engine.events()).hash
    assert "X-Filiere-Signature" not in first["headers"]  # the old scheme, without a timestamp, is gone


def test_a_replayed_delivery_is_refused(world: World, receiver: Receiver) -> None:
    """A delivery signed ten minutes ago (a captured one, sent again) is refused; a fresh one is not."""
    receiver.secret = SECRET
    add(world, receiver.url, secret=SECRET, from_seq=0)
    world.open_call()
    ten_minutes_ago = SimulatedClock(SystemClock().now() - timedelta(minutes=10))
    late = webhooks.Deliverer(world.engine.db, clock=world.clock, signing_clock=ten_minutes_ago)
    assert late.run_once() == 0
    assert receiver.refused == ["Message timestamp too old"]
    assert (stored(world).delivered_seq, stored(world).last_error) == (0, "HTTP 401")
    # The captured body and signature under a fresh timestamp: the signature no longer matches.
    captured = receiver.received[0]
    forged = {**captured["headers"], "webhook-timestamp": str(int(SystemClock().now().timestamp()))}
    with pytest.raises(standardwebhooks.WebhookVerificationError, match="No matching signature"):
        standardwebhooks.Webhook(SECRET).verify(captured["body"], forged)
    world.clock.advance(seconds=1)
    assert webhooks.Deliverer(world.engine.db, clock=world.clock).run_once() == 2


def test_the_specifications_example() -> None:
    """The signature of the example published with the Standard Webhooks specification."""
    headers = webhooks.signed_headers(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        datetime.fromtimestamp(1614265330, tz=UTC),
        b'{"test": 2432232314}',
    )
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


@pytest.mark.parametrize("secret", ["s3cret", "whsec_short", "whsec_" + "A" * 200, "whsec_!!!!"])
def test_a_secret_must_be_a_standard_one(world: World, receiver: Receiver, secret: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        add(world, receiver.url, secret=secret)
    assert refused.value.field == "secret"
    assert webhooks.all_webhooks(world.engine.db) == []


def test_a_redirect_is_not_followed(world: World, receiver: Receiver) -> None:
    """A 3xx is a failed attempt: the event is not delivered, and the Location is never requested."""
    receiver.redirect_to = f"{receiver.base}/elsewhere"
    add(world, receiver.url, from_seq=0)
    world.open_call()
    assert webhooks.Deliverer(world.engine.db, clock=world.clock).run_once() == 0
    assert [r["path"] for r in receiver.received] == ["/hook"]
    hook = stored(world)
    assert (hook.delivered_seq, hook.attempts) == (0, 1)
    assert "redirect" in hook.last_error


def test_credentials_are_kept_apart_and_never_shown(
    world: World, receiver: Receiver, capfd: pytest.CaptureFixture[str]
) -> None:
    """user:password@ in a URL: sent as Basic auth, never in the URL stored, listed or logged."""
    url = receiver.url.replace("http://", "http://protocollo:pa%40ss-w0rd@")
    hook = add(world, url, from_seq=0)
    assert (hook.url, hook.credentials) == (receiver.url, "protocollo:pa%40ss-w0rd")
    world.open_call()
    receiver.fail_next = 1
    with structlog.testing.capture_logs() as logs:
        webhooks.Deliverer(world.engine.db, clock=world.clock).run_once()
        world.clock.advance(seconds=1)
        webhooks.Deliverer(world.engine.db, clock=world.clock).run_once()
    assert any(entry["event"] == "webhook delivery failed" for entry in logs)
    expected = "Basic " + base64.b64encode(b"protocollo:pa@ss-w0rd").decode()
    assert {r["headers"]["Authorization"] for r in receiver.received} == {expected}
    listed = json.dumps([h.to_json() for h in webhooks.all_webhooks(world.engine.db)])
    out, err = capfd.readouterr()
    for shown in (repr(logs), listed, out, err):
        assert "pa%40ss" not in shown
        assert "pa@ss" not in shown
    assert json.loads(listed)[0]["credentials"] is True


@pytest.mark.parametrize(
    ("url", "allow_private"),
    [
        ("http://127.0.0.1:8080/hook", False),
        ("http://localhost/hook", False),
        ("http://10.1.2.3/hook", False),
        ("http://[::1]/hook", False),
        ("http://[::ffff:127.0.0.1]/hook", False),
        ("http://169.254.169.254/latest/meta-data/", True),  # cloud metadata: not even with the flag
        ("http://[fe80::1]/hook", True),
        ("http://0.0.0.0/hook", True),
    ],
)
def test_a_private_destination_is_refused_at_add(world: World, url: str, allow_private: bool) -> None:
    with pytest.raises(InvalidInput) as refused:
        webhooks.add(world.engine.db, url, world.clock.now(), allow_private=allow_private)
    assert refused.value.field == "url"
    assert webhooks.all_webhooks(world.engine.db) == []


def test_the_allow_and_deny_lists(world: World, receiver: Receiver) -> None:
    """FILIERE_WEBHOOK_ALLOW admits a CIDR or a host; FILIERE_WEBHOOK_DENY wins over everything."""
    metadata = "http://169.254.169.254/latest/"
    allow = Policy.from_env({"FILIERE_WEBHOOK_ALLOW": "169.254.169.254/32, localhost"})
    webhooks.add(world.engine.db, metadata, world.clock.now(), policy=allow)
    webhooks.add(world.engine.db, "http://localhost:9/x", world.clock.now(), policy=allow)
    deny = Policy.from_env({"FILIERE_WEBHOOK_DENY": "127.0.0.0/8"})
    with pytest.raises(InvalidInput, match="denied by FILIERE_WEBHOOK_DENY"):
        webhooks.add(world.engine.db, receiver.url, world.clock.now(), allow_private=True, policy=deny)
    with pytest.raises(InvalidInput, match="FILIERE_WEBHOOK_ALLOW"):
        Policy.from_env({"FILIERE_WEBHOOK_ALLOW": "not/a/cidr"})


def test_a_private_destination_is_refused_at_delivery(world: World, receiver: Receiver) -> None:
    """Checked again on the addresses resolved at each delivery: nothing is sent to a refused one."""
    allow = Policy.from_env({"FILIERE_WEBHOOK_ALLOW": "localhost"})
    webhooks.add(
        world.engine.db, receiver.url.replace("127.0.0.1", "localhost"), world.clock.now(), policy=allow
    )
    with world.engine.db.begin() as connection:  # stored by an older release, unchecked
        connection.execute(
            insert(WEBHOOK).values(
                id="old",
                url="http://169.254.169.254/latest/meta-data/",
                secret=SECRET,
                allow_private=True,
                delivered_seq=0,
                attempts=0,
                last_error="",
                created_at=world.clock.now(),
            )
        )
    world.open_call()
    assert webhooks.Deliverer(world.engine.db, clock=world.clock, policy=Policy()).run_once() == 0
    assert receiver.received == []
    for hook in webhooks.all_webhooks(world.engine.db):
        assert (hook.delivered_seq, hook.attempts) == (0, 1)
        assert hook.last_error.startswith("destination refused: ")
    assert "link-local" in next(h for h in webhooks.all_webhooks(world.engine.db) if h.id == "old").last_error


def test_retry_state_survives_a_restart(contract_world: World, receiver: Receiver) -> None:
    """A new deliverer, on a new engine, keeps the back-off the first one stored (both backends)."""
    world = contract_world
    add(world, receiver.url, from_seq=0)
    world.open_call()
    receiver.fail_next = 1
    assert webhooks.Deliverer(world.engine.db, clock=world.clock).run_once() == 0
    before = stored(world)
    assert (before.attempts, before.last_error) == (1, "HTTP 503")
    assert before.next_attempt_at == world.clock.now() + timedelta(seconds=1)
    other = world.another_engine()  # as a restarted process opens the database
    try:
        restarted = webhooks.Deliverer(other.db, clock=world.clock)
        assert restarted.run_once() == 0
        assert len(receiver.received) == 1  # still waiting: not tried again
        world.clock.advance(seconds=1)
        assert restarted.run_once() == 2
    finally:
        other.db.dispose()
    assert (stored(world).attempts, stored(world).next_attempt_at, stored(world).delivered_seq) == (
        0,
        None,
        2,
    )
    with world.engine.db.connect() as connection:
        assert connection.execute(select(WEBHOOK.c.last_error)).scalar() == ""


def test_new_hooks_start_from_now_and_removed_hooks_stop(world: World, receiver: Receiver) -> None:
    world.open_call()
    hook = add(world, receiver.url)
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
    add(world, "http://127.0.0.1:1/hook", from_seq=0)
    world.open_call()
    webhooks.Deliverer(world.engine.db, clock=world.clock, timeout=2).run_once()
    assert (stored(world).delivered_seq, stored(world).attempts) == (0, 1)
    assert "refused" in stored(world).last_error.lower()


@pytest.mark.parametrize("url", ["ftp://example.org/x", "not a url", "file:///etc/passwd", "http:///x"])
def test_only_http_urls(world: World, url: str) -> None:
    with pytest.raises(InvalidInput):
        webhooks.add(world.engine.db, url, world.clock.now())
    assert webhooks.all_webhooks(world.engine.db) == []


@pytest.mark.postgres
def test_one_deliverer_per_webhook_on_postgres(pg_engine: Any, clock: Any, receiver: Receiver) -> None:
    """Two processes serving one PostgreSQL database: while one delivers a webhook, the other skips it."""
    import hashlib

    from sqlalchemy import text

    hook = webhooks.add(pg_engine.db, receiver.url, clock.now(), from_seq=0, allow_private=True)
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


def test_the_migration_takes_credentials_out_of_stored_urls(tmp_path: Any) -> None:
    """A webhook stored by the previous release with user:password@ in its URL: split on upgrade."""
    from sqlalchemy import text

    from workflow.store.db import make_engine
    from workflow.store.schema import migrate

    db = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(db, "0003")
    with db.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO webhook (id, url, secret, delivered_seq, attempts, last_error, created_at)"
                " VALUES ('h1', 'https://relay:s3cret@hooks.example/in?x=1', 'old', 7, 0, '', '2026-01-01')"
            )
        )
    migrate(db)
    (hook,) = webhooks.all_webhooks(db)
    assert (hook.url, hook.credentials, hook.delivered_seq) == (
        "https://hooks.example/in?x=1",
        "relay:s3cret",
        7,
    )
    assert (hook.allow_private, hook.next_attempt_at) == (False, None)
    migrate(db, "0003", down=True)
    with db.connect() as connection:
        assert connection.execute(text("SELECT url FROM webhook")).scalar() == (
            "https://relay:s3cret@hooks.example/in?x=1"
        )
    db.dispose()
