"""Rate limits per API key: an in-process token bucket, answered ``429`` with ``Retry-After``.

Each key has a bucket of ``burst`` requests that refills at ``burst / period``
per second. A request takes one token; with none left it is answered 429
``TooManyRequests`` and told when one will be back. Every answer carries the
``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` headers
(the IETF httpapi draft's names, which the AgID rule set accepts).

The buckets live in the process: behind several ``filiere serve`` processes
each one counts on its own, so the effective limit is per process. That is the
guideline's purpose (no single key exhausts a server), not a quota.
``FILIERE_RATE_LIMIT`` sets it as ``REQUESTS/SECONDS`` (default ``600/60``),
or ``off``.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from workflow.errors import ConfigurationError, FiliereError

DEFAULT = "600/60"


class TooManyRequests(FiliereError):
    """The key used up its requests for now; ``retry_after`` says in how many seconds to try again."""

    exit_code = 1
    http_status = 429

    def __init__(self, key_id: str, retry_after: int) -> None:
        self.key_id = key_id
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}
        super().__init__(f"too many requests for key {key_id}: try again in {retry_after} s")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``burst`` requests per ``period`` seconds, per key."""

    burst: int
    period: float

    @classmethod
    def parse(cls, text: str) -> RateLimit | None:
        """``REQUESTS/SECONDS``, or ``off`` (None: no limit).

        Raises:
            ConfigurationError: anything else.
        """
        if text.strip().lower() in {"off", "0", "none"}:
            return None
        requests, _, seconds = text.partition("/")
        if not (requests.strip().isdigit() and seconds.strip().isdigit()):
            raise ConfigurationError(
                "FILIERE_RATE_LIMIT", "value", f"{text!r} is not REQUESTS/SECONDS or off"
            )
        burst, period = int(requests), int(seconds)
        if not (1 <= burst <= 1_000_000 and 1 <= period <= 86_400):
            raise ConfigurationError("FILIERE_RATE_LIMIT", "value", f"{text!r}: 1-1000000 per 1-86400 s")
        return cls(burst, float(period))

    @classmethod
    def from_environment(cls) -> RateLimit | None:
        """The limit ``FILIERE_RATE_LIMIT`` sets, or the default."""
        return cls.parse(os.environ.get("FILIERE_RATE_LIMIT", DEFAULT))


class Buckets:
    """A token bucket per key; ``clock`` is monotonic seconds (injectable for tests)."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self._tokens: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key_id: str) -> dict[str, str]:
        """Take a token for ``key_id``; the rate-limit headers of the answer.

        Raises:
            TooManyRequests: no token is left.
        """
        rate = self.limit.burst / self.limit.period
        with self._lock:
            now = self.clock()
            tokens, then = self._tokens.get(key_id, (float(self.limit.burst), now))
            tokens = min(float(self.limit.burst), tokens + (now - then) * rate)
            if tokens < 1:
                self._tokens[key_id] = (tokens, now)
                raise TooManyRequests(key_id, max(1, math.ceil((1 - tokens) / rate)))
            tokens -= 1
            self._tokens[key_id] = (tokens, now)
        return {
            "RateLimit-Limit": str(self.limit.burst),
            "RateLimit-Remaining": str(int(tokens)),
            "RateLimit-Reset": str(math.ceil((self.limit.burst - tokens) / rate)),
        }
