"""WAL checkpoints off the turn path.

In WAL mode with `synchronous = NORMAL` a commit only appends to the `-wal` file; the fsync
happens when the WAL is copied back into the database (a checkpoint). SQLite runs that
checkpoint inside whichever commit pushes the WAL past 1000 pages, so one turn in a few
hundred waited 15–20 ms for the disk. Here the stores' connections leave checkpoints to one
background thread per process, which copies the WAL back (`PRAGMA wal_checkpoint(PASSIVE)`:
never waits for readers or writers) once it has grown past `CHECKPOINT_BYTES`. Should that
thread fall behind, the writer still checkpoints itself at `SAFETY_PAGES`.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

log = logging.getLogger(__name__)
CHECK_EVERY_S = 0.5
CHECKPOINT_BYTES = 1 << 20
SAFETY_PAGES = 16_384  # 64 MiB of 4 KiB pages: the writer's own checkpoint, as a safety net


def tune(conn: sqlite3.Connection) -> None:
    """A store's connection: checkpoints are the background thread's job."""
    conn.execute(f"PRAGMA wal_autocheckpoint = {SAFETY_PAGES}")


def wal_bytes(path: str) -> int:
    try:
        return Path(path + "-wal").stat().st_size
    except OSError:
        return 0


def checkpoint(path: str) -> bool:
    """Copy the WAL of `path` back into the database now; False when SQLite was busy."""
    conn = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return not busy
    finally:
        conn.close()


class Checkpointer:
    """One thread for every watched database file of the process; it stops when no store
    watches a file any more (and starts again with the next one)."""

    def __init__(self, every: float = CHECK_EVERY_S, threshold: int = CHECKPOINT_BYTES) -> None:
        self.every, self.threshold = every, threshold
        self._paths: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, path: str) -> None:
        with self._lock:
            self._paths[path] += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="zhike-wal-checkpoint", daemon=True
                )
                self._thread.start()

    def unwatch(self, path: str) -> None:
        with self._lock:
            self._paths[path] -= 1
            if self._paths[path] <= 0:
                del self._paths[path]

    def _watched(self) -> list[str]:
        with self._lock:
            if not self._paths:
                self._thread = None  # the next watch() starts a new thread
            return list(self._paths)

    def _run(self) -> None:
        while paths := self._watched():
            for path in paths:
                self._maybe_checkpoint(path)
            time.sleep(self.every)

    def _maybe_checkpoint(self, path: str) -> None:
        if wal_bytes(path) < self.threshold:
            return
        try:
            checkpoint(path)
        except sqlite3.Error as exc:  # a file removed meanwhile, a disk error: try again later
            log.debug("WAL checkpoint of %s failed: %s", path, exc)


checkpointer = Checkpointer()
