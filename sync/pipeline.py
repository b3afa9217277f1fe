"""One run of one account: fetch → score → diff → write what changed → tasks → cursor.

The cursor advances only after a page's writes and task intents are durable, so a
run killed at any point leaves state the next run finishes from without writing a
score twice or creating a task twice:

1. before new pages: settle the crossings whose task may not exist (looked up by key,
   created if missing, :mod:`~leadsync.sync.tasks`);
2. per page: score every lead, write only the scores that differ from what the CRM
   holds (its score, tier, model and reasons), record them with the inputs they were
   computed from and any new crossings in one transaction, create the tasks, then move
   the cursor. The records whose write the CRM refused last time are read again with
   the run's changes and scored from what they hold now, never replayed.

A lead is scored as of the run's clock, or as of its newest event when the CRM stamped
that up to :data:`CLOCK_SKEW` later: the CRM's clock and the host's differ, and fresh
activity left out as "not yet happened" would stay out, since the record does not
change again when our clock catches up.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from leadsync.config.accounts import Account
from leadsync.connectors.base import (
    BatchResult,
    Connector,
    CrmLead,
    LeadPage,
    ScoreWrite,
)
from leadsync.errors import LeadsyncError
from leadsync.scoring.conditions import to_bool
from leadsync.scoring.engine import ScoreResult, score
from leadsync.scoring.lead import Lead
from leadsync.scoring.model import ScoringModel
from leadsync.sync import mql
from leadsync.sync.output import number
from leadsync.sync.runhistory import interruption
from leadsync.sync.state import Crossing, FailedWrite, StateStore, StoredScore
from leadsync.sync.tasks import ROUND_ROBIN, TaskDesk

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

log = logging.getLogger("leadsync.sync")

Mode = Literal["incremental", "backfill"]
NO_CONSENT = "behaviour not scored: no marketing consent"
#: Leads scored at a time within a page (one state look-up each).
SLICE = 2_000
#: How far ahead of the host's clock the CRM may stamp an event that has happened.
CLOCK_SKEW = timedelta(minutes=5)
FIELDS = "fields"


@dataclass(frozen=True, slots=True)
class Change:
    """A score that differs from what the CRM holds (what a dry run reports)."""

    lead_id: str
    name: str | None
    old_score: Decimal | None
    new_score: Decimal
    old_tier: str | None
    new_tier: str
    reasons: str
    task: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.lead_id,
            "name": self.name,
            "old_score": None if self.old_score is None else number(self.old_score),
            "score": number(self.new_score),
            "old_tier": self.old_tier,
            "tier": self.new_tier,
            "reasons": self.reasons,
            "task": self.task,
        }


@dataclass(slots=True)
class RunReport:
    run_id: int | None
    account_id: str
    mode: Mode
    dry_run: bool
    status: str = "running"
    counts: Counter[str] = field(default_factory=Counter)
    tiers: Counter[str] = field(default_factory=Counter)
    error: str | None = None


def scoring_moment(lead: Lead, now: datetime) -> datetime:
    """The moment ``lead`` is scored as of: ``now``, or its newest event when the CRM
    stamped that at most :data:`CLOCK_SKEW` later (see the module docstring)."""
    newest = max((e.at for e in lead.events), default=now)
    return newest if now < newest <= now + CLOCK_SKEW else now


def account_score(
    account: Account, model: ScoringModel, lead: Lead, now: datetime
) -> tuple[ScoreResult, str]:
    """``lead``'s score for ``account`` and the reasons text written with it: as of
    :func:`scoring_moment`, and from who the lead is alone when the account requires
    marketing consent the lead has not given."""
    now = scoring_moment(lead, now)
    if account.require_consent and to_bool(lead.properties.get("marketing_consent")) is not True:
        result = score(Lead(lead.id, lead.properties, ()), model, now)
        explanation = result.explanation()
        return result, f"{explanation} · {NO_CONSENT}" if explanation else NO_CONSENT
    result = score(lead, model, now)
    return result, result.explanation()


class Sync:
    """Runs an account's connector, the engine and the state store together."""

    def __init__(
        self,
        account: Account,
        connector: Connector,
        store: StateStore,
        model: ScoringModel,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        *,
        guard: Callable[[Connection], None] | None = None,
        replica: str | None = None,
    ) -> None:
        """``guard`` runs inside every state transaction and may refuse it by raising (the
        daemon's lease fencing, :meth:`Leases.fence`); ``replica`` names the daemon replica
        in the run history."""
        self.account = account
        self.connector = connector
        self.store = store
        self.model = model
        self.clock = clock
        self.guard = guard
        self.replica = replica
        self.threshold = Decimal(str(model.mql_threshold))
        self.tasks = TaskDesk(account, connector, store, self._transaction)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self.store.transaction() as conn:
            if self.guard:
                self.guard(conn)
            yield conn

    def run(
        self,
        mode: Mode,
        *,
        dry_run: bool = False,
        limit: int | None = None,
        on_page: Callable[[RunReport], None] | None = None,
        on_change: Callable[[Change], None] | None = None,
        stop: Callable[[], bool] | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> RunReport:
        """One run; ``on_page`` sees the report grow, ``on_change`` each score change.

        ``stop`` is asked after each page: when it answers yes the run ends there, its
        cursor saved (status ``stopped``), and the next run resumes from it. ``on_start``
        learns the run's id as soon as it is in the history.
        """
        account_id = self.account.id
        dry_run = dry_run or self.account.dry_run
        report = RunReport(None, account_id, mode, dry_run)
        if not dry_run:
            report.run_id = self.store.start_run(account_id, mode, self.replica)
            if on_start:
                on_start(report.run_id)
        started = self.clock()
        try:
            refused: set[str] = set()
            if not dry_run:
                self._ensure_fields(report)
                self.tasks.settle(report, self.clock())
                refused = {f.lead_id for f in self.store.failed_writes(account_id)}
            cursor = self.store.cursor(account_id, mode)
            if mode == "backfill":
                self._rescore(refused, report)
                pages = self.connector.all_leads(cursor)
            else:  # the refused writes are read again with the changes, in the same calls
                pages = self.connector.changed_leads(
                    cursor, lambda ids: self.store.own_writes(account_id, ids), sorted(refused)
                )
            finished = True
            for page in pages:
                complete = self._page(page, report, dry_run, limit, on_change, refused=refused)
                if on_page:
                    on_page(report)
                if not complete:
                    finished = False
                    break
                if stop and stop() and page.cursor is not None:  # None: that was the last
                    finished, report.status = False, "stopped"
                    break
            if finished and refused:  # not found by the run: deleted or converted
                self._gone(refused, report)
            if finished and mode == "backfill" and not dry_run:
                with self._transaction() as conn:
                    self.store.set_cursor(conn, account_id, "backfill", None)
                    if self.store.cursor(account_id, "incremental") is None:
                        self.store.set_cursor(
                            conn, account_id, "incremental", self.connector.cursor_at(started)
                        )
            if report.status == "running":
                failures = report.counts["task_failures"] or report.counts["write_failures"]
                report.status = "ok" if finished and not failures else "partial"
        except LeadsyncError as error:
            report.status, report.error = "failed", str(error)
            raise
        except BaseException as error:
            report.status, report.error = "interrupted", interruption(error)
            raise
        finally:
            usage = self.connector.usage()
            report.counts["api_calls"] = usage.total
            report.counts["rate_limit_waits"] = usage.rate_limit_waits
            report.counts["throttled"] = usage.throttled
            if usage.daily_remaining is not None:
                report.counts["api_daily_remaining"] = usage.daily_remaining
            if usage.daily_limit is not None:
                report.counts["api_daily_limit"] = usage.daily_limit
            if report.run_id is not None:
                self.store.finish_run(
                    report.run_id, report.status, dict(report.counts), report.error
                )
            log.log(
                logging.INFO if report.status == "ok" else logging.WARNING,
                "run %s",
                report.status,
                extra={"account": account_id, "run": report.run_id, "mode": mode, **report.counts},
            )
        return report

    # --- a page ------------------------------------------------------------------------

    def _page(
        self,
        page: LeadPage,
        report: RunReport,
        dry_run: bool,
        limit: int | None,
        on_change: Callable[[Change], None] | None,
        *,
        save_cursor: bool = True,
        refused: set[str] | None = None,
    ) -> bool:
        """Process a page; False when ``limit`` cut it short (its cursor is not saved).

        Leads of ``refused`` (whose last write the CRM refused) are taken out of it as
        they are processed."""
        account_id = self.account.id
        complete = True
        report.counts["skipped_own_writes"] += page.skipped
        now = self.clock()
        robin = self.tasks.round_robin()
        writes: list[ScoreWrite] = []
        rows: dict[str, dict[str, Any]] = {}
        crossings: list[Crossing] = []
        leads = iter(page.leads)
        # a slice at a time: a streamed page's leads (with their events) are never all held
        while complete and (chunk := list(itertools.islice(leads, SLICE))):
            if limit is not None and report.counts["leads"] + len(chunk) > limit:
                chunk = chunk[: max(0, limit - report.counts["leads"])]
                complete = False
            stored = self.store.scores(account_id, [c.lead.id for c in chunk])
            for crm_lead in chunk:
                result, reasons = self._score(crm_lead.lead, now)
                report.counts["leads"] += 1
                report.tiers[result.tier] += 1
                report.counts["mql"] += result.is_mql
                write, row, crossing, owner = self._decide(
                    crm_lead, result, reasons, stored.get(crm_lead.lead.id), robin, now
                )
                rows[crm_lead.lead.id] = row
                if crossing:
                    crossings.append(self.tasks.crossing(crm_lead, result, owner, now))
                if write is None:
                    report.counts["unchanged"] += 1
                    continue
                writes.append(write)
                if on_change:
                    written = crm_lead.written
                    on_change(
                        Change(
                            write.lead_id,
                            crm_lead.name,
                            written.score,
                            result.score,
                            written.tier,
                            result.tier,
                            reasons,
                            crossing,
                        )
                    )
        if dry_run:
            report.counts["writes"] += len(writes)
            report.counts["tasks"] += len(crossings)
            return complete
        if writes:
            self.tasks.fence()  # still ours? a stalled replica must not write over the new one
        outcome = self.connector.write_scores(writes) if writes else BatchResult()
        report.counts["writes"] += len(outcome.done)
        if refused:
            report.counts["writes_retried"] += len(refused.intersection(outcome.done))
            refused.difference_update(rows)
        report.counts["write_failures"] += len(outcome.failed)
        by_id = {w.lead_id: w for w in writes}
        for lead_id, stamp in outcome.done.items():
            rows[lead_id]["crm_stamp"] = stamp or None
        for lead_id in outcome.failed:  # not written: keep the MQL state, force a rewrite
            rows[lead_id].update(digest="", crm_stamp=None)
        with self._transaction() as conn:
            self.store.save_scores(conn, account_id, rows.values())
            done = [by_id[lead_id] for lead_id in outcome.done]
            self.store.history.record(conn, account_id, done, self.threshold)
            self.store.record_failed_writes(
                conn,
                account_id,
                [
                    FailedWrite(
                        lead_id,
                        by_id[lead_id].object_type,
                        _write_payload(by_id[lead_id]),
                        error,
                        0,
                    )
                    for lead_id, error in outcome.failed.items()
                ],
            )
            self.store.clear_failed_writes(conn, account_id, outcome.done)
            for crossing in crossings:
                self.store.add_crossing(conn, account_id, crossing)
            self.store.set_cursor(conn, account_id, ROUND_ROBIN, str(robin.position))
        self.tasks.create(crossings, report)
        if complete and save_cursor:
            with self._transaction() as conn:
                self.store.set_cursor(conn, account_id, report.mode, page.cursor)
        return complete

    def _decide(
        self,
        crm_lead: CrmLead,
        result: ScoreResult,
        reasons: str,
        previous: StoredScore | None,
        robin: mql.RoundRobin,
        now: datetime,
    ) -> tuple[ScoreWrite | None, dict[str, Any], bool, str | None]:
        """For one scored lead: the write it needs (None if the CRM has it), its state
        row, whether it crossed the MQL threshold, and the task's owner if it did."""
        state = mql.MqlState(
            previous.mql_armed if previous else True, previous.last_task_at if previous else None
        )
        state, crossing = mql.next_state(result, state, self.threshold, self.account.tasks, now)
        owner: str | None = None
        new_owner = False
        if crossing:
            owner, new_owner = mql.pick_owner(crm_lead, robin)
        digest = _digest(result.score, result.tier, result.model, reasons)
        written = crm_lead.written
        in_crm = (written.score, written.tier, written.model) == (
            result.score,
            result.tier,
            result.model,
        ) and written.reasons in (None, reasons)
        set_owner = owner if (new_owner and self.account.tasks.assign_owner) else None
        write = None
        if not in_crm or (previous is not None and previous.digest != digest) or set_owner:
            write = ScoreWrite(
                crm_lead.lead.id,
                crm_lead.object_type,
                result.score,
                result.tier,
                reasons,
                result.model,
                now,
                set_owner,
            )
        row = {
            "lead_id": crm_lead.lead.id,
            "score": result.score,
            "tier": result.tier,
            "model": result.model,
            "digest": digest,
            "mql_armed": state.armed,
            "last_task_at": state.last_task_at,
            "crm_stamp": previous.crm_stamp if previous else None,
            "inputs": crm_lead.inputs or None,
        }
        return write, row, crossing, owner

    def _score(self, lead: Lead, now: datetime) -> tuple[ScoreResult, str]:
        return account_score(self.account, self.model, lead, now)

    # --- before the pages ----------------------------------------------------------------

    def _ensure_fields(self, report: RunReport) -> None:
        """Create the score fields once per set of tiers, not at every run."""
        tiers = [t.name for t in self.model.tiers]
        wanted = json.dumps({"fields": self.account.fields.model_dump(), "tiers": tiers})
        if self.store.cursor(self.account.id, FIELDS) == wanted:
            return
        created = self.connector.ensure_score_fields(tiers)
        report.counts["fields_created"] += len(created)
        with self._transaction() as conn:
            self.store.set_cursor(conn, self.account.id, FIELDS, wanted)

    def _rescore(self, refused: set[str], report: RunReport) -> None:
        """Score again, from what the CRM holds now, the records whose write it refused.

        Replaying the refused write would put back a score computed from data that may
        have changed since, and its stamp would then pass for leadsync's own.
        """
        if refused:
            leads = self.connector.read_leads(sorted(refused))
            self._page(LeadPage(leads, None), report, False, None, None, save_cursor=False,
                       refused=refused)  # fmt: skip

    def _gone(self, refused: set[str], report: RunReport) -> None:
        """Refused writes whose record the CRM no longer serves: not retried again."""
        with self._transaction() as conn:
            self.store.clear_failed_writes(conn, self.account.id, refused)
        report.counts["writes_gone"] += len(refused)
        refused.clear()


def _digest(score: Decimal, tier: str, model: str, reasons: str) -> str:
    """What identifies a written score: any change to it means a write."""
    text = f"{score}|{tier}|{model}|{reasons}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _write_payload(write: ScoreWrite) -> dict[str, Any]:
    return {
        "score": str(write.score),
        "tier": write.tier,
        "reasons": write.reasons,
        "model": write.model,
        "updated_at": write.updated_at.isoformat(),
        "owner_id": write.owner_id,
    }
