"""The chaos benchmark's state databases: a SQLite file or a throwaway PostgreSQL schema,
with the variables that point ``leadsync`` processes at it and the benchmark's own
connection to it (for the run history and the oracle)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pgschema import throwaway_schema

from leadsync.sync.state import StateStore

POSTGRES = os.environ.get(
    "LEADSYNC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@dataclass
class StateDb:
    """One state database: its URL, the variables that point ``leadsync`` at it, its drop."""

    url: str
    env: dict[str, str]
    dispose: Callable[[], None]
    _store: StateStore | None = None

    @property
    def store(self) -> StateStore:
        """The benchmark's own connection to it, opened once (polled every 20 ms)."""
        if self._store is None:
            self._store = StateStore(self.url)
        return self._store

    def drop(self) -> None:
        if self._store is not None:
            self._store.close()
        self.dispose()


def state_db(kind: str, folder: Path, name: str) -> StateDb:
    """A new, empty state database: a SQLite file in ``folder`` or a PostgreSQL schema."""
    if kind == "sqlite":
        path = folder / f"{name}.db"
        return StateDb(f"sqlite:///{path}", {"LEADSYNC_STATE_PATH": str(path)}, lambda: None)
    url, drop = throwaway_schema(POSTGRES, f"chaos_{name}_{uuid.uuid4().hex[:8]}")
    return StateDb(url, {"LEADSYNC_DATABASE_URL": url}, drop)
