"""Activities of a whole org, by lead id, in a temporary SQLite file (flat memory).

A Bulk backfill reads each activity source with one query job over the whole object and
streams its rows here (:meth:`EventSpool.add`); each page of leads then takes its
events (:meth:`EventSpool.take`). Memory holds neither the activity rows nor their
events beyond the page being scored.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from leadsync.connectors.salesforce.activity import ActivitySource
from leadsync.connectors.salesforce.soql import Row
from leadsync.scoring.lead import Event

__all__ = ["EventSpool"]

#: Distinct attribute sets an :class:`EventSpool` keeps for sharing between events.
_SHARED_ATTRS = 50_000


class EventSpool:
    """Activities of a whole org, by lead id, in a temporary SQLite file (flat memory)."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="leadsync-sf-")
        self._db = sqlite3.connect(str(Path(self._dir.name) / "events.db"))
        self._db.execute("CREATE TABLE ev (who TEXT, type TEXT, at TEXT, attrs TEXT)")
        self.rows = 0
        self._types: dict[str, str] = {}
        self._attrs: dict[str, Mapping[str, Any]] = {}

    def add(self, rows: Iterable[Row], source: ActivitySource, *, batch: int = 10_000) -> None:
        """Spool the events of ``rows`` (any iterable: a stream is never held whole)."""
        pending: list[tuple[str, str, str, str]] = []
        for row in rows:
            who = row.get(source.key)
            if not who:
                continue
            for event in source.to_events(row):
                attrs = json.dumps(dict(event.attrs))
                pending.append((str(who), event.type, event.at.isoformat(), attrs))
            if len(pending) >= batch:
                self._insert(pending)
                pending = []
        self._insert(pending)

    def _insert(self, events: list[tuple[str, str, str, str]]) -> None:
        self._db.executemany("INSERT INTO ev VALUES (?, ?, ?, ?)", events)
        self.rows += len(events)

    def index(self) -> None:
        self._db.execute("CREATE INDEX ev_who ON ev (who)")
        self._db.commit()

    def take(self, ids: Sequence[str]) -> dict[str, list[Event]]:
        """The events of ``ids``. A page holds several per lead, so they are made small:
        one string per event type and one read-only mapping per distinct attribute set
        (the same campaign or form on thousands of events), shared between events."""
        found: dict[str, list[Event]] = defaultdict(list)
        for start in range(0, len(ids), 900):
            chunk = list(ids[start : start + 900])
            marks = ",".join("?" * len(chunk))
            for who, type_, at, attrs in self._db.execute(
                f"SELECT who, type, at, attrs FROM ev WHERE who IN ({marks})", chunk
            ):
                found[who].append(
                    Event.create(
                        self._types.setdefault(type_, type_),
                        datetime.fromisoformat(at),
                        self._attrs_of(attrs),
                    )
                )
        return found

    def _attrs_of(self, text: str) -> Mapping[str, Any]:
        shared = self._attrs.get(text)
        if shared is None:
            if len(self._attrs) >= _SHARED_ATTRS:  # bounded: a page of unique URLs
                self._attrs.clear()
            shared = self._attrs[text] = MappingProxyType(json.loads(text))
        return shared

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()
