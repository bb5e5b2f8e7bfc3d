"""Webhooks: every committed event delivered to a URL, in order, at least once, signed.

The event log is the outbox. An event is written in the same transaction as
the change it records, so nothing committed can be missed and nothing rolled
back can be sent. Each webhook keeps ``delivered_seq``, the last event its URL
acknowledged with a 2xx; the deliverer POSTs the next event, and only on a 2xx
moves ``delivered_seq`` on. A failure (a non-2xx answer, a timeout, a refused
connection) is counted and retried after a back-off that doubles up to five
minutes, always with the same event: order is never broken, and a receiver
that acknowledged but whose answer was lost gets that event again (at least
once: receivers deduplicate on ``seq``).

Every request carries ``X-Filiere-Signature: sha256=<hex>``, the HMAC-SHA256
of the body under the webhook's secret, and ``X-Filiere-Seq``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import structlog
from sqlalchemy import Engine, func, insert, select, text, update

from workflow.clock import Clock, SystemClock
from workflow.errors import InvalidInput, NotFound
from workflow.store.db import reading
from workflow.store.tables import EVENT, WEBHOOK

log = structlog.get_logger("filiere.webhooks")
MAX_BACKOFF = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Webhook:
    """A webhook as stored."""

    id: str
    url: str
    secret: str
    delivered_seq: int
    attempts: int
    last_error: str
    created_at: datetime
    disabled_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready, without the secret."""
        return {
            "id": self.id,
            "url": self.url,
            "delivered_seq": self.delivered_seq,
            "attempts": self.attempts,
            "last_error": self.last_error,
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


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def add(
    db: Engine, url: str, now: datetime, *, secret: str | None = None, from_seq: int | None = None
) -> Webhook:
    """Register ``url``; it receives events after ``from_seq`` (default: those committed from now on).

    Raises:
        InvalidInput: not an http(s) URL.
    """
    if not url.startswith(("http://", "https://")) or len(url) > 2000 or not url.isprintable():
        raise InvalidInput("url", "must be an http:// or https:// URL")
    if from_seq is None:
        with reading(db) as connection:
            from_seq = int(connection.execute(select(func.max(EVENT.c.position))).scalar() or 0)
    hook_id, secret = secrets.token_hex(6), secret or secrets.token_urlsafe(24)
    with db.begin() as connection:
        connection.execute(
            insert(WEBHOOK).values(
                id=hook_id,
                url=url,
                secret=secret,
                delivered_seq=from_seq,
                attempts=0,
                last_error="",
                created_at=now,
            )
        )
    return Webhook(hook_id, url, secret, from_seq, 0, "", now, None)


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
    """Delivers the log to every active webhook; one thread, or one call of :meth:`run_once`."""

    def __init__(
        self, db: Engine, *, clock: Clock | None = None, timeout: float = 10.0, batch: int = 100
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.timeout = timeout
        self.batch = batch
        self._stop = threading.Event()
        self._retry_at: dict[str, datetime] = {}

    def run_once(self) -> int:
        """Deliver what is due to every webhook; return how many events were acknowledged."""
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
        if self.clock.now() < self._retry_at.get(
            hook.id, datetime.min.replace(tzinfo=self.clock.now().tzinfo)
        ):
            return 0
        with _exclusive(self.db, hook.id) as mine:
            return self._deliver_pending(hook) if mine else 0

    def _deliver_pending(self, hook: Webhook) -> int:
        with reading(self.db) as connection:
            # Its cursor now, not as the round began: another process may have moved it since.
            after = connection.execute(
                select(WEBHOOK.c.delivered_seq).where(WEBHOOK.c.id == hook.id)
            ).scalar_one()
            rows = connection.execute(
                # Sealed events only, by position: one that committed late cannot be skipped.
                select(EVENT).where(EVENT.c.position > after).order_by(EVENT.c.position).limit(self.batch)
            ).all()
        from workflow.store.eventlog import event_from_row

        done = 0
        for row in rows:
            event = event_from_row(row)
            error = self._post(hook, event.seq, orjson.dumps(event.to_json(), option=orjson.OPT_SORT_KEYS))
            if error:
                self._failed(hook, error)
                return done
            self._acknowledged(hook, int(event.position or 0))
            done += 1
        return done

    def _post(self, hook: Webhook, seq: int, body: bytes) -> str:
        request = urllib.request.Request(
            hook.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-Filiere-Seq": str(seq),
                "X-Filiere-Webhook": hook.id,
                "X-Filiere-Signature": sign(hook.secret, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return "" if 200 <= status < 300 else f"HTTP {status}"

    def _acknowledged(self, hook: Webhook, seq: int) -> None:
        with self.db.begin() as connection:
            connection.execute(
                update(WEBHOOK)
                .where(WEBHOOK.c.id == hook.id)
                .values(delivered_seq=seq, attempts=0, last_error="")
            )
        self._retry_at.pop(hook.id, None)

    def _failed(self, hook: Webhook, error: str) -> None:
        with self.db.begin() as connection:
            attempts = int(
                connection.execute(
                    update(WEBHOOK)
                    .where(WEBHOOK.c.id == hook.id)
                    .values(attempts=WEBHOOK.c.attempts + 1, last_error=error[:2000])
                    .returning(WEBHOOK.c.attempts)
                ).scalar_one()
            )
        backoff = min(timedelta(seconds=2 ** min(attempts - 1, 20)), MAX_BACKOFF)
        self._retry_at[hook.id] = self.clock.now() + backoff
        log.warning("webhook delivery failed", webhook=hook.id, url=hook.url, attempts=attempts, error=error)
