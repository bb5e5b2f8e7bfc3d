"""structlog configuration, called by entry points only (never at import).

JSON lines when stderr is not a terminal (production, pipes, CI), readable
console output on one. The ``transitions`` library's INFO chatter is silenced:
the engine writes its own canonical line per transition.
"""

from __future__ import annotations

import logging
import sys
from typing import Any


def configure(*, json: bool | None = None, level: int = logging.INFO, stream: Any = None) -> None:
    """Configure structlog and the stdlib loggers of the libraries we use."""
    import structlog

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


def transition_logger() -> Any:
    """The logger of the engine's one line per transition."""
    import structlog

    return structlog.get_logger("filiere.transition")
