"""structlog configuration, called by entry points only (never at import).

JSON lines when stderr is not a terminal (production, pipes, CI), readable
console output on one. The ``transitions`` library's INFO chatter is silenced:
the engine writes its own canonical line per transition.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

#: Whether the per-transition INFO line is wanted (``configure`` decides; structlog's own
#: default, before any ``configure``, logs everything). The engine skips building the line
#: when it is not: ~30 µs a fire.
_transition_lines = True


def configure(*, json: bool | None = None, level: int = logging.INFO, stream: Any = None) -> None:
    """Configure structlog and the stdlib loggers of the libraries we use."""
    import structlog

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


def transition_lines() -> bool:
    """Whether a transition's INFO line would be written."""
    return _transition_lines


def transition_logger() -> Any:
    """The logger of the engine's one line per transition."""
    import structlog

    return structlog.get_logger("filiere.transition")
