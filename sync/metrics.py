"""The daemon's Prometheus metrics, served on ``/metrics`` by :class:`leadsync.sync.http.OpsServer`.

Every metric is named ``leadsync_…`` and carries the labels ``account`` (the account's
id) and ``crm`` (hubspot or salesforce), except the lease counters (``account`` only):

==========================================  =========  =================================
metric                                      type       labels
==========================================  =========  =================================
leadsync_runs_total                         counter    account, crm, status
leadsync_run_duration_seconds               histogram  account, crm
leadsync_runs_in_progress                   gauge      account, crm
leadsync_leads_scored_total                 counter    account, crm
leadsync_score_writes_total                 counter    account, crm
leadsync_score_write_failures_total         counter    account, crm
leadsync_tasks_created_total                counter    account, crm
leadsync_task_failures_total                counter    account, crm
leadsync_api_calls_total                    counter    account, crm
leadsync_rate_limit_waits_total             counter    account, crm
leadsync_api_daily_remaining                gauge      account, crm
leadsync_api_daily_limit                    gauge      account, crm
leadsync_errors_total                       counter    account, crm, kind
leadsync_last_success_timestamp_seconds     gauge      account, crm
leadsync_backoff_seconds                    gauge      account, crm
leadsync_lease_acquisitions_total           counter    account
leadsync_lease_losses_total                 counter    account
==========================================  =========  =================================

Each :class:`Metrics` has its own :class:`~prometheus_client.CollectorRegistry`, so
tests (and several daemons in one process) never share counters, and the process
metrics of the default registry are not mixed in.

The daemon's contract: :meth:`Metrics.run_started` when a run begins, then one of
:meth:`Metrics.run_finished` (the run returned a report), :meth:`Metrics.run_failed`
(it raised) or :meth:`Metrics.lease_lost` (another replica took the account over).
Each attempt is counted once in ``leadsync_runs_total``, however it ends:

- ``run_failed`` without ``run_started`` (the model or the connector could not be
  opened, say) is a failed run too;
- ``run_finished`` with a failed report followed by ``run_failed`` (the daemon held the
  report of a run that raised) is one failed run, and its error kind is counted;
- ``lease_lost`` during a run ends it with the status ``lease_lost``.
"""

from __future__ import annotations

import threading
import time
from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from leadsync.sync.pipeline import RunReport

__all__ = ["DURATION_BUCKETS", "Metrics"]

#: Run durations: an incremental run with nothing to do takes well under a second, a
#: backfill of 100,000 contacts several minutes, a backfill of millions hours.
DURATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400)

#: RunReport.counts key → the counter it adds to.
_COUNTED = {
    "leads": "leads_scored",
    "writes": "score_writes",
    "write_failures": "score_write_failures",
    "tasks": "tasks_created",
    "task_failures": "task_failures",
    "api_calls": "api_calls",
    "rate_limit_waits": "rate_limit_waits",
}


class Metrics:
    """The daemon's metrics, in a registry of their own (:attr:`registry`)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        per_run = ["account", "crm"]
        self.runs = Counter(
            "leadsync_runs_total",
            "Runs that ended, by status: ok (every page done), partial (stopped at a limit), "
            "stopped (a graceful stop; the next run resumes from its cursor), failed, "
            "lease_lost (another replica took the account over mid-run).",
            [*per_run, "status"],
            registry=r,
        )
        self.run_duration = Histogram(
            "leadsync_run_duration_seconds",
            "Wall time of a run that ended, from its start to its report, in seconds.",
            per_run,
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.in_progress = Gauge(
            "leadsync_runs_in_progress",
            "Runs under way now (0 or 1 per account; sum over accounts for the daemon).",
            per_run,
            registry=r,
        )
        self.leads_scored = Counter(
            "leadsync_leads_scored_total",
            "Leads (contacts, Salesforce Leads and Contacts) read from the CRM and scored.",
            per_run,
            registry=r,
        )
        self.score_writes = Counter(
            "leadsync_score_writes_total",
            "Lead scores written to the CRM (only scores that changed are written).",
            per_run,
            registry=r,
        )
        self.score_write_failures = Counter(
            "leadsync_score_write_failures_total",
            "Score writes the CRM refused; they are retried at the account's next run.",
            per_run,
            registry=r,
        )
        self.tasks_created = Counter(
            "leadsync_tasks_created_total",
            "Follow-up tasks created for lead owners when a lead crossed the MQL threshold.",
            per_run,
            registry=r,
        )
        self.task_failures = Counter(
            "leadsync_task_failures_total",
            "Follow-up tasks the CRM refused; they are retried at the account's next run.",
            per_run,
            registry=r,
        )
        self.api_calls = Counter(
            "leadsync_api_calls_total",
            "Calls made to the CRM's API (every HTTP request, retries included).",
            per_run,
            registry=r,
        )
        self.rate_limit_waits = Counter(
            "leadsync_rate_limit_waits_total",
            "Times a call waited for the account's rate limiter (or after a 429) before going.",
            per_run,
            registry=r,
        )
        self.api_daily_remaining = Gauge(
            "leadsync_api_daily_remaining",
            "The CRM's daily API budget left for the account at the end of its last run, "
            "where the CRM reports it.",
            per_run,
            registry=r,
        )
        self.api_daily_limit = Gauge(
            "leadsync_api_daily_limit",
            "The CRM's daily API limit for the account, where the CRM reports it.",
            per_run,
            registry=r,
        )
        self.errors = Counter(
            "leadsync_errors_total",
            "Runs (or run preparations) that raised, by exception class, e.g. CrmAuthError, "
            "CrmRateLimited, LeaseLost.",
            [*per_run, "kind"],
            registry=r,
        )
        self.last_success = Gauge(
            "leadsync_last_success_timestamp_seconds",
            "When the account's last run with status ok ended, in Unix seconds "
            "(alert on time() - this).",
            per_run,
            registry=r,
        )
        self.backoff_seconds = Gauge(
            "leadsync_backoff_seconds",
            "How long the account is held back after failures, in seconds (0: not held back).",
            per_run,
            registry=r,
        )
        self.lease_acquisitions = Counter(
            "leadsync_lease_acquisitions_total",
            "Times this replica took an account's lease (the right to sync it).",
            ["account"],
            registry=r,
        )
        self.lease_losses = Counter(
            "leadsync_lease_losses_total",
            "Times this replica lost an account's lease to another replica during a run.",
            ["account"],
            registry=r,
        )
        self._open: Tally[tuple[str, str]] = Tally()
        self._failed_report: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    # --- runs ------------------------------------------------------------------------

    def run_started(self, account_id: str, crm: str) -> None:
        """A run of the account begins."""
        with self._lock:
            self._open[(account_id, crm)] += 1
            self._failed_report.discard((account_id, crm))
        self.in_progress.labels(account_id, crm).inc()

    def run_finished(self, account_id: str, crm: str, report: RunReport, seconds: float) -> None:
        """A run returned ``report`` after ``seconds``: its status, duration and counts."""
        self._close(account_id, crm)
        if report.status == "failed":
            with self._lock:
                self._failed_report.add((account_id, crm))
        self.runs.labels(account_id, crm, report.status).inc()
        self.run_duration.labels(account_id, crm).observe(max(0.0, seconds))
        for key, name in _COUNTED.items():
            value = report.counts.get(key, 0)
            if value > 0:
                getattr(self, name).labels(account_id, crm).inc(value)
        if "api_daily_remaining" in report.counts:
            self.api_daily_remaining.labels(account_id, crm).set(
                report.counts["api_daily_remaining"]
            )
        if "api_daily_limit" in report.counts:
            self.api_daily_limit.labels(account_id, crm).set(report.counts["api_daily_limit"])
        if report.status == "ok":
            self.last_success.labels(account_id, crm).set(time.time())

    def run_failed(self, account_id: str, crm: str, kind: str) -> None:
        """A run (or its preparation) raised ``kind``, the exception's class name.

        Counts the error and a failed run, unless :meth:`run_finished` already counted
        this run's failed report.
        """
        self.errors.labels(account_id, crm, kind).inc()
        with self._lock:
            reported = (account_id, crm) in self._failed_report
            self._failed_report.discard((account_id, crm))
        if not reported:
            self._close(account_id, crm)
            self.runs.labels(account_id, crm, "failed").inc()

    def _close(self, account_id: str, crm: str) -> bool:
        """End an open run of the account; ``False`` when none was open."""
        key = (account_id, crm)
        with self._lock:
            if self._open[key] <= 0:
                return False
            self._open[key] -= 1
        self.in_progress.labels(account_id, crm).dec()
        return True

    def _open_crm(self, account_id: str) -> str | None:
        """The CRM of a run of the account that is still open, if any."""
        with self._lock:
            return next((c for (a, c), n in self._open.items() if a == account_id and n > 0), None)

    # --- backoff and leases ----------------------------------------------------------

    def backoff(self, account_id: str, crm: str, seconds: float) -> None:
        """The account is held back ``seconds`` after failures (0 when that is cleared)."""
        self.backoff_seconds.labels(account_id, crm).set(max(0.0, seconds))

    def lease_acquired(self, account_id: str) -> None:
        """This replica took the account's lease."""
        self.lease_acquisitions.labels(account_id).inc()

    def lease_lost(self, account_id: str) -> None:
        """Another replica took the account's lease while this one held it.

        A run of the account still open (neither finished nor failed) ends here, counted
        with the status ``lease_lost``.
        """
        self.lease_losses.labels(account_id).inc()
        crm = self._open_crm(account_id)
        if crm is not None and self._close(account_id, crm):
            self.runs.labels(account_id, crm, "lease_lost").inc()
