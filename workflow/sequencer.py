"""The sequencer: committed events get their global position, and the Merkle tree grows.

On SQLite the engine seals inside each writing transaction (the writer is
alone anyway), so an event is sealed when ``fire`` returns. On PostgreSQL
writers never wait for each other: after a fire commits, a background thread
of the engine seals (and retries every ``interval`` seconds while another
process holds the sealer's lock, which may not have seen our event); the advisory lock
in :func:`workflow.store.tree.seal` lets one sealer at a time work, whichever
process it runs in. Reading the feed seals first, so a reader always sees what
committed before it asked.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import SQLAlchemyError

from workflow.store import tree
from workflow.store.db import is_sqlite

if TYPE_CHECKING:
    from workflow.store.eventlog import StoredEvent

log = logging.getLogger("filiere.sequencer")


class Sequencer:
    """Seals the committed events of one database."""

    def __init__(self, db: Engine, *, interval: float = 0.1) -> None:
        self.db = db
        self.interval = interval
        self.inline = is_sqlite(db)
        self._pending = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        if not self.inline:
            # Disposing of the pool while a pass holds a connection would leak that connection.
            event.listen(db, "engine_disposed", lambda _engine: self.stop(restart=True))

    def seal(self, *, wait: bool = True) -> int | None:
        """Seal every committed unsealed event, one transaction per batch; how many were sealed.

        Without ``wait``, ``None`` at once if another sealer holds the lock (it will seal them).
        """
        total = 0
        while True:
            with self.db.begin() as connection:
                sealed = tree.seal(connection, wait=wait)
            if sealed is None:
                return None
            total += len(sealed)
            if len(sealed) < tree.BATCH:
                return total

    def poke(self) -> None:
        """A fire committed: seal soon, in a background thread that lives while there is work."""
        if self.inline:
            return
        with self._lock:
            self._pending = True
            if self._thread is None and not self._stopped:
                self._thread = threading.Thread(target=self._run, name="filiere-sealer", daemon=True)
                self._thread.start()

    def stop(self, *, restart: bool = False) -> None:
        """Let the background thread finish its pass and start no other (``restart``: until the next poke)."""
        with self._lock:
            self._stopped = True
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        if restart:
            with self._lock:
                self._stopped = False

    def _run(self) -> None:
        # Each pass seals what committed before it; a poke during a pass asks for one more. When
        # another process holds the sealer's lock it may have read the pending events before ours
        # committed, so we try again shortly. Idle, the thread ends: nothing outlives the work.
        while True:
            with self._lock:
                if not self._pending or self._stopped:
                    self._thread = None
                    return
                self._pending = False
            try:
                done = self.seal(wait=False)
            except SQLAlchemyError as exc:  # the database went away: the next poke tries again
                log.warning("sealing failed: %s", exc)
                with self._lock:
                    self._thread = None
                return
            if done is None:
                with self._lock:
                    self._pending = True
                time.sleep(self.interval)


def sealed_inline(connection: Connection, event: StoredEvent, written: list[StoredEvent]) -> StoredEvent:
    """SQLite: seal this transaction's events before it commits (the writer is alone anyway)."""
    positions = tree.seal(connection) or {}
    written[:] = [replace(e, position=positions.get(e.seq)) for e in written]
    return replace(event, position=positions.get(event.seq))
