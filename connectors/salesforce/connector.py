"""The Salesforce connector: Leads and/or Contacts in, scores and MQL tasks out.

Registered as ``salesforce``. Everything goes through simple-salesforce on a
``requests.Session`` (``salesforce_api``), logged in by ``salesforce_auth``; mapping in
``salesforce_records`` (fields) and ``salesforce_activity`` (engagement → events, the
table in its docstring and in ``connectors/salesforce/MAPPING.md``); writes in
``salesforce_writes``; Bulk API 2.0 in ``salesforce_bulk``.

Reading:

- backfill (:meth:`all_leads`): ``SELECT COUNT()`` first; up to ``bulk_threshold``
  records, REST ``… WHERE IsConverted = false AND Id > :after ORDER BY Id`` in pages of
  2,000 (the cursor is the last id), activities per page with ``WHERE WhoId IN (…)``;
  above it, Bulk API 2.0 query jobs (the cursor is the job and the results locator).
- incremental (:meth:`changed_leads`): ``WHERE SystemModstamp >= :since ORDER BY
  SystemModstamp, Id`` with ``since`` = the cursor's stamp less ``overlap`` (60 s: a
  transaction commits after its SystemModstamp is set). The cursor keeps the ids and
  stamps seen inside the overlap, so they are not yielded twice.
  A record whose stamp is leadsync's own write-back (``own_writes``: the exact stamp after
  a REST write, or the Bulk job's window) is skipped — no activity query for it. The
  cursor made at the end of a backfill also carries the time windows of the backfill's
  writes, which the first incremental query leaves out (else it would list them all
  again). A run with no change costs one call (plus one per 2,000 records written within
  the overlap before the previous cursor, when runs follow each other within a minute).

Tests and the demo pass a ``requests.Session`` trusting the sandbox's CA (or
``ca_path``); :func:`use_session_factory` does the same for connectors opened by name.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import requests

from leadsync.connectors.base import (
    ApiUsage,
    BatchResult,
    CrmLead,
    CrmOwner,
    LeadPage,
    OwnWrites,
    ScoreWrite,
    TaskRequest,
    register,
)
from leadsync.connectors.ratelimit import RateLimiter
from leadsync.connectors.retry import RetryPolicy
from leadsync.connectors.salesforce.activity import read_events, sources_for
from leadsync.connectors.salesforce.api import SalesforceApi
from leadsync.connectors.salesforce.auth import Authenticator
from leadsync.connectors.salesforce.bulk import POLL_DELAYS, BulkJobs, within_window
from leadsync.connectors.salesforce.fields import check_score_fields, create_hint
from leadsync.connectors.salesforce.outcomes import converted_lead_pages, read_outcomes
from leadsync.connectors.salesforce.records import ObjectMap, object_maps, object_of, stamp_of
from leadsync.connectors.salesforce.setup import create_score_fields
from leadsync.connectors.salesforce.soql import Row, chunk_ids, format_stamp, parse_stamp, select
from leadsync.connectors.salesforce.soql import soql as q
from leadsync.connectors.salesforce.spool import EventSpool
from leadsync.connectors.salesforce.writes import ScoreWriter
from leadsync.errors import CrmError

if TYPE_CHECKING:
    from leadsync.config.accounts import Account
    from leadsync.scoring.lead import Outcome

__all__ = ["SalesforceConnector", "open_salesforce", "use_session_factory"]

SessionFactory = Callable[["Account"], requests.Session]
_session_factory: SessionFactory | None = None
#: Leads per page of a Bulk backfill: one results call, one score ingest job and (with
#: more than ``BULK_TASKS_MIN`` crossings) one Task insert job each. The pipeline holds a
#: page whole (~5 KiB a lead, events included), so this bounds memory: 100,000 halves
#: the calls of 50,000 for ~250 MiB more (README, "Salesforce sync").
BULK_PAGE = 100_000
#: Activity rows per Bulk results call while spooling: streamed row by row into the
#: spool, so the size sets only the number of calls, not memory.
ACTIVITY_PAGE = 2_000_000
#: Ids kept in an incremental cursor to de-duplicate the overlap.
SEEN_MAX = 5_000


#: Records per call each REST endpoint allows, for ``ApiUsage.minimum`` (Bulk jobs count as made).
BATCH_LIMITS = {
    "rest GET query": 2000,
    "rest GET query/{id}": 2000,
    "rest GET queryAll": 2000,
    "rest PATCH composite/sobjects": 200,
    "rest POST composite/sobjects": 200,
}


def use_session_factory(factory: SessionFactory | None) -> None:
    """Make connectors opened by name (``open_connector``) use ``factory(account)``'s session.

    For the demo and tests against the sandbox, whose CA a default session does not
    trust; ``None`` restores the default.
    """
    global _session_factory
    _session_factory = factory


@register("salesforce")
def open_salesforce(account: Account) -> SalesforceConnector:
    session = _session_factory(account) if _session_factory else None
    return SalesforceConnector(account, session=session)


class SalesforceConnector:
    """One Salesforce org, as the sync layer sees it (implements ``Connector``)."""

    def __init__(
        self,
        account: Account,
        *,
        session: requests.Session | None = None,
        ca_path: str | None = None,
        limiter: RateLimiter | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        poll_delays: Sequence[float] = POLL_DELAYS,
        overlap: timedelta = timedelta(seconds=60),
    ) -> None:
        options = account.salesforce
        if session is None:
            session = requests.Session()
            if ca_path:  # a private CA: REQUESTS_CA_BUNDLE must not override it
                session.verify, session.trust_env = ca_path, False
        self.account = account
        self.options = options
        self.auth = Authenticator(account.salesforce_credentials(), session=session,
                                  host=account.host)  # fmt: skip
        self.limiter = limiter or RateLimiter.for_salesforce(
            reserve=account.daily_reserve, max_concurrent=options.max_concurrent, sleep=sleep
        )
        self.api = SalesforceApi(self.auth, api_version=options.api_version, session=session,
                                 limiter=self.limiter, policy=policy, sleep=sleep)  # fmt: skip
        self.maps = object_maps(account)
        self.sources = {o: sources_for(o, options.web_activity) for o in self.maps}
        self.bulk = BulkJobs(self.api, poll_delays=poll_delays, sleep=sleep)
        first = next(iter(self.maps.values()))
        self.writer = ScoreWriter(self.api, self.bulk, first.fields, sleep=sleep)
        self.overlap = overlap
        self.bulk_page = account.page_size or BULK_PAGE

    # -- reading: one object's records as pages ------------------------------------------------
    def _leads(self, om: ObjectMap, rows: Sequence[Row], events: Any = None) -> list[CrmLead]:
        ids = [str(r["Id"]) for r in rows]
        found = (
            events if events is not None else read_events(self.api, ids, self.sources[om.sobject])
        )
        return [om.crm_lead(r, list(found.get(str(r["Id"]), []))) for r in rows]

    def _select(self, om: ObjectMap, where: str, order: str | None) -> str:
        """The lead query; Bulk jobs get no ORDER BY (it disables Salesforce's PK chunking)."""
        text = f"SELECT {select(om.select)} FROM {om.sobject} WHERE {om.live}{where}"
        return f"{text} ORDER BY {order}" if order else text

    def all_leads(self, cursor: str | None) -> Iterator[LeadPage]:
        state = _load(cursor).get("all", {})
        if state.get("done"):
            return
        objects = list(self.maps)
        start = objects.index(state["object"]) if state.get("object") in self.maps else 0
        for sobject in objects[start:]:
            own = state if state.get("object") == sobject else {}
            om = self.maps[sobject]
            if own.get("job"):
                yield from self._bulk_pages(om, own["job"], own.get("locator", ""))
                continue
            after = own.get("after", "")
            where = q(" AND Id > {after}", after=after) if after else ""
            total = self.api.count(f"SELECT COUNT() FROM {sobject} WHERE {om.live}{where}")
            if total > self.options.bulk_threshold:
                job = self.bulk.start_query(sobject, self._select(om, where, None))
                yield from self._bulk_pages(om, job, "")
                continue
            for rows in self.api.query_pages(self._select(om, where, "Id")):
                if rows:
                    after = str(rows[-1]["Id"])
                nxt = {"all": {"object": sobject, "after": after}}
                yield LeadPage(self._leads(om, rows), _dump(nxt))
        yield from ()

    def _bulk_pages(self, om: ObjectMap, job: str, locator: str) -> Iterator[LeadPage]:
        """A Bulk backfill: spool the activities, then page through the leads job."""
        spool = EventSpool()
        try:
            # every job is started before any is waited for: they run side by side
            jobs = [
                (s, self.bulk.start_query(s.sobject, s.soql(f"{s.key} != null")))
                for s in self.sources[om.sobject]
            ]
            for source, job_id in jobs:
                self.bulk.wait(source.sobject, job_id, query=True)
                spool.add(self.bulk.stream(source.sobject, job_id, ACTIVITY_PAGE), source)
            spool.index()
            self.bulk.wait(om.sobject, job, query=True)
            for rows, nxt in self.bulk.row_pages(om.sobject, job, locator, self.bulk_page):
                leads = self._spooled_leads(om, rows, spool)
                state = {"object": om.sobject, "job": job, "locator": nxt} if nxt else None
                if state is None:  # this object is done: on to the next one, from its start
                    later = list(self.maps)[list(self.maps).index(om.sobject) + 1 :]
                    state = {"object": later[0]} if later else {"object": "", "done": True}
                yield LeadPage(leads, _dump({"all": state}))
        finally:
            spool.close()

    def _spooled_leads(
        self, om: ObjectMap, rows: Iterator[Row], spool: EventSpool
    ) -> Iterator[CrmLead]:
        """A Bulk page's leads, streamed 2,000 rows at a time: the page is never all held."""
        while chunk := list(itertools.islice(rows, 2_000)):
            yield from self._leads(om, chunk, spool.take([str(r["Id"]) for r in chunk]))

    def cursor_at(self, moment: datetime) -> str:
        """Changes after ``moment``, leaving out this connector's own writes since then.

        The writes of the backfill that just ended are after ``moment``: without help the
        first incremental run would list every one of them again (one call per 2,000) only
        to skip them. So the cursor carries the time windows of those writes and the API
        user; records last modified by that user inside one of them are left out by the
        query itself. (Cost of the shortcut: a change made *through the integration user*
        by another process inside a write window — seconds — is not seen.)
        """
        stamp = format_stamp(moment)
        states: dict[str, Any] = {o: {"ts": stamp, "seen": {}} for o in self.maps}
        me = self.api.user_id
        windows = merge_windows(self.writer.windows) if me else []
        return _dump({"inc": states, "me": me, "skip": [[a, b] for a, b in windows]})

    def _since(self, state: dict[str, Any], skip: list[list[str]], me: str | None) -> str:
        """The incremental filter: from the cursor's stamp less the overlap.

        Records re-listed by the overlap cost query rows only — ``seen`` and ``own_writes``
        keep them from being yielded or read for engagement again. The only records left
        out by the query are the backfill's own writes (``skip`` windows, see
        :meth:`cursor_at`): last modified by the API user inside a window of our writes.
        """
        ts = parse_stamp(state.get("ts"))
        if ts is None:
            return ""
        text = q(" AND SystemModstamp >= {since}", since=ts - self.overlap)
        for start, end in skip if me else []:
            first, last = parse_stamp(start), parse_stamp(end)
            if first is None or last is None:
                continue
            # to the millisecond (our stamps are exact; formatted here, never copied text)
            text += q(
                " AND (LastModifiedById != {me} OR SystemModstamp < {first:literal}"
                " OR SystemModstamp > {last:literal})",
                me=me,
                first=format_stamp(first),
                last=format_stamp(last),
            )
        return text

    def changed_leads(self, cursor: str | None, own_writes: OwnWrites) -> Iterator[LeadPage]:
        saved = _load(cursor)
        states: dict[str, dict[str, Any]] = saved.get("inc", {})
        if self.api.user_id is None and saved.get("me"):
            self.api.learned_user = str(saved["me"])
        me = saved.get("me")
        skip: list[list[str]] = list(saved.get("skip") or [])
        for sobject, om in self.maps.items():
            state = states.setdefault(sobject, {"ts": None, "seen": {}})
            where = self._since(state, skip, me)
            text = self._select(om, where, "SystemModstamp, Id")
            for rows in self.api.query_pages(text):
                fresh = [r for r in rows if state["seen"].get(str(r["Id"])) != stamp_of(r)]
                mine = own_writes([str(r["Id"]) for r in fresh]) if fresh else {}
                keep: list[Row] = []
                for row in fresh:
                    ours = mine.get(str(row["Id"]))
                    stamp = stamp_of(row)
                    by = row.get("LastModifiedById")
                    if ours and (ours == stamp or within_window(ours, stamp, by)):
                        continue
                    keep.append(row)
                self._advance(state, rows)
                skip = self._live_windows(skip, states)
                page = _dump({"inc": states, "me": me or self.api.user_id, "skip": skip})
                leads = self._leads(om, keep) if keep else []
                yield LeadPage(leads, page, skipped=len(fresh) - len(keep))

    def _live_windows(
        self, skip: list[list[str]], states: dict[str, dict[str, Any]]
    ) -> list[list[str]]:
        """The write windows some object's cursor (less the overlap) has not passed yet."""
        stamps = [parse_stamp(s.get("ts")) for s in states.values()]
        if not stamps or any(t is None for t in stamps):
            return skip
        oldest = format_stamp(min(t for t in stamps if t is not None) - self.overlap)
        return [w for w in skip if w[1] >= oldest]

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

    def get_lead(self, lead_id: str) -> CrmLead | None:
        om = object_of(lead_id, self.maps)
        if om is None:
            return None
        text = q(f"SELECT {select(om.select)} FROM {om.sobject} WHERE Id = {{rid}}", rid=lead_id)
        rows = list(self.api.query_rows(text))
        return self._leads(om, rows)[0] if rows else None

    def outcomes(self, lead_ids: Sequence[str]) -> dict[str, Outcome]:
        """What became of these Leads and Contacts (see ``outcomes.py``)."""
        return read_outcomes(self.api, lead_ids)

    def converted_leads(self, since: datetime | None = None) -> Iterator[LeadPage]:
        """Converted Leads, which scoring leaves out, for an export (see ``outcomes.py``)."""
        om = self.maps.get("Lead")
        if om is None:
            return iter(())
        return converted_lead_pages(self.api, om, self.sources["Lead"], since)

    def existing(self, lead_ids: Sequence[str]) -> set[str]:
        out: set[str] = set()
        for sobject, om in self.maps.items():
            mine = [i for i in lead_ids if object_of(i, {sobject: om}) is om]
            for chunk in chunk_ids(mine):
                text = q(f"SELECT Id FROM {sobject} WHERE {om.live} AND Id IN {{ids}}", ids=chunk)
                out.update(str(r["Id"]) for r in self.api.query_rows(text))
        return out

    # -- writing -------------------------------------------------------------------------------
    def ensure_score_fields(self, tiers: Sequence[str], create: bool = False) -> list[str]:
        """Check the score fields; with ``create``, first create what is missing.

        Creating goes through the Metadata API and a permission set (``salesforce_setup``);
        without it a missing field is a ``CrmError`` saying what the admin must do.
        """
        if create:
            fields = {sobject: om.fields for sobject, om in self.maps.items()}
            return create_score_fields(self.api, fields, tiers, account_id=self.account.id)
        hint = create_hint(self.account.id)
        for sobject, om in self.maps.items():
            check_score_fields(self.api.describe(sobject), sobject, om.fields, tiers, hint)
        return []

    def write_scores(self, writes: Sequence[ScoreWrite]) -> BatchResult:
        return self.writer.write_scores(writes)

    def find_tasks(self, keys: Sequence[str]) -> dict[str, str]:
        return self.writer.find_tasks(keys)

    def create_tasks(self, tasks: Sequence[TaskRequest]) -> BatchResult:
        return self.writer.create_tasks(tasks)

    def owners(self) -> list[CrmOwner]:
        text = "SELECT Id, Email, Name, IsActive FROM User WHERE UserType = 'Standard'"
        return [
            CrmOwner(str(r["Id"]), r.get("Email"), r.get("Name"), r.get("IsActive") is True)
            for r in self.api.query_rows(text)
        ]

    def usage(self) -> ApiUsage:
        return ApiUsage(
            calls=dict(self.api.calls),
            items=dict(self.api.items),
            daily_remaining=self.api.daily_remaining,
            daily_limit=self.api.daily_limit,
            rate_limit_waits=self.limiter.waits,
            throttled=self.limiter.throttled,
        )

    def close(self) -> None:
        self.api.close()


def merge_windows(windows: Sequence[tuple[str, str]], limit: int = 20) -> list[tuple[str, str]]:
    """Sorted, overlapping ones joined, at most ``limit`` (the closest neighbours merged)."""
    merged: list[tuple[str, str]] = []
    for start, end in sorted(windows):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    while len(merged) > limit:
        gaps = [
            (parse_stamp(b[0]) - parse_stamp(a[1]), i)  # type: ignore[operator]
            for i, (a, b) in enumerate(itertools.pairwise(merged))
        ]
        _, i = min(gaps)
        merged[i : i + 2] = [(merged[i][0], merged[i + 1][1])]
    return merged


def _load(cursor: str | None) -> dict[str, Any]:
    if not cursor:
        return {}
    try:
        data = json.loads(cursor)
    except ValueError:
        raise CrmError(
            f"Salesforce: the stored cursor is not one of ours: {cursor[:80]!r}"
        ) from None
    return data if isinstance(data, dict) else {}


def _dump(state: dict[str, Any]) -> str:
    return json.dumps(state, separators=(",", ":"), sort_keys=True)
