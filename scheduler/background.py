"""APScheduler 3's background scheduler, with a shutdown that cannot kill its own thread.

``BaseScheduler.shutdown`` sets the state to *stopped* before it takes the
job-store lock, while the main loop may be half-way through a pass that holds
that lock: the pass has handed a one-shot job to the executor and is about to
remove it from the store. ``remove_job`` on a stopped scheduler looks among the
*pending* jobs, finds nothing and raises ``JobLookupError`` in the main loop
thread, which then dies and fires nothing more, silently (the race upstream
reported as agronholm/apscheduler#104). Under load it happened about once in
seven runs of the scheduler tests.

The fix is an ordering, not a retry: a pass and the move to *stopped* exclude
each other through a lock of our own. A pass under way finishes before the
state changes; a pass that starts after it sees the flag and does nothing.
The lock is not held while ``shutdown`` waits for running jobs, so a running
job may still reach the job store (see ``SchedulerService.stop``).
"""

from __future__ import annotations

import threading
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler


class QuiescentScheduler(BackgroundScheduler):  # type: ignore[misc]  # APScheduler 3 ships no types
    """A ``BackgroundScheduler`` whose job passes never overlap its shutdown."""

    def __init__(self, **options: Any) -> None:
        self._pass_lock = threading.Lock()
        self._closing = False
        super().__init__(**options)

    def start(self, *args: Any, **kwargs: Any) -> None:
        """Start (again): job passes run from now on."""
        with self._pass_lock:
            self._closing = False
        super().start(*args, **kwargs)

    def _process_jobs(self) -> float | None:
        with self._pass_lock:
            if self._closing:
                return None
            wait: float | None = super()._process_jobs()
            return wait

    def shutdown(self, wait: bool = True) -> None:
        """Let a job pass under way finish, allow no new one, then shut down."""
        with self._pass_lock:
            self._closing = True
        super().shutdown(wait=wait)
