"""Who is signed in to the console, and proof that a form came from the console's own page.

Two ways in. With an API key (the same keys as the HTTP API): the key is
checked once and exchanged for a session cookie, signed with HMAC-SHA256,
``HttpOnly``, ``SameSite=Strict``, with an expiry; the key id travels in the
cookie so a revoked key ends its sessions at the next request. Behind the
region's single sign-on (SPID/CIE handled by a reverse proxy): a configured
trusted header names the user and another the role; the proxy must strip those
headers from what clients send.

Every form carries a CSRF token derived from the session's random nonce and the
secret: a page from another site can neither read it nor forge it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Engine as SAEngine

from workflow.http import keys
from workflow.store.schema import read_meta, write_meta

COOKIE = "filiere_console"
LANGUAGE_COOKIE = "filiere_lang"
#: A session lasts a working day.
LIFETIME_SECONDS = 8 * 3600
#: Roles that may use the console: the region's staff and auditors (applicants use the portal).
CONSOLE_ROLES = ("operator", "evaluator", "director", "auditor")
_SECRET_KEY = "console_secret"


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in person: an actor acting in one role."""

    actor: str
    role: str
    nonce: str
    key_id: str | None = None
    expires: int = 0

    @property
    def read_only(self) -> bool:
        """Auditors see everything and change nothing."""
        return self.role == "auditor"


def console_secret(db: SAEngine) -> bytes:
    """The signing secret: ``FILIERE_CONSOLE_SECRET``, else one generated once and kept in the database.

    Kept in the database so that several ``serve`` processes on one database accept
    each other's cookies.
    """
    configured = os.environ.get("FILIERE_CONSOLE_SECRET")
    if configured:
        return configured.encode()
    stored = read_meta(db, _SECRET_KEY)
    if stored is None:
        write_meta(db, _SECRET_KEY, secrets.token_hex(32))
        stored = read_meta(db, _SECRET_KEY)
    return str(stored).encode()


def _sign(secret: bytes, body: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(secret, body, hashlib.sha256).digest()).decode().rstrip("=")


def seal(secret: bytes, principal: Principal) -> str:
    """The cookie value for ``principal``: its fields and their signature."""
    fields = {
        "actor": principal.actor,
        "role": principal.role,
        "nonce": principal.nonce,
        "key": principal.key_id,
        "exp": principal.expires,
    }
    body = base64.urlsafe_b64encode(json.dumps(fields, sort_keys=True).encode()).decode().rstrip("=")
    return f"{body}.{_sign(secret, body.encode())}"


def unseal(secret: bytes, value: str | None, *, now: float | None = None) -> Principal | None:
    """The principal of a cookie value, or None if it is forged, malformed or expired."""
    if not value or value.count(".") != 1 or len(value) > 4096:
        return None
    body, signature = value.split(".")
    if not hmac.compare_digest(signature, _sign(secret, body.encode())):
        return None
    try:
        fields = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        principal = Principal(
            actor=str(fields["actor"]),
            role=str(fields["role"]),
            nonce=str(fields["nonce"]),
            key_id=fields.get("key"),
            expires=int(fields["exp"]),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if principal.expires < (now if now is not None else time.time()):
        return None
    return principal


def sign_in_with_key(db: SAEngine, presented: str) -> Principal | None:
    """Exchange an API key for a principal; None for a wrong, revoked or non-console key."""
    key = keys.authenticate(db, presented.strip()) if presented else None
    if key is None or key.role not in CONSOLE_ROLES:
        return None
    return fresh(key.actor, key.role, key_id=key.id)


def fresh(actor: str, role: str, *, key_id: str | None = None) -> Principal:
    """A new session for ``actor`` in ``role``, with its own nonce and expiry."""
    return Principal(actor, role, secrets.token_hex(16), key_id, int(time.time()) + LIFETIME_SECONDS)


def still_valid(db: SAEngine, principal: Principal) -> bool:
    """A key-based session ends as soon as its key is revoked."""
    if principal.key_id is None:
        return True
    key = keys.find(db, principal.key_id)
    return key is not None and key.revoked_at is None


def csrf_token(secret: bytes, principal: Principal) -> str:
    """The token every form of this session carries."""
    return _sign(secret, f"csrf:{principal.nonce}".encode())


def csrf_ok(secret: bytes, principal: Principal, presented: str | None) -> bool:
    """Whether a submitted form carries this session's token."""
    return bool(presented) and hmac.compare_digest(str(presented), csrf_token(secret, principal))
