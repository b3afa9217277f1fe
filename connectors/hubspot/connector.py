"""The HubSpot connector: contacts and their behaviour in, Lead Scores and MQL tasks out.

Reads go in groups of up to 1,000 contacts (ten list pages, or five search pages; fewer
with the account's ``page_size``), and each group is one
:class:`~leadsync.connectors.base.LeadPage`, its engagement read in batches
(:mod:`~leadsync.connectors.hubspot.leads`); the sync layer writes its scores and tasks
in full batches of 100.

- Backfill (:meth:`HubSpotConnector.all_leads`): the list endpoint, 100 a page; the
  cursor is HubSpot's ``after`` token, so there is no 10,000 cap.
- Incremental (:meth:`HubSpotConnector.changed_leads`): search on ``lastmodifieddate``
  ascending, 200 a page, ``GTE`` the cursor. Before ``after`` reaches the 10,000-result
  cap the query restarts from the last stamp seen. The cursor is opaque JSON:
  ``{"ms": last stamp, "floor": where the next run starts, "seen": {id: stamp}}``.
  Search lags changes by "a few moments", so the next run starts ``overlap`` before
  this run started (never later than the last stamp) and drops the contacts whose
  ``(id, stamp)`` it already saw. A contact whose stamp equals the one leadsync's own
  write-back left (``own_writes``), and whose properties are those it was scored on
  (:func:`~leadsync.connectors.hubspot.contacts.inputs_of`), is counted as skipped, not
  read further. New engagement is seen through the contact: logging an email, call,
  meeting or note makes HubSpot update the contact's activity rollups (the properties in
  ``ENGAGEMENT_HINTS``), which moves its ``lastmodifieddate`` (see ``MAPPING.md``).
- Contact → canonical lead: :mod:`leadsync.connectors.hubspot.contacts`; writes, fields
  and tasks: :mod:`leadsync.connectors.hubspot.writes`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from leadsync.config.accounts import Account
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
from leadsync.connectors.hubspot.answers import Pages, next_after, object_id, object_ids
from leadsync.connectors.hubspot.auth import TokenSource
from leadsync.connectors.hubspot.contacts import (
    DEFAULT_MAPPING,
    contact_properties,
    inputs_of,
    ms,
    stamp,
)
from leadsync.connectors.hubspot.cursor import Cursor as _Cursor
from leadsync.connectors.hubspot.engagement import (
    parse_time,
)
from leadsync.connectors.hubspot.http import HubSpotHttp
from leadsync.connectors.hubspot.leads import LeadBuilder, list_owners
from leadsync.connectors.hubspot.outcomes import CONTACT_PROPERTIES, read_outcomes
from leadsync.connectors.hubspot.paths import ApiPaths
from leadsync.connectors.hubspot.properties import ScoreProperties
from leadsync.connectors.hubspot.writes import HubSpotWriter, batch_read
from leadsync.connectors.ratelimit import RateLimiter
from leadsync.connectors.retry import RetryPolicy
from leadsync.errors import CrmError
from leadsync.scoring.lead import Outcome

__all__ = ["BATCH_LIMITS", "DEFAULT_MAPPING", "SEARCH_CAP", "HubSpotConnector", "open_hubspot"]

log = logging.getLogger(__name__)

#: HubSpot's search returns at most this many results per query.
SEARCH_CAP = 10_000

#: Records per call each endpoint allows (prefixes end with "."), for ``ApiUsage.minimum``.
BATCH_LIMITS = {
    "contacts.list": 100,
    "contacts.search": 200,
    "contacts.batch_read": 100,
    "contacts.batch_update": 100,
    "emails.batch_read": 100,
    "calls.batch_read": 100,
    "meetings.batch_read": 100,
    "notes.batch_read": 100,
    "tasks.batch_read": 100,
    "tasks.batch_create": 100,
    "deals.batch_read": 100,
    "associations.": 1000,
}
_Group = list[tuple[list[dict[str, Any]], str | None, int]]


class HubSpotConnector:
    """One HubSpot account (see the module docstring); :func:`open_hubspot` opens one.

    ``limiter``, ``policy`` and ``auth`` default to the account's; tests and benchmarks
    pass faster or shared ones. ``overlap`` is how far back a run re-reads for search
    lag; ``group`` the contacts per page (one engagement round trip each), at most the
    account's ``page_size``.
    """

    def __init__(
        self,
        account: Account,
        *,
        limiter: RateLimiter | None = None,
        policy: RetryPolicy | None = None,
        auth: TokenSource | None = None,
        overlap: timedelta = timedelta(seconds=5),
        group: int = 1_000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.account = account
        what = f"HubSpot account {account.id!r}"
        self.paths = ApiPaths(account.api_version)
        self.auth = auth or TokenSource(account.hubspot_credentials(), what=what, host=account.host,
                                        paths=self.paths, policy=policy, sleep=sleep)  # fmt: skip
        self.limiter = limiter or RateLimiter(
            window_limit=account.rate_limit,  # None: learnt from the first answer's headers
            buckets={"search": (5, 1.0)},
            daily_reserve=account.daily_reserve,
            daily_resets="at midnight in the HubSpot account's time zone",
            sleep=sleep,
        )
        self.http = HubSpotHttp(
            self.auth, host=account.host, limiter=self.limiter, policy=policy, sleep=sleep
        )
        self.writer = HubSpotWriter(self.http, account, self.paths)
        self.score_properties = ScoreProperties(self.http, account, self.paths)
        self.mapping = {**DEFAULT_MAPPING, **account.mapping}
        scoring = contact_properties(self.mapping, account.fields)
        self.outcome_properties = [*CONTACT_PROPERTIES, account.fields.feedback]
        self.extra = [p for p in dict.fromkeys(self.outcome_properties) if p not in scoring]
        """Asked for in every read for :meth:`outcomes` only: not scoring inputs."""
        self.properties = scoring
        self.read_properties = scoring + self.extra
        """What every contacts read asks for: the scoring properties and :attr:`extra`."""
        self._outcomes: dict[str, dict[str, Any]] = {}
        """The outcome properties of the group of contacts read last, by id."""
        self.list_page = min(account.page_size or 100, 100)
        self.search_page = min(account.page_size or 200, 200)
        self.overlap_ms = int(overlap.total_seconds() * 1000)
        self.group = min(group, account.page_size or group)
        self.clock = clock
        self.count_check = 10_000  # records a list reads before checking the portal's count
        self.builder = LeadBuilder(self.http, self.paths, self.writer, account, self.mapping)
        self._archived: list[CrmOwner] | None = None

    # ------------------------------------------------------------------- reading

    def all_leads(self, cursor: str | None) -> Iterator[LeadPage]:
        """Every contact through the list endpoint; ``cursor`` is HubSpot's ``after``."""
        after = cursor
        contacts: list[dict[str, Any]] = []
        pages = Pages("contacts.list", total=self._contact_total, check_after=self.count_check)
        while True:
            body = self._list(after, self.list_page)
            found = body.get("results") or []
            after = pages.next(body, object_ids(found, "contacts.list"))
            if not contacts:
                self._outcomes = {}  # a new group: the previous one's outcomes were asked
            contacts += self._split_outcomes(found)
            if after is None or len(contacts) >= self.group:
                if contacts:
                    yield LeadPage(self.builder.leads(contacts), after)
                contacts = []
            if after is None:
                return

    def _list(self, after: str | None, limit: int) -> dict[str, Any]:
        """One page of the contacts list, ``limit`` (at most 100) from ``after``."""
        query = {"limit": limit, "after": after, "properties": self.read_properties}
        path = self.paths.objects("contacts")
        return self.http.request("contacts.list", "GET", path, query=query, safe=True).body

    def sample_leads(self, limit: int) -> list[CrmLead]:
        """The first contacts (one list call of up to 100) with their engagement: HubSpot
        returns no value for a property it does not have, so the score properties need
        not exist yet."""
        found = self._list(None, min(limit, 100)).get("results") or []
        object_ids(found, "contacts.list")
        self._outcomes = {}
        return self.builder.leads(self._split_outcomes(found[:limit])) if found else []

    def changed_leads(
        self, cursor: str | None, own_writes: OwnWrites, also: Sequence[str] = ()
    ) -> Iterator[LeadPage]:
        """Contacts changed since ``cursor``, oldest first (see the module docstring); the
        contacts ``also`` names (batch read) join the first group."""
        state = _Cursor.decode(cursor)
        floor = ms(self.clock()) - self.overlap_ms  # where the next run starts, at the latest
        query_from, offset, restarted_at = state.floor, 0, None
        self._outcomes = {}
        kept: list[dict[str, Any]] = (
            self._split_outcomes(self.writer.read_contacts(also, self.read_properties))
            if also
            else []
        )
        extra = {str(c["id"]) for c in kept}
        skipped = 0
        while True:
            body = self._search(query_from, offset)
            object_ids(body.get("results") or [], "contacts.search")
            fresh: list[tuple[dict[str, Any], int]] = []
            if not kept:
                self._outcomes = {}  # a new group: the previous one's outcomes were asked
            for contact in self._split_outcomes(body.get("results") or []):
                at = stamp(contact)
                if at is None or state.seen.get(str(contact["id"])) == at:
                    continue  # the overlap: already processed
                if str(contact["id"]) in extra:
                    continue  # read already, with ``also``
                state.seen[str(contact["id"])] = at
                state.ms = max(state.ms, at)
                fresh.append((contact, at))
            own = own_writes([str(c["id"]) for c, _ in fresh]) if fresh else {}
            fields = self.account.fields
            for contact, at in fresh:
                mine = own.get(str(contact["id"]))
                if mine and mine.stamp == str(at) and mine.inputs == inputs_of(contact, fields):
                    skipped += 1
                else:
                    kept.append(contact)
            nxt = next_after(body)
            nxt = object_id(nxt, "contacts.search (paging.next.after)") if nxt else None
            if nxt is not None and int(nxt) <= offset:
                raise CrmError(f"HubSpot's contacts.search cursor {nxt!r} does not advance from "
                               f"offset {offset}: stopped instead of paging forever")  # fmt: skip
            if nxt is None or len(kept) >= self.group:
                text = state.encode(floor)
                if kept or skipped or text != cursor:
                    yield LeadPage(self.builder.leads(kept) if kept else [], text, skipped)
                kept, skipped = [], 0
            if nxt is None:
                return
            if int(nxt) + self.search_page > SEARCH_CAP:
                if restarted_at == state.ms:
                    raise CrmError(
                        f"more than {SEARCH_CAP:,} HubSpot contacts share the modification "
                        f"time {state.ms} ms: the search cannot page past them"
                    )
                query_from, offset, restarted_at = state.ms, 0, state.ms
            else:
                offset = int(nxt)

    def _search(self, since_ms: int, offset: int) -> dict[str, Any]:
        """One search page: ``lastmodifieddate >= since_ms``, ascending, from ``offset``."""
        since = {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(since_ms)}
        request: dict[str, Any] = {
            "filterGroups": [{"filters": [since]}],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": self.read_properties,
            "limit": self.search_page,
        }
        if offset:
            request["after"] = str(offset)
        path = self.paths.objects("contacts", "search")
        return self.http.request(
            "contacts.search", "POST", path, body=request, safe=True, kind="search"
        ).body

    def _contact_total(self) -> int | None:
        """How many contacts the portal holds (a search's ``total``), for :class:`Pages`."""
        body = self.http.request(
            "contacts.search", "POST", self.paths.objects("contacts", "search"),
            body={"limit": 1, "properties": ["hs_object_id"]}, safe=True, kind="search",
        ).body  # fmt: skip
        total = body.get("total")
        return total if isinstance(total, int) and not isinstance(total, bool) else None

    def cursor_at(self, moment: datetime) -> str:
        """An incremental cursor for changes at or after ``moment``."""
        at = ms(moment)
        return _Cursor(at, at, {}).encode(at)

    def read_leads(self, lead_ids: Sequence[str]) -> list[CrmLead]:
        """Contacts by id with their engagement (batch reads); missing ones left out."""
        self._outcomes = {}
        found = self._split_outcomes(self.writer.read_contacts(lead_ids, self.read_properties))
        return [
            lead
            for start in range(0, len(found), self.group)
            for lead in self.builder.leads(found[start : start + self.group])
        ]

    def _split_outcomes(self, contacts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Keep the outcome properties of these contacts for :meth:`outcomes`, and take the
        ones read only for it (:attr:`extra`) out of the contacts: they are no scoring
        input, so a lead's fingerprint (``inputs_of``) stays what it was without them."""
        for contact in contacts:
            props = contact.get("properties") or {}
            self._outcomes[str(contact["id"])] = {p: props.get(p) for p in self.outcome_properties}
            for name in self.extra:
                props.pop(name, None)
        return contacts

    def get_lead(self, lead_id: str) -> CrmLead | None:
        """One contact with its engagement, or None when it does not exist."""
        found = self.read_leads([lead_id])
        return found[0] if found else None

    def outcomes(self, lead_ids: Sequence[str]) -> dict[str, Outcome]:
        """What became of these contacts: lifecycle stage and deals (see ``outcomes.py``).

        The contacts of the group read last carry their lifecycle properties already
        (asked for in every read): only the others are read again."""
        return read_outcomes(self.http, self.writer, lead_ids, self.account.fields.feedback,
                             known=self._outcomes)  # fmt: skip

    def task_states(self, task_ids: Sequence[str]) -> dict[str, TaskState]:
        """Where these tasks stand (batch reads of 100); a task not found was deleted."""
        found = {
            str(task["id"]): task.get("properties") or {}
            for task in batch_read(self.http, self.paths, "tasks", task_ids,
                                   ["hs_task_status", "hs_timestamp"], missing_ok=True)
        }  # fmt: skip
        return {
            i: TaskState(
                "done" if found[i].get("hs_task_status") == "COMPLETED" else "open",
                parse_time(found[i].get("hs_timestamp")),
            )
            if i in found
            else TaskState("deleted")
            for i in task_ids
        }

    def existing(self, lead_ids: Sequence[str]) -> set[str]:
        """Which of these contacts still exist (batch reads of 100)."""
        return {c["id"] for c in self.writer.read_contacts(lead_ids, ["hs_object_id"])}

    # ------------------------------------------------------------------ writing

    def ensure_score_fields(self, tiers: Sequence[str], create: bool = False) -> list[str]:
        """Create the "Lead scoring" group and score properties where missing.

        HubSpot needs no admin consent beyond the token's schema scope, so ``create`` changes
        nothing: the properties are created either way.
        """
        return self.score_properties.ensure_score_fields(tiers)

    def score_field_problems(self, tiers: Sequence[str]) -> list[str]:
        return self.score_properties.score_field_problems(tiers)

    def feedback_field(self) -> str | None:
        """The contact property sales sets feedback in, where the portal has it (any run
        or ``setup --create`` creates it): the review tells it apart from a missing one."""
        name = self.account.fields.feedback
        return name if self.score_properties.exists(name) else None

    def write_scores(self, writes: Sequence[ScoreWrite]) -> BatchResult:
        """Batch updates of 100; ``done`` maps ids to the epoch-ms stamp the write left."""
        return self.writer.write_scores(writes)

    def find_tasks(self, keys: Sequence[str]) -> dict[str, str]:
        """Tasks already created for these crossing keys (by the marker in their body)."""
        return self.writer.find_tasks(keys)

    def create_tasks(
        self, tasks: Sequence[TaskRequest], fence: Callable[[], None] | None = None
    ) -> BatchResult:
        """Batch-create MQL tasks, reconciling by key after an ambiguous failure."""
        return self.writer.create_tasks(tasks, fence)

    # -------------------------------------------------------------------- other

    def owners(self) -> list[CrmOwner]:
        """Active owners, then deactivated (archived) ones; each list read once per open
        connector (the active one is the leads' too: :meth:`LeadBuilder.active_owner_list`)."""
        if self._archived is None:
            self._archived = list_owners(self.http, self.paths, archived=True)
        return self.builder.active_owner_list() + self._archived

    def usage(self) -> ApiUsage:
        return ApiUsage(
            calls=dict(self.http.calls),
            items=dict(self.http.items),
            daily_remaining=self.limiter.daily_remaining,
            daily_limit=self.limiter.daily_limit,
            rate_limit_waits=self.limiter.waits,
            throttled=self.limiter.throttled,
        )

    def close(self) -> None:
        self.http.close()


@register("hubspot")
def open_hubspot(account: Account) -> HubSpotConnector:
    """The connector for a HubSpot account of the accounts file."""
    return HubSpotConnector(account)
