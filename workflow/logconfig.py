"""Logging: silent when embedded, structlog when an entry point (or the host) configures it.

Filiere is a library first. Until something configures logging, its lines go
to stdlib ``logging`` under ``filiere.*``, where a ``NullHandler`` keeps them
quiet (not even Python's last-resort handler writes a warning), and a host
that configures stdlib logging receives them. Once structlog is configured,
by the ``filiere`` command through :func:`configure` or by the host itself,
they go through structlog instead. :func:`configure` is called by entry
points only, never at import: JSON lines when told (``--log-json``) or when
stderr is not a terminal, readable console output on one. The
``transitions`` library's INFO chatter is silenced: the engine writes its own
canonical line per transition.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

ROOT = "filiere"
logging.getLogger(ROOT).addHandler(logging.NullHandler())

#: Whether the per-transition INFO line is wanted, once :func:`configure` decided (``None``:
#: not called; then whoever configured logging decides). The engine skips building the line
#: when it is not: ~30 µs a fire.
_transition_lines: bool | None = None


def configure(*, json: bool | None = None, level: int = logging.INFO, stream: Any = None) -> None:
    """Configure structlog and the stdlib loggers of the libraries we use (entry points only)."""
    global _transition_lines  # noqa: PLW0603 - the one switch configure() owns
    _transition_lines = level <= logging.INFO
    out = stream or sys.stderr
    as_json = (not out.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    for name, lib_level in (
        ("transitions", logging.WARNING),
        ("apscheduler", logging.INFO),
        ("sqlalchemy", logging.WARNING),
    ):
        logging.getLogger(name).setLevel(lib_level)


class Logger:
    """A structlog-style logger (``log.info("event", key=value)``) that is silent until configured.

    The choice is made at each call, so a host may configure logging before
    or after creating engines, and tests may capture structlog's output.
    """

    __slots__ = ("_stdlib", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._stdlib = logging.getLogger(name)

    def enabled(self, level: int = logging.INFO) -> bool:
        """Whether a line at ``level`` would be written somewhere."""
        return structlog.is_configured() or self._stdlib.isEnabledFor(level)

    def _log(self, level: int, event: str, fields: dict[str, Any]) -> None:
        if structlog.is_configured():
            structlog.get_logger(self.name).log(level, event, **fields)
        elif self._stdlib.isEnabledFor(level):
            details = " ".join(f"{key}={value!r}" for key, value in fields.items())
            self._stdlib.log(level, "%s %s", event, details)

    def debug(self, event: str, **fields: Any) -> None:
        """A detail for debugging."""
        self._log(logging.DEBUG, event, fields)

    def info(self, event: str, **fields: Any) -> None:
        """Something that happened as it should."""
        self._log(logging.INFO, event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Something to look at."""
        self._log(logging.WARNING, event, fields)

    def error(self, event: str, **fields: Any) -> None:
        """Something failed."""
        self._log(logging.ERROR, event, fields)

    def exception(self, event: str, **fields: Any) -> None:
        """Something failed; with the exception being handled."""
        if structlog.is_configured():
            structlog.get_logger(self.name).exception(event, **fields)
        elif self._stdlib.isEnabledFor(logging.ERROR):
            details = " ".join(f"{key}={value!r}" for key, value in fields.items())
            self._stdlib.exception("%s %s", event, details)


def get_logger(name: str) -> Logger:
    """Filiere's logger ``name`` (under ``filiere.``): quiet until the host or the CLI configures logging."""
    return Logger(name if name == ROOT or name.startswith(ROOT + ".") else f"{ROOT}.{name}")


_TRANSITION = get_logger("filiere.transition")


def transition_lines() -> bool:
    """Whether a transition's INFO line would be written."""
    if _transition_lines is not None and structlog.is_configured():
        return _transition_lines
    return _TRANSITION.enabled(logging.INFO)


def transition_logger() -> Logger:
    """The logger of the engine's one line per transition."""
    return _TRANSITION


def log_transition(event: Any, seconds: float) -> None:
    """The engine's one line for a committed transition (``event``: a ``StoredEvent``), if it is written."""
    if not transition_lines():
        return
    _TRANSITION.info(
        "transition",
        kind=event.entity_kind,
        id=event.entity_id,
        trigger=event.trigger,
        src=event.from_state,
        dst=event.to_state,
        actor=event.actor,
        role=event.role,
        seq=event.seq,
        ms=round(seconds * 1000, 3),
    )
