"""Webhooks: every sealed event delivered to a URL, in sealed order, at least once, signed.

The event log is the outbox. An event is written in the same transaction as
the change it records, so nothing committed can be missed and nothing rolled
back can be sent. Each webhook keeps ``delivered_seq``, the sealed position of
the last event its URL acknowledged with a 2xx; the deliverer POSTs the next event, and only on a 2xx
moves ``delivered_seq`` on. A failure (a non-2xx answer, a redirect, which is
never followed, a timeout, a refused connection or destination) is counted and
retried after a back-off that doubles up to five minutes, always with the same
event: order is never broken, and a receiver that acknowledged but whose
answer was lost gets that event again (at least once: receivers deduplicate on
``webhook-id``). The retry state (attempts, next attempt, last error) is in the
``webhook`` row, so a restarted deliverer keeps the back-off.

Requests are signed per the Standard Webhooks specification
(https://www.standardwebhooks.com): ``webhook-id`` (the same on every retry of
an event), ``webhook-timestamp`` (the real time of the attempt, whatever clock
the engine runs on: receivers compare it with theirs and refuse an old one, so
a captured delivery cannot be replayed) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``), made with the
``standardwebhooks`` library. Where a request may go is ``destinations.py``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

import httpx
import orjson
import standardwebhooks
from sqlalchemy import Engine, func, insert, select, text, update

from workflow.clock import Clock, SystemClock
from workflow.errors import InvalidInput, NotFound
from workflow.http.destinations import Policy, Refused, split_url
from workflow.logconfig import get_logger
from workflow.sequencer import Sequencer
from workflow.store.db import reading
from workflow.store.tables import EVENT, WEBHOOK

log = get_logger("filiere.webhooks")
MAX_BACKOFF = timedelta(minutes=5)
SECRET_PREFIX = "whsec_"


@dataclass(frozen=True, slots=True)
class Webhook:
    """A webhook as stored: its URL never holds credentials, they are ``credentials``."""

    id: str
    url: str
    secret: str
    delivered_seq: int
    attempts: int
    last_error: str
    created_at: datetime
    disabled_at: datetime | None
    credentials: str | None = None
    allow_private: bool = False
    next_attempt_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, without the secret or the credentials."""
        return {
            "id": self.id,
            "url": self.url,
            "credentials": self.credentials is not None,
            "allow_private": self.allow_private,
            "delivered_seq": self.delivered_seq,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "next_attempt_at": self.next_attempt_at.isoformat() if self.next_attempt_at else None,
            "created_at": self.created_at.isoformat(),
            "disabled_at": self.disabled_at.isoformat() if self.disabled_at else None,
        }


@contextmanager
def _exclusive(db: Engine, hook_id: str) -> Iterator[bool]:
    """Whether this process may deliver ``hook_id`` now: one deliverer per webhook at a time.

    On PostgreSQL a session advisory lock per webhook, tried, not waited for: of
    several ``filiere serve`` processes, one delivers each webhook and the others
    skip it, so events are not sent twice or out of order. SQLite databases have
    one process delivering (``docs/deployment.md``).
    """
    if db.dialect.name != "postgresql":
        yield True
        return
    key = int.from_bytes(
        hashlib.sha256(f"filiere-webhook:{hook_id}".encode()).digest()[:8], "big", signed=True
    )
    with db.connect() as connection:
        mine = bool(connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        connection.commit()
        try:
            yield mine
        finally:
            if mine:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                connection.commit()


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _check_secret(secret: str) -> str:
    body = secret.removeprefix(SECRET_PREFIX)
    try:
        size = len(base64.b64decode(body, validate=True)) if secret.startswith(SECRET_PREFIX) else 0
    except (binascii.Error, ValueError):
        size = 0
    if not 24 <= size <= 64:
        raise InvalidInput(
            "secret",
            "must be whsec_ followed by the base64 of 24 to 64 random bytes (leave it out to get one)",
        )
    return secret


def _key(secret: str) -> bytes:
    """The HMAC key: a ``whsec_`` secret's bytes; a secret stored before 0.2, its UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    return secret.encode()


def signed_headers(secret: str, message_id: str, moment: datetime, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers for ``body`` sent at ``moment``."""
    at = datetime.fromtimestamp(int(moment.timestamp()), tz=UTC)
    signature = standardwebhooks.Webhook(_key(secret)).sign(message_id, at, body.decode())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def add(
    db: Engine,
    url: str,
    now: datetime,
    *,
    secret: str | None = None,
    from_seq: int | None = None,
    allow_private: bool = False,
    policy: Policy | None = None,
) -> Webhook:
    """Register ``url``; it receives events after ``from_seq`` (default: those committed from now on).

    Credentials in the URL are stored apart from it. The destination is checked
    now (and again at each delivery): see :mod:`workflow.http.destinations`.

    Raises:
        InvalidInput: not an http(s) URL, a destination refused, or a malformed secret.
    """
    target = split_url(url)
    secret = _check_secret(secret) if secret is not None else new_secret()
    try:
        (policy or Policy.from_env()).addresses(target.url, allow_private=allow_private)
    except Refused as refused:
        raise InvalidInput("url", str(refused)) from None
    if from_seq is None:
        with reading(db) as connection:
            from_seq = int(connection.execute(select(func.max(EVENT.c.position))).scalar() or 0)
    hook = Webhook(
        secrets.token_hex(6),
        target.url,
        secret,
        from_seq,
        0,
        "",
        now,
        None,
        target.credentials,
        allow_private,
    )
    with db.begin() as connection:
        connection.execute(
            insert(WEBHOOK).values(
                id=hook.id,
                url=hook.url,
                secret=secret,
                credentials=hook.credentials,
                allow_private=allow_private,
                delivered_seq=from_seq,
                attempts=0,
                last_error="",
                created_at=now,
            )
        )
    return hook


def remove(db: Engine, hook_id: str, now: datetime) -> None:
    """Stop delivering to a webhook (kept, disabled, for the record).

    Raises:
        NotFound: no such webhook.
    """
    with db.begin() as connection:
        changed = connection.execute(
            update(WEBHOOK).where(WEBHOOK.c.id == hook_id).values(disabled_at=now)
        ).rowcount
    if changed != 1:
        raise NotFound("webhook", hook_id)


def all_webhooks(db: Engine, *, active_only: bool = False) -> list[Webhook]:
    """Every webhook, oldest first."""
    query = select(WEBHOOK).order_by(WEBHOOK.c.created_at, WEBHOOK.c.id)
    if active_only:
        query = query.where(WEBHOOK.c.disabled_at.is_(None))
    with reading(db) as connection:
        return [Webhook(**r._mapping) for r in connection.execute(query)]


class Deliverer:
    """Delivers the log to every active webhook; one thread, or one call of :meth:`run_once`.

    ``signing_clock`` gives ``webhook-timestamp`` (real time by default, even when the
    engine's clock is simulated); ``clock`` times the back-off, like everything else.
    """

    def __init__(
        self,
        db: Engine,
        *,
        clock: Clock | None = None,
        timeout: float = 10.0,
        batch: int = 100,
        policy: Policy | None = None,
        signing_clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.signing_clock = signing_clock or SystemClock()
        self.timeout = timeout
        self.batch = batch
        self.policy = policy or Policy.from_env()
        self._stop = threading.Event()
        self._sealer = Sequencer(db)

    def run_once(self) -> int:
        """Deliver what is due to every webhook; return how many events were acknowledged.

        Events committed before the round are sealed first (on PostgreSQL the
        engine's sealer may not have reached them yet), as the feed does.
        """
        if not self._sealer.inline:
            self._sealer.seal()
        return sum(self._deliver(hook) for hook in all_webhooks(self.db, active_only=True))

    def run(self, interval: float = 1.0) -> None:
        """Deliver until :meth:`stop`, looking for new events every ``interval`` seconds."""
        while not self._stop.is_set():
            try:
                delivered = self.run_once()
            except Exception:  # the database may be briefly away; never let the thread die
                log.exception("webhook delivery round failed")
                delivered = 0
            if not delivered:
                self._stop.wait(interval)

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self._stop.set()

    def _deliver(self, hook: Webhook) -> int:
        if hook.next_attempt_at is not None and self.clock.now() < hook.next_attempt_at:
            return 0
        with _exclusive(self.db, hook.id) as mine:
            return self._deliver_pending(hook) if mine else 0

    def _deliver_pending(self, hook: Webhook) -> int:
        with reading(self.db) as connection:
            # Its state now, not as the round began: another process may have moved it since.
            row = connection.execute(select(WEBHOOK).where(WEBHOOK.c.id == hook.id)).one()
            hook = Webhook(**row._mapping)
            if hook.next_attempt_at is not None and self.clock.now() < hook.next_attempt_at:
                return 0
            rows = connection.execute(
                # Sealed events only, by position: one that committed late cannot be skipped.
                select(EVENT)
                .where(EVENT.c.position > hook.delivered_seq)
                .order_by(EVENT.c.position)
                .limit(self.batch)
            ).all()
        from workflow.store.eventlog import event_from_row

        done = 0
        with httpx.Client(
            follow_redirects=False, trust_env=False, timeout=self.timeout, headers={"User-Agent": "Filiere"}
        ) as client:
            for row in rows:
                event = event_from_row(row)
                body = orjson.dumps(event.to_json(), option=orjson.OPT_SORT_KEYS)
                error = self._post(client, hook, event.seq, body)
                if error:
                    self._failed(hook, error)
                    return done
                self._acknowledged(hook, int(event.position or 0))
                done += 1
        return done

    def _post(self, client: httpx.Client, hook: Webhook, seq: int, body: bytes) -> str:
        """POST one event to an address the policy admits now; the error, or "" on a 2xx."""
        try:
            address = self.policy.addresses(hook.url, allow_private=hook.allow_private)[0]
        except Refused as refused:
            return f"destination refused: {refused}"
        url = httpx.URL(hook.url)
        headers = {
            "Content-Type": "application/json",
            "Host": url.netloc.decode("ascii"),
            "X-Filiere-Seq": str(seq),
            "X-Filiere-Webhook": hook.id,
            **signed_headers(hook.secret, f"msg_{hook.id}_{seq}", self.signing_clock.now(), body),
        }
        user, _, password = (hook.credentials or "").partition(":")
        try:
            with client.stream(
                "POST",
                url.copy_with(host=address),  # the address checked, not a name resolved again
                content=body,
                headers=headers,
                auth=httpx.BasicAuth(unquote(user), unquote(password)) if hook.credentials else None,
                extensions={"sni_hostname": url.host} if url.scheme == "https" else None,
            ) as response:
                status = response.status_code
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"
        if 300 <= status < 400:
            return f"HTTP {status}: a redirect, not followed (register the final URL)"
        return "" if 200 <= status < 300 else f"HTTP {status}"

    def _acknowledged(self, hook: Webhook, seq: int) -> None:
        with self.db.begin() as connection:
            connection.execute(
                update(WEBHOOK)
                .where(WEBHOOK.c.id == hook.id)
                .values(delivered_seq=seq, attempts=0, last_error="", next_attempt_at=None)
            )

    def _failed(self, hook: Webhook, error: str) -> None:
        attempts = hook.attempts + 1  # read under the webhook's lock: no other deliverer moved it
        backoff = min(timedelta(seconds=2 ** min(attempts - 1, 20)), MAX_BACKOFF)
        with self.db.begin() as connection:
            connection.execute(
                update(WEBHOOK)
                .where(WEBHOOK.c.id == hook.id)
                .values(
                    attempts=attempts, last_error=error[:2000], next_attempt_at=self.clock.now() + backoff
                )
            )
        log.warning("webhook delivery failed", webhook=hook.id, url=hook.url, attempts=attempts, error=error)
