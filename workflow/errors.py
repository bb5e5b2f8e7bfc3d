"""One exception hierarchy for everything the engine refuses.

Each class carries its facts as attributes, builds one message a person can act
on, and has a distinct ``exit_code`` that the CLI returns (documented in
``docs/operators.md``) and an ``http_status`` for the HTTP API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class FiliereError(Exception):
    """Root of every error Filiere raises on purpose."""

    exit_code = 1
    http_status = 500


class ConfigurationError(FiliereError):
    """A call, measure or engine setting is wrong; nothing was stored."""

    exit_code = 9
    http_status = 422

    def __init__(self, source: str, field: str, reason: str) -> None:
        self.source = source
        self.field = field
        self.reason = reason
        super().__init__(f"{source}: {field}: {reason}")


class InvalidDefinition(ConfigurationError):
    """A machine definition breaks a structural rule (checked at load)."""

    def __init__(self, machine: str, reason: str) -> None:
        super().__init__(f"machine {machine}", "definition", reason)
        self.machine = machine


class InvalidInput(FiliereError, ValueError):
    """A payload or argument is malformed; ``field`` names it."""

    exit_code = 8
    http_status = 422

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"invalid input: {field}: {reason}")


class NotFound(FiliereError, LookupError):
    """No entity of that kind and id, or no such machine or trigger."""

    exit_code = 3
    http_status = 404

    def __init__(self, kind: str, entity_id: str) -> None:
        self.kind = kind
        self.entity_id = entity_id
        super().__init__(f"no {kind} {entity_id}")


class TransitionNotAllowed(FiliereError):
    """The trigger does not leave the entity's current state."""

    exit_code = 4
    http_status = 409

    def __init__(self, kind: str, entity_id: str, state: str, trigger: str, allowed: tuple[str, ...]) -> None:
        self.kind = kind
        self.entity_id = entity_id
        self.state = state
        self.trigger = trigger
        self.allowed = allowed
        choices = ", ".join(allowed) or "none: the state is final"
        super().__init__(f"can't {trigger} {kind} {entity_id} in state {state} (allowed: {choices})")


class GuardRefused(FiliereError):
    """A guard said no; ``guard``, ``reason`` and ``data`` say which and why."""

    exit_code = 5
    http_status = 422

    def __init__(
        self, kind: str, entity_id: str, trigger: str, guard: str, reason: str, *, data: Mapping[str, Any]
    ) -> None:
        self.kind = kind
        self.entity_id = entity_id
        self.trigger = trigger
        self.guard = guard
        self.reason = reason
        self.data = dict(data)
        super().__init__(f"{trigger} {kind} {entity_id} refused by guard {guard}: {reason}")


class ForbiddenRole(FiliereError, PermissionError):
    """The role may not fire this trigger (auditors may fire none)."""

    exit_code = 6
    http_status = 403

    def __init__(self, kind: str, trigger: str, role: str, allowed: tuple[str, ...]) -> None:
        self.kind = kind
        self.trigger = trigger
        self.role = role
        self.allowed = allowed
        super().__init__(f"role {role} may not {trigger} a {kind} (allowed: {', '.join(allowed)})")


class ConflictError(FiliereError):
    """Someone else changed the entity first, or a retry does not match."""

    exit_code = 7
    http_status = 409


class VersionConflict(ConflictError):
    """The entity's version is not the one the caller expected."""

    def __init__(self, kind: str, entity_id: str, expected: int, found: int) -> None:
        self.kind = kind
        self.entity_id = entity_id
        self.expected = expected
        self.found = found
        super().__init__(
            f"{kind} {entity_id} is at version {found}, not {expected}: it changed meanwhile; reload"
        )


class IdempotencyMismatch(ConflictError):
    """An idempotency key was reused for a different request."""

    def __init__(self, key: str, seq: int) -> None:
        self.key = key
        self.seq = seq
        super().__init__(
            f"idempotency key {key!r} was used by event {seq} for a different request; use a new key"
        )


class DatabaseError(FiliereError):
    """The database refused the transaction; it was rolled back."""

    exit_code = 10
    http_status = 503

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"database error: {reason}")


class DatabaseUnavailable(DatabaseError):
    """The database could not be reached or used."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.args = (f"database unavailable: {reason}",)


class AlreadyRunning(FiliereError):
    """Another scheduler already schedules for this database."""

    exit_code = 13
    http_status = 409

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"another scheduler is running: {reason}")


class HandlerError(FiliereError):
    """A handler raised something unexpected; the transaction was rolled back."""

    exit_code = 11
    http_status = 500

    def __init__(self, kind: str, trigger: str, reason: str) -> None:
        self.kind = kind
        self.trigger = trigger
        self.reason = reason
        super().__init__(f"handler {kind}.{trigger} failed: {reason}")


class FileUnavailable(FiliereError):
    """A file named on the command line cannot be read or written (missing, a folder, no permission).

    What a readable file *contains* is judged elsewhere: bad JSON is :class:`InvalidInput`, a bad call
    file a :class:`ConfigurationError`. ``field`` names the option or argument that gave the path.
    """

    exit_code = 16
    http_status = 400

    def __init__(self, field: str, path: str, reason: str) -> None:
        self.field = field
        self.path = path
        self.reason = reason
        super().__init__(f"{field}: cannot use {path}: {reason}")


class AlreadyExists(ConflictError):
    """An entity with that kind and id exists already."""

    def __init__(self, kind: str, entity_id: str) -> None:
        self.kind = kind
        self.entity_id = entity_id
        super().__init__(f"{kind} {entity_id} exists already")
