"""The Salesforce connector: Leads and/or Contacts in, scores and MQL tasks out.

Registered as ``salesforce``. Everything goes through simple-salesforce on a
``requests.Session`` (``api.py``), logged in by ``auth.py``; mapping in ``records.py``
(fields) and ``activity.py`` (engagement → events, the table in its docstring and in
``MAPPING.md``); writes in ``writes.py`` and ``tasks.py``; Bulk API 2.0 in ``bulk.py``.

Reading:

- backfill (:meth:`all_leads`): ``SELECT COUNT()`` first; up to ``bulk_threshold``
  records, REST ``… WHERE IsConverted = false AND Id > :after ORDER BY Id`` in pages of
  2,000 (the cursor is the last id), activities per page with ``WHERE WhoId IN (…)``;
  above it, Bulk API 2.0 query jobs (the cursor is the job and the results locator).
- incremental (:meth:`changed_leads`): the records and the activity changed since the
  cursor, leadsync's own write-backs skipped (:mod:`~leadsync.connectors.salesforce.changes`).
  A run with no change costs one query per object and one per activity object.

Tests and the demo pass a ``requests.Session`` trusting the sandbox's CA (or
``ca_path``); :func:`use_session_factory` does the same for connectors opened by name.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
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
    TaskState,
    register,
)
from leadsync.connectors.ratelimit import RateLimiter
from leadsync.connectors.retry import RetryPolicy
from leadsync.connectors.salesforce.activity import read_events, sources_for
from leadsync.connectors.salesforce.api import SalesforceApi
from leadsync.connectors.salesforce.auth import Authenticator
from leadsync.connectors.salesforce.bulk import POLL_DELAYS, BulkJobs
from leadsync.connectors.salesforce.changes import ChangeReader, dump_cursor, load_cursor
from leadsync.connectors.salesforce.fields import check_score_fields, create_hint
from leadsync.connectors.salesforce.outcomes import converted_lead_pages, read_outcomes
from leadsync.connectors.salesforce.records import ObjectMap, object_maps, object_of, rows_by_id
from leadsync.connectors.salesforce.setup import create_score_fields
from leadsync.connectors.salesforce.soql import Row, chunk_ids
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
    ca_file = account.salesforce.ca_file
    return SalesforceConnector(
        account, session=session, ca_path=str(ca_file.expanduser()) if ca_file else None
    )


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
                                  host=account.host, what=f"Salesforce account {account.id!r}",
                                  policy=policy, sleep=sleep)  # fmt: skip
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
        self.bulk_page = account.page_size or BULK_PAGE
        self._feedback: dict[str, str] | None = None
        self.changes = ChangeReader(self.api, self.maps, self.sources, overlap, self._leads)

    # -- reading: one object's records as pages ------------------------------------------------
    def _leads(self, om: ObjectMap, rows: Sequence[Row], events: Any = None) -> list[CrmLead]:
        ids = [str(r["Id"]) for r in rows]
        found = (
            events if events is not None else read_events(self.api, ids, self.sources[om.sobject])
        )
        return [om.crm_lead(r, list(found.get(str(r["Id"]), []))) for r in rows]

    def all_leads(self, cursor: str | None) -> Iterator[LeadPage]:
        state = load_cursor(cursor).get("all", {})
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
                job = self.bulk.start_query(sobject, om.query(where, None))
                yield from self._bulk_pages(om, job, "")
                continue
            for rows in self.api.query_pages(om.query(where, "Id")):
                if rows:
                    after = str(rows[-1]["Id"])
                nxt = {"all": {"object": sobject, "after": after}}
                yield LeadPage(self._leads(om, rows), dump_cursor(nxt))
        yield from ()

    def sample_leads(self, limit: int) -> list[CrmLead]:
        """The first records of the first object that has any, queried without the score
        fields: a SOQL query naming a field the org lacks fails whole (INVALID_FIELD)."""
        for om in self.maps.values():
            plain = dataclasses.replace(om, with_scores=False)
            rows = list(self.api.query_rows(f"{plain.query('', 'Id')} LIMIT {int(limit)}"))
            if rows:
                return self._leads(om, rows)
        return []

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
                yield LeadPage(leads, dump_cursor({"all": state}))
        finally:
            spool.close()

    def _spooled_leads(
        self, om: ObjectMap, rows: Iterator[Row], spool: EventSpool
    ) -> Iterator[CrmLead]:
        """A Bulk page's leads, streamed 2,000 rows at a time: the page is never all held."""
        while chunk := list(itertools.islice(rows, 2_000)):
            yield from self._leads(om, chunk, spool.take([str(r["Id"]) for r in chunk]))

    def cursor_at(self, moment: datetime) -> str:
        return self.changes.cursor_at(moment)

    def changed_leads(
        self, cursor: str | None, own_writes: OwnWrites, also: Sequence[str] = ()
    ) -> Iterator[LeadPage]:
        """Records changed since the cursor, and the people whose engagement changed
        (see :mod:`~leadsync.connectors.salesforce.changes`)."""
        return self.changes.pages(cursor, own_writes, also)

    def read_leads(self, lead_ids: Sequence[str]) -> list[CrmLead]:
        """Records by id with their engagement; converted, deleted or unknown ones left out."""
        out: list[CrmLead] = []
        for sobject, om in self.maps.items():
            rows = rows_by_id(self.api, om, [i for i in lead_ids if object_of(i, {sobject: om})])
            out += self._leads(om, rows) if rows else []
        return out

    def get_lead(self, lead_id: str) -> CrmLead | None:
        found = self.read_leads([lead_id])
        return found[0] if found else None

    def outcomes(self, lead_ids: Sequence[str]) -> dict[str, Outcome]:
        """What became of these Leads and Contacts (see ``outcomes.py``), with sales'
        feedback where the org has the field (one describe per object, once)."""
        return read_outcomes(self.api, lead_ids, self._feedback_fields())

    def feedback_field(self) -> str | None:
        """The field sales sets feedback in, where the org has it (``setup --create``
        adds it): the review tells a missing field from one nobody filled in yet."""
        return ", ".join(dict.fromkeys(self._feedback_fields().values())) or None

    def _feedback_fields(self) -> dict[str, str]:
        """Object → its feedback field, for the objects that have one (describe, once)."""
        if self._feedback is None:
            self._feedback = {}
            for sobject, om in self.maps.items():
                names = {
                    str(f.get("name", "")).lower() for f in self.api.describe(sobject)["fields"]
                }
                if om.fields.feedback.lower() in names:
                    self._feedback[sobject] = om.fields.feedback
        return self._feedback

    def task_states(self, task_ids: Sequence[str]) -> dict[str, TaskState]:
        """Where these Tasks stand (one query per 2,000, deleted ones included)."""
        found: dict[str, TaskState] = {}
        for chunk in chunk_ids(task_ids):
            text = q("SELECT Id, IsClosed, IsDeleted, ActivityDate FROM Task WHERE Id IN {ids}",
                     ids=chunk)  # fmt: skip
            for row in self.api.query_rows(text, include_deleted=True):
                status = (
                    "deleted" if row.get("IsDeleted") else "done" if row.get("IsClosed") else "open"
                )
                found[str(row["Id"])] = TaskState(status, _due(row.get("ActivityDate")))
        return {i: found.get(i, TaskState("deleted")) for i in task_ids}

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

    def score_field_problems(self, tiers: Sequence[str]) -> list[str]:
        """What the admin (or ``setup --create``) must fix, object by object; no change."""
        problems, hint = [], create_hint(self.account.id)
        for sobject, om in self.maps.items():
            try:
                check_score_fields(self.api.describe(sobject), sobject, om.fields, tiers, hint)
            except CrmError as error:
                problems.append(str(error))
        return problems

    def write_scores(self, writes: Sequence[ScoreWrite]) -> BatchResult:
        return self.writer.write_scores(writes)

    def find_tasks(self, keys: Sequence[str]) -> dict[str, str]:
        return self.writer.find_tasks(keys)

    def create_tasks(
        self, tasks: Sequence[TaskRequest], fence: Callable[[], None] | None = None
    ) -> BatchResult:
        return self.writer.create_tasks(tasks, fence)

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


def _due(value: Any) -> datetime | None:
    """A Task's ``ActivityDate`` (a date): the end of that day, UTC."""
    if not value:
        return None
    try:
        day = datetime.fromisoformat(str(value)[:10])
    except ValueError:
        return None
    return day.replace(tzinfo=UTC) + timedelta(days=1)
