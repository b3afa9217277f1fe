"""Salesforce's incremental read: the records and the activity changed since a cursor.

Each object is queried ``WHERE SystemModstamp >= :since ORDER BY SystemModstamp, Id``
with ``since`` = the cursor's stamp less ``overlap`` (60 s: a transaction commits after
its SystemModstamp is set); the cursor keeps the ids and stamps seen inside the overlap,
so they are not yielded twice. A record is skipped as leadsync's own write-back only
when its stamp is the one the write left (``own_writes``: the exact stamp after a REST
write, or the Bulk job's window) and its fields are those it was scored on
(``ObjectMap.inputs``). Task, Event and CampaignMember rows (and web-activity objects)
changed since the cursor are read too, one query each, and the people they name are
rescored: a new activity does not move its Lead's or Contact's ``SystemModstamp``.

The cursor is opaque JSON: ``{"all": backfill position, "inc": {object: {"ts", "seen"}},
"act": {activity object: {"ts", "seen"}}}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from leadsync.connectors.base import CrmLead, LeadPage, OwnWrite, OwnWrites
from leadsync.connectors.salesforce.activity import ActivitySource
from leadsync.connectors.salesforce.api import SalesforceApi
from leadsync.connectors.salesforce.bulk import within_window
from leadsync.connectors.salesforce.records import ObjectMap, object_of, rows_by_id, stamp_of
from leadsync.connectors.salesforce.soql import Row, format_stamp, parse_stamp
from leadsync.connectors.salesforce.soql import soql as q
from leadsync.errors import CrmError

__all__ = ["SEEN_MAX", "ChangeReader", "dump_cursor", "load_cursor"]

#: Ids kept in an incremental cursor to de-duplicate the overlap.
SEEN_MAX = 5_000

Leads = Callable[[ObjectMap, Sequence[Row]], list[CrmLead]]


class ChangeReader:
    """The incremental pages of one org's objects; ``leads`` turns rows into leads."""

    def __init__(
        self,
        api: SalesforceApi,
        maps: dict[str, ObjectMap],
        sources: dict[str, list[ActivitySource]],
        overlap: timedelta,
        leads: Leads,
    ) -> None:
        self.api, self.maps, self.sources = api, maps, sources
        self.overlap, self.leads = overlap, leads

    def cursor_at(self, moment: datetime) -> str:
        """Changes after ``moment``: the backfill's own writes are listed once more by the
        first incremental run, which checks each one's inputs (see :meth:`pages`)."""
        stamp = format_stamp(moment)
        fresh = {"ts": stamp, "seen": {}}
        return dump_cursor({"inc": {o: dict(fresh) for o in self.maps}, "act": {
            s.sobject: dict(fresh) for s in self.activity_sources()
        }})  # fmt: skip

    def pages(
        self, cursor: str | None, own_writes: OwnWrites, also: Sequence[str] = ()
    ) -> Iterator[LeadPage]:
        """Records changed since the cursor, and the people whose engagement changed.

        Each activity object is first read from its own ``SystemModstamp`` (one query
        each); the people it names (``WhoId``, ``LeadId``, ``ContactId``), and those in
        ``also``, join the object's last page, so their engagement is read with that page's.
        """
        saved = load_cursor(cursor)
        states: dict[str, dict[str, Any]] = saved.get("inc", {})
        acts: dict[str, dict[str, Any]] = saved.get("act", {})
        unread = json.loads(dump_cursor(acts))  # the activity cursor until every person is read
        # a cursor from before activity was read: its activity starts where its records did
        started = min((s.get("ts") or "" for s in states.values()), default="") or None
        people = self._activity_people(acts, started) | set(also)
        objects = list(self.maps.items())
        for n, (sobject, om) in enumerate(objects, 1):
            state = states.setdefault(sobject, {"ts": None, "seen": {}})
            listed: set[str] = set()
            text = om.query(self._since(state), "SystemModstamp, Id")
            pages = self.api.query_pages(text)
            rows: list[Row] | None = next(pages, [])
            while rows is not None:
                following = next(pages, None)
                fresh = [r for r in rows if state["seen"].get(str(r["Id"])) != stamp_of(r)]
                mine = own_writes([str(r["Id"]) for r in fresh]) if fresh else {}
                keep = [r for r in fresh if not _own(om, r, mine.get(str(r["Id"])))]
                skipped = len(fresh) - len(keep)
                listed.update(str(r["Id"]) for r in keep)
                self._advance(state, rows)
                if following is None:
                    extra = [p for p in people if p not in listed and object_of(p, {sobject: om})]
                    keep += rows_by_id(self.api, om, sorted(extra))
                last = following is None and n == len(objects)
                cursor_text = dump_cursor({"inc": states, "act": acts if last else unread})
                leads = self.leads(om, keep) if keep else []
                yield LeadPage(leads, cursor_text, skipped=skipped)
                rows = following

    def activity_sources(self) -> list[ActivitySource]:
        """Every activity object the account reads, once (Task and Event serve both
        Leads and Contacts through ``WhoId``)."""
        found: dict[tuple[str, str], ActivitySource] = {}
        for sources in self.sources.values():
            for source in sources:
                found.setdefault((source.sobject, source.key), source)
        return list(found.values())

    def _since(self, state: dict[str, Any]) -> str:
        """The incremental filter: from the cursor's stamp less the overlap (records
        re-listed by the overlap cost query rows only: ``seen`` drops them)."""
        ts = parse_stamp(state.get("ts"))
        return "" if ts is None else q(" AND SystemModstamp >= {since}", since=ts - self.overlap)

    def _activity_people(self, acts: dict[str, dict[str, Any]], started: str | None) -> set[str]:
        """Who the activity rows changed since the cursor point at (advancing ``acts``)."""
        people: set[str] = set()
        for source in self.activity_sources():
            state = acts.setdefault(source.sobject, {"ts": started, "seen": {}})
            where = f"{source.key} != null" + (f" AND {source.where}" if source.where else "")
            text = (
                f"SELECT Id, {source.key}, SystemModstamp FROM {source.sobject} WHERE {where}"
                f"{self._since(state)} ORDER BY SystemModstamp, Id"
            )
            for rows in self.api.query_pages(text):
                fresh = [r for r in rows if state["seen"].get(str(r["Id"])) != stamp_of(r)]
                people.update(str(r[source.key]) for r in fresh if r.get(source.key))
                self._advance(state, rows)
        return people

    def _advance(self, state: dict[str, Any], rows: Sequence[Row]) -> None:
        """Move the cursor past ``rows``; remember the ids inside the overlap window."""
        stamps = [s for s in (stamp_of(r) for r in rows) if s]
        if not stamps:
            return
        top = max([*stamps, state.get("ts") or ""])
        floor = format_stamp(parse_stamp(top) - self.overlap)  # type: ignore[operator]
        seen = {k: v for k, v in state["seen"].items() if v > floor}
        seen.update({str(r["Id"]): s for r in rows if (s := stamp_of(r)) and s > floor})
        if len(seen) > SEEN_MAX:  # a mass update: forget the oldest (re-reading them is harmless)
            seen = dict(sorted(seen.items(), key=lambda kv: kv[1])[-SEEN_MAX:])
        state["ts"], state["seen"] = top, seen


def _own(om: ObjectMap, row: Row, mine: OwnWrite | None) -> bool:
    """Whether the row's last change is leadsync's write and nothing else changed."""
    if mine is None or mine.inputs != om.inputs(row):
        return False
    stamp = stamp_of(row)
    return mine.stamp == stamp or within_window(mine.stamp, stamp, row.get("LastModifiedById"))


def load_cursor(cursor: str | None) -> dict[str, Any]:
    """A stored cursor's state (``{}`` for none)."""
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        raise CrmError(
            f"Salesforce: the stored cursor is not one of ours: {cursor[:80]!r}"
        ) from None
    return data if isinstance(data, dict) else {}


def dump_cursor(state: dict[str, Any]) -> str:
    return json.dumps(state, separators=(",", ":"), sort_keys=True)
