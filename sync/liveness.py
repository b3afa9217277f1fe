"""Whether a lease holder's process is still alive, where the OS can tell.

A lease normally outlives its holder by up to its lease time: a process killed with
SIGKILL never releases it. On SQLite every process using the state file runs on one
host, so each process that takes leases holds an ``flock`` on a file of its own,
``<state file>.holders/<instance>.lock``, for as long as it lives; the kernel drops
that lock the moment the process dies, however it dies. Another process that finds a
lease held by an instance whose lock it can take knows that holder is gone, and takes
the lease over at once instead of waiting for it to expire (a killed ``leadsync
backfill`` run again, a daemon restarted after ``kill -9``).

PostgreSQL replicas run on several hosts; there, a lease held by a dead process frees
itself when it expires, as before. An instance this module cannot judge is alive.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
from pathlib import Path
from typing import IO

from sqlalchemy import Engine

__all__ = ["Liveness"]

#: What an instance id looks like (``secrets.token_hex(8)``): never a path of its own.
INSTANCE = re.compile(r"[0-9a-f]{16}")


class Liveness:
    """This process's proof of life, and the test of another instance's."""

    def __init__(self, folder: Path, instance: str) -> None:
        self.folder = folder
        self.instance = instance
        self._handle: IO[str] | None = None

    @classmethod
    def for_engine(cls, engine: Engine, instance: str) -> Liveness | None:
        """Liveness through the state file's folder on SQLite; ``None`` elsewhere."""
        database = engine.url.database
        if engine.dialect.name != "sqlite" or not database or database == ":memory:":
            return None
        if database.startswith("file:"):
            return None
        path = Path(database)
        return cls(path.with_name(path.name + ".holders"), instance)

    def claim(self) -> None:
        """Hold this instance's lock for the life of the process (before any lease)."""
        if self._handle is not None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = (self.folder / f"{self.instance}.lock").open("a", encoding="utf-8")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a fresh random name: free
        self._handle = handle

    def alive(self, instance: str | None) -> bool:
        """``False`` only when ``instance``'s process is known to be gone."""
        if instance is None or instance == self.instance or not INSTANCE.fullmatch(instance):
            return True
        path = self.folder / f"{instance}.lock"
        try:
            handle = path.open("r", encoding="utf-8")
        except FileNotFoundError:
            return False  # its process ended cleanly (or its lock was found dead already)
        except OSError:
            return True
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            with contextlib.suppress(OSError):
                path.unlink()
            return False

    def close(self) -> None:
        """The process is done with its leases: drop its lock file."""
        if self._handle is None:
            return
        with contextlib.suppress(OSError):
            (self.folder / f"{self.instance}.lock").unlink()
        self._handle.close()
        self._handle = None
