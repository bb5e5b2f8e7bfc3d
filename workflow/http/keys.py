"""API keys: who another system is on the HTTP API, and in which role it acts.

A key reads ``fk_<id>_<secret>``: the id finds the row, the secret proves the
holder. Only the SHA-256 of the secret is stored; the whole key is shown once,
when it is created. A revoked key stops working at once (every request looks
it up). The engine's role rules then apply to every request as they apply to
the CLI: an ``auditor`` key reads everything and can fire nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update

from states import ROLES
from workflow.errors import InvalidInput, NotFound
from workflow.store.db import reading
from workflow.store.tables import API_KEY

PREFIX = "fk"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as stored (never its secret)."""

    id: str
    actor: str
    role: str
    note: str
    created_at: datetime
    revoked_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "id": self.id,
            "actor": self.actor,
            "role": self.role,
            "note": self.note,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create(db: Engine, *, actor: str, role: str, now: datetime, note: str = "") -> tuple[ApiKey, str]:
    """A new key for ``actor`` in ``role``; return it and the whole key (shown only now).

    Raises:
        InvalidInput: an unknown role, or an actor that is not 1 to 200 printable characters.
    """
    if role not in ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(sorted(ROLES))}")
    if not actor.strip() or len(actor) > 200 or not actor.isprintable():
        raise InvalidInput("actor", "must be 1 to 200 printable characters")
    if len(note) > 500:
        raise InvalidInput("note", "must be at most 500 characters")
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with db.begin() as connection:
        connection.execute(
            insert(API_KEY).values(
                id=key_id, secret_hash=_digest(secret), actor=actor, role=role, note=note, created_at=now
            )
        )
    return ApiKey(key_id, actor, role, note, now, None), f"{PREFIX}_{key_id}_{secret}"


def authenticate(db: Engine, presented: str) -> ApiKey | None:
    """The live key ``presented`` is, or ``None`` (malformed, unknown, wrong secret, revoked)."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != PREFIX or not key_id or not secret or len(presented) > 200:
        return None
    with reading(db) as connection:
        row = connection.execute(select(API_KEY).where(API_KEY.c.id == key_id)).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, _digest(secret)):
        return None
    return _from_row(row)


def revoke(db: Engine, key_id: str, now: datetime) -> ApiKey:
    """Revoke a key (revoking it again changes nothing).

    Raises:
        NotFound: no such key.
    """
    with db.begin() as connection:
        connection.execute(
            update(API_KEY)
            .where(API_KEY.c.id == key_id, API_KEY.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        row = connection.execute(select(API_KEY).where(API_KEY.c.id == key_id)).first()
    if row is None:
        raise NotFound("api key", key_id)
    return _from_row(row)


def find(db: Engine, key_id: str) -> ApiKey | None:
    """One key by its id (revoked ones too), or None."""
    with reading(db) as connection:
        row = connection.execute(select(API_KEY).where(API_KEY.c.id == key_id)).first()
    return None if row is None else _from_row(row)


def all_keys(db: Engine) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first."""
    with reading(db) as connection:
        rows = connection.execute(select(API_KEY).order_by(API_KEY.c.created_at, API_KEY.c.id)).all()
    return [_from_row(r) for r in rows]


def _from_row(row: Any) -> ApiKey:
    return ApiKey(row.id, row.actor, row.role, row.note, row.created_at, row.revoked_at)
