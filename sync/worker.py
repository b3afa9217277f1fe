"""One scheduled run of one account, as the daemon runs it.

:meth:`Worker.run` is what a schedule fires: skip the account while it backs off, take
its lease (:class:`~leadsync.sync.hold.Hold`; skip quietly when another replica or a
``leadsync`` command holds it), pick the mode (a backfill
first, resumed when interrupted, and when the full re-score is due; else an
incremental run), run :class:`~leadsync.sync.pipeline.Sync` fenced by the lease with
a heartbeat that renews it, then record the outcome: a success resets the account's
failures, a failure backs the account off, alone, for ``base × 2^(failures-1)``
(capped). Every line logged meanwhile carries the ``account`` and ``run`` ids.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from leadsync.config.accounts import Account
from leadsync.config.templates import resolve_model
from leadsync.connectors.base import Connector, open_connector
from leadsync.errors import LeadsyncError
from leadsync.sync import logs
from leadsync.sync.database import now
from leadsync.sync.hold import Hold
from leadsync.sync.leases import LeaseHeld, LeaseLost, Leases
from leadsync.sync.metrics import Metrics
from leadsync.sync.pipeline import Mode, RunReport, Sync
from leadsync.sync.runhistory import AccountStatus
from leadsync.sync.schedules import fired_since, interval_of
from leadsync.sync.state import StateStore

log = logging.getLogger("leadsync.daemon")

#: The cursor kind holding when the last full re-score (a finished backfill) started.
RESCORED = "full_rescore"


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long a failing account waits: ``base × 2^(failures-1)``, at most ``cap``."""

    base: timedelta = timedelta(minutes=1)
    cap: timedelta = timedelta(hours=1)

    def delay(self, failures: int) -> timedelta:
        return min(self.base * 2 ** min(max(failures - 1, 0), 40), self.cap)


class Worker:
    """Runs accounts for one daemon replica; :attr:`stopping` ends every run at a page."""

    def __init__(
        self,
        store: StateStore,
        leases: Leases,
        replica: str,
        *,
        metrics: Metrics | None = None,
        backoff: Backoff | None = None,
        next_run: Callable[[str], datetime | None] = lambda account_id: None,
    ) -> None:
        self.store = store
        self.leases = leases
        self.replica = replica
        self.metrics = metrics if metrics is not None else Metrics()
        self.backoff = backoff or Backoff()
        self.next_run = next_run
        self.stopping = threading.Event()
        self._busy: dict[str, threading.Lock] = {}
        self._cancelled: set[str] = set()
        self._lock = threading.Lock()
        self._active = 0
        self._idle = threading.Condition(self._lock)

    # --- what the daemon asks ------------------------------------------------------------

    def active(self) -> int:
        """Runs going on now."""
        with self._lock:
            return self._active

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no run is going on; ``False`` if ``timeout`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._active == 0, timeout)

    def cancel(self, account_id: str) -> None:
        """The account left the accounts file: its run (if any) stops after its page."""
        with self._lock:
            self._cancelled.add(account_id)

    def restore(self, account_id: str) -> None:
        with self._lock:
            self._cancelled.discard(account_id)

    # --- a scheduled run -----------------------------------------------------------------

    def run(self, account: Account) -> str:
        """One scheduled run of ``account``; returns what happened (for tests and logs)."""
        if self.stopping.is_set():
            return "stopping"
        with self._lock:
            busy = self._busy.setdefault(account.id, threading.Lock())
        if not busy.acquire(blocking=False):
            log.debug(
                "run skipped: this account's previous run is still going",
                extra={"account": account.id},
            )
            return "busy"
        try:
            with logs.bind(account=account.id):
                return self._run(account)
        finally:
            busy.release()

    def _run(self, account: Account) -> str:
        if _backing_off(self._status(account.id)):
            return "backoff"
        with self._lock:  # atomic with the check, so that wait_idle() cannot miss this run
            if self.stopping.is_set():
                return "stopping"
            self._active += 1
        try:
            return self._lease_and_run(account)
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _lease_and_run(self, account: Account) -> str:
        try:
            hold = Hold.take(self.store, self.leases, account.id)
        except LeaseHeld:
            log.debug("run skipped: another replica or a leadsync command holds its lease")
            return "held"
        with hold:
            self.metrics.lease_acquired(account.id)
            status = self._status(account.id)  # as the replica that last ran it left it
            if _backing_off(status):
                return "backoff"
            try:
                mode = self._mode(account, hold)
            except LeaseLost as error:
                log.warning("run not started: %s", error)
                return "lease lost"
            if mode is None:
                return "not due"
            return self._leased(account, hold, status, mode)

    def _leased(self, account: Account, hold: Hold, status: AccountStatus, mode: Mode) -> str:
        hold.beat()
        connector: Connector | None = None
        began = time.monotonic()

        def recorded(run_id: int) -> None:  # every line from here on carries the run id
            logs.bind_more(run=run_id)
            hold.on_start(run_id)
            log.info(
                "run started",
                extra={"mode": mode, "replica": self.replica, "instance": self.leases.instance},
            )

        def stop() -> bool:
            return self.stopping.is_set() or hold.lost.is_set() or self._is_cancelled(account.id)

        def on_page(report: RunReport) -> None:
            log.info("page", extra=dict(report.counts))

        try:
            model = resolve_model(account.model)
            connector = open_connector(account)
            runner = Sync(
                account, connector, self.store, model, guard=hold.guard, replica=self.replica
            )
            self.metrics.run_started(account.id, account.crm)
            if account.dry_run:
                log.info("run started", extra={"mode": mode, "dry_run": True})
            started_at = now()
            report = runner.run(mode, on_page=on_page, stop=stop, on_start=recorded)
            if mode == "backfill" and report.status == "ok" and not report.dry_run:
                with self.store.transaction() as conn:  # the full re-score is done
                    hold.guard(conn)
                    self.store.set_cursor(conn, account.id, RESCORED, started_at.isoformat())
        except LeaseLost as error:
            self.metrics.lease_lost(account.id)
            log.warning("run stopped: %s", error)
            return "lease lost"
        except Exception as error:  # LeadsyncError: the user's or the CRM's; others: bugs
            self._failed(account, status, error, connector, time.monotonic() - began)
            return "failed"
        finally:
            if connector is not None:
                try:
                    connector.close()
                except Exception as error:
                    log.debug("could not close the connector", extra={"error": _kind(error)})
        self._succeeded(account, status, report, time.monotonic() - began)
        if hold.lost.is_set():
            self.metrics.lease_lost(account.id)
            log.warning("run stopped: another replica took over the account's lease")
        return report.status

    def _succeeded(
        self, account: Account, status: AccountStatus, report: RunReport, seconds: float
    ) -> None:
        """The run ended without an error (ok, or stopped at a page): failures reset."""
        self.metrics.run_finished(account.id, account.crm, report, seconds)
        self.metrics.backoff(account.id, account.crm, 0.0)
        counts = report.counts
        self._set_status(
            AccountStatus(
                account.id,
                failures=0,
                next_run_at=self.next_run(account.id),
                last_success_at=now() if report.status == "ok" else status.last_success_at,
                api_remaining=counts.get("api_daily_remaining", status.api_remaining),
                api_limit=counts.get("api_daily_limit", status.api_limit),
            )
        )

    def _mode(self, account: Account, hold: Hold) -> Mode | None:
        """The run to make now: a backfill first (resumed if interrupted) and when the
        full re-score is due, else an incremental run; None when no run is due."""
        rescore = self._rescore_due(account, hold)
        if not rescore and not self._due(account):
            return None
        if rescore:
            log.info("full re-score due", extra={"full_rescore": account.schedule.full_rescore})
            return "backfill"
        if self.store.cursor(account.id, "backfill") is not None:
            return "backfill"  # an interrupted backfill or re-score: resume it
        if self.store.cursor(account.id, "incremental") is None:
            return "backfill"  # never synced
        return "incremental"

    def _due(self, account: Account) -> bool:
        """Whether this tick's run is due: not if the account's last run (by whichever
        replica) ended well and started since the schedule last fired. So replicas whose
        schedules tick at different moments do not each sync the account."""
        last = next(iter(self.store.runs(account.id, 1)), None)
        if last is None or last.status != "ok":
            return True
        schedule, moment = account.schedule, now()
        interval = interval_of(schedule)
        if interval is not None:
            due = moment - last.started_at >= interval / 2
        else:
            assert schedule is not None and schedule.cron is not None
            due = fired_since(schedule.cron, last.started_at, moment)
        if not due:
            log.debug(
                "run skipped: synced since the schedule last fired",
                extra={"last_run": last.id, "by": last.replica},
            )
        return due

    def _rescore_due(self, account: Account, hold: Hold) -> bool:
        rescore = account.schedule.full_rescore if account.schedule else None
        if rescore is None:
            return False
        last = self.store.cursor(account.id, RESCORED)
        if last is None:  # never re-scored under the daemon: count from now
            with self.store.transaction() as conn:
                hold.guard(conn)
                self.store.set_cursor(conn, account.id, RESCORED, now().isoformat())
            return False
        return fired_since(rescore, datetime.fromisoformat(last), now())

    def _failed(
        self,
        account: Account,
        status: AccountStatus,
        error: Exception,
        connector: Connector | None,
        seconds: float,
    ) -> None:
        kind = type(error).__name__
        failures = status.failures + 1
        delay = self.backoff.delay(failures)
        until = now() + delay
        next_run = self.next_run(account.id)
        usage = None
        if connector is not None:
            try:
                usage = connector.usage()
            except Exception:
                usage = None
        self.metrics.run_failed(account.id, account.crm, kind)
        self.metrics.backoff(account.id, account.crm, delay.total_seconds())
        extra = {
            "error_kind": kind,
            "failures": failures,
            "backoff_s": round(delay.total_seconds(), 3),
            "backoff_until": until.isoformat(),
            "seconds": round(seconds, 3),
        }
        if isinstance(error, LeadsyncError):
            log.error("run failed: %s", error, extra=extra)
        else:
            log.error("run failed with an unexpected %s: %s", kind, error, extra=extra)
        self._set_status(
            replace(
                status,
                failures=failures,
                last_error=str(error)[:2000] or kind,
                last_error_kind=kind,
                backoff_until=until,
                next_run_at=max(next_run, until) if next_run else until,
                api_remaining=(usage.daily_remaining if usage else None) or status.api_remaining,
                api_limit=(usage.daily_limit if usage else None) or status.api_limit,
            )
        )

    # --- helpers -------------------------------------------------------------------------

    def _status(self, account_id: str) -> AccountStatus:
        return self.store.account_status(account_id).get(account_id) or AccountStatus(account_id)

    def _set_status(self, status: AccountStatus) -> None:
        try:
            self.store.set_account_status(status)
        except Exception as error:
            log.error("could not record the account's status", extra={"error": _kind(error)})

    def _is_cancelled(self, account_id: str) -> bool:
        with self._lock:
            return account_id in self._cancelled


def _backing_off(status: AccountStatus) -> bool:
    if status.backoff_until is not None and status.backoff_until > now():
        log.debug("run skipped: backing off", extra={"until": status.backoff_until})
        return True
    return False


def _kind(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"
