"""Clocks: the engine reads time only through one of these.

Injecting the clock lets tests and the demo run a call's whole year in
seconds, and makes "what time is it" a single, auditable decision.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Anything that tells the current instant, aware and in UTC."""

    def now(self) -> datetime:
        """The current instant."""


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """``datetime.now(UTC)``."""
        return datetime.now(UTC)


class SimulatedClock:
    """A clock that stands still until told to move: for tests, demos, simulations."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("a simulated clock needs an aware start time")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        """The simulated instant."""
        return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (aware); backwards too, for tests that need it."""
        if moment.tzinfo is None:
            raise ValueError("naive datetimes are not allowed")
        self._now = moment.astimezone(UTC)

    def advance(self, **delta: float) -> datetime:
        """Move forward by ``timedelta(**delta)`` and return the new instant."""
        self._now += timedelta(**delta)
        return self._now
