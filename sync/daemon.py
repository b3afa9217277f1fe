"""``leadsync daemon``: every account of the accounts file on its own schedule.

The lifecycle lives here — the scheduler (APScheduler's ``BackgroundScheduler``), the
accounts file reloaded on SIGHUP or when it changes, graceful shutdown on SIGTERM or
SIGINT, the SQLite single-daemon lock, the ops HTTP server — and one run of one
account in :mod:`leadsync.sync.worker`. How it behaves: ``docs/daemon.md``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import random
import signal
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import SQLAlchemyError

from leadsync.config.accounts import Account
from leadsync.config.accountsfile import load_accounts
from leadsync.config.cron import cron_trigger
from leadsync.config.settings import Settings
from leadsync.errors import ConfigError, LeadsyncError
from leadsync.sync import logs
from leadsync.sync.database import now, safe_url, scrub
from leadsync.sync.leases import Leases, default_replica_id
from leadsync.sync.metrics import Metrics
from leadsync.sync.schedules import interval_of, sync_trigger
from leadsync.sync.state import StateStore
from leadsync.sync.worker import Backoff, Worker

log = logging.getLogger("leadsync.daemon")

#: An interval account's first run comes within this long of start (or its interval).
FIRST_RUN_SPREAD = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Options:
    """The daemon's command-line options (``leadsync daemon --help``)."""

    accounts_file: Path
    grace: timedelta = timedelta(seconds=30)
    lease: timedelta = timedelta(seconds=60)
    replica_id: str | None = None
    http: str | None = None
    backoff: Backoff = field(default_factory=Backoff)
    watch: timedelta = timedelta(seconds=5)
    """How often the accounts file is checked for changes; 0 turns that off."""
    workers: int = 8
    """Accounts that may run at the same time in this replica."""


class Daemon:
    """One replica; :meth:`serve` runs it until a signal and returns the exit code."""

    def __init__(self, options: Options, settings: Settings | None = None) -> None:
        self.options = options
        self.settings = settings or Settings()
        self.replica = options.replica_id or default_replica_id()
        self.accounts: dict[str, Account] = {}
        self._wake = threading.Event()
        self._stop_signal: int | None = None
        self._reload_requested = False
        self._file_seen: tuple[int, int, int] | None = None
        self._file_hash: str | None = None

    # --- the lifecycle -------------------------------------------------------------------

    def serve(self) -> int:
        logs.configure(self.settings.log_level, self.settings.log_format)
        _route_scheduler_logs()
        path = self.options.accounts_file
        self._file_seen, self._file_hash = _fingerprint(path), _digest(path)
        accounts = load_accounts(path)  # a ConfigError: exit 1 with the file and line
        url = self.settings.state_url()
        lock = _lock_sqlite(url)
        try:
            self.store = StateStore(url)
            self.leases = Leases(self.store.engine, self.replica, self.options.lease)
        except SQLAlchemyError as error:
            shown = safe_url(url)
            reason = " ".join(str(getattr(error, "orig", None) or error).split())
            reason = scrub(reason, url)[:300]
            raise LeadsyncError(f"state database {shown}: {reason}") from None
        try:
            return self._serve(accounts.accounts)
        finally:
            self.leases.close()
            self.store.close()
            if lock is not None:
                lock.close()

    def _serve(self, accounts: list[Account]) -> int:
        self.metrics = Metrics()
        self.scheduler = BackgroundScheduler(
            timezone="UTC",
            executors={"default": ThreadPoolExecutor(self.options.workers)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self.scheduler.add_listener(_skipped, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
        self.worker = Worker(
            self.store,
            self.leases,
            self.replica,
            metrics=self.metrics,
            backoff=self.options.backoff,
            next_run=self._next_run,
        )
        server = self._http_server()  # a bad --http address fails before any run
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        self._apply(accounts, first=True)
        self.scheduler.start()
        if server is not None:
            server.start()
        log.info(
            "daemon started",
            extra={
                "replica": self.replica,
                "instance": self.leases.instance,
                "accounts": len(self.accounts),
                "accounts_file": str(self.options.accounts_file),
                "state": safe_url(self.store.url),
                "lease_s": self.options.lease.total_seconds(),
                "pid": os.getpid(),
            },
        )
        try:
            self._loop()
        finally:
            code = self._shutdown()
            if server is not None:
                server.stop()
        return code

    def _loop(self) -> None:
        watch = self.options.watch.total_seconds()
        while self._stop_signal is None:
            self._wake.wait(watch if watch > 0 else 1.0)
            self._wake.clear()
            if self._stop_signal is not None:
                return
            if self._reload_requested:
                self._reload_requested = False
                self._reload("SIGHUP")
            elif watch > 0 and self._file_changed():
                self._reload("the file changed")

    def _shutdown(self) -> int:
        """Stop taking runs, let the running pages finish, release the leases."""
        name = signal.Signals(self._stop_signal).name if self._stop_signal else "exit"
        grace = self.options.grace.total_seconds()
        running = self.worker.active()
        log.info(
            "stopping: no new runs; running ones end after their current page",
            extra={"signal": name, "running": running, "grace_s": grace},
        )
        self.worker.stopping.set()
        self.scheduler.pause()
        clean = self.worker.wait_idle(grace)
        self.scheduler.shutdown(wait=False)
        if not clean:
            log.error(
                "the grace period is over with runs still going: exiting now; they resume "
                "from their cursors at the next start, their leases expire by themselves",
                extra={"running": self.worker.active(), "grace_s": grace},
            )
            _exit_now(1)
        log.info("stopped", extra={"replica": self.replica})
        return 0

    def _on_signal(self, signum: int, _frame: Any) -> None:
        if signum == signal.SIGHUP:
            self._reload_requested = True
        elif self._stop_signal is None:
            self._stop_signal = signum
        else:  # a second signal: now. Every state change is transactional.
            with contextlib.suppress(OSError):
                os.write(2, b'{"level": "warning", "message": "second signal: exiting now"}\n')
            _exit_now(128 + signum)
        self._wake.set()

    # --- the accounts file ---------------------------------------------------------------

    def _file_changed(self) -> bool:
        """True once the file has changed and then stayed the same for one watch period,
        so an editor's truncate-then-write is never read (and reported) half-written."""
        seen = _fingerprint(self.options.accounts_file)
        if seen != self._file_seen:
            self._file_seen = seen
            return False
        return _digest(self.options.accounts_file) != self._file_hash

    def _reload(self, why: str) -> None:
        path = self.options.accounts_file
        self._file_hash = _digest(path)  # a faulty file is reported once, until it changes
        try:
            accounts = load_accounts(path)
        except ConfigError as error:
            log.error(
                "accounts file not reloaded (%s); the previous %d accounts keep running: %s",
                why,
                len(self.accounts),
                "; ".join(str(error).splitlines()),
                extra={"accounts_file": str(path)},
            )
            return
        self._apply(accounts.accounts, first=False, why=why)

    def _apply(self, accounts: list[Account], *, first: bool, why: str = "") -> None:
        """Schedule the accounts: add the new ones, drop the removed, reschedule the changed."""
        old, new = self.accounts, {a.id: a for a in accounts}
        added = [i for i in new if i not in old]
        removed = [i for i in old if i not in new]
        changed = [i for i in new if i in old and new[i] != old[i]]
        self.accounts = new
        for account_id in removed:
            self.worker.cancel(account_id)
            for job in (f"{account_id}:sync", f"{account_id}:rescore"):
                with contextlib.suppress(Exception):
                    self.scheduler.remove_job(job)
        for account_id in added:
            self.worker.restore(account_id)
            self._schedule(new[account_id], run_now=True)
        for account_id in changed:
            if new[account_id].schedule != old[account_id].schedule:
                self._schedule(new[account_id], run_now=False)
        if not first:
            log.info(
                "accounts reloaded",
                extra={
                    "why": why,
                    "accounts": len(new),
                    "added": added,
                    "removed": removed,
                    "changed": changed,
                },
            )
        if first and any(a.schedule is None for a in accounts):
            log.info(
                "accounts without a schedule run every 15 minutes",
                extra={"accounts": [a.id for a in accounts if a.schedule is None]},
            )

    def _schedule(self, account: Account, *, run_now: bool) -> None:
        """(Re)place the account's jobs: its syncs and, if set, its full re-score."""
        trigger = sync_trigger(account.schedule)
        options: dict[str, Any] = {}
        interval = interval_of(account.schedule)
        if run_now and interval is not None:
            # The first run soon after start, at a random offset: replicas started together
            # then tick at different moments, and each account goes to the first one.
            jitter = account.schedule.jitter if account.schedule else timedelta(0)
            spread = min(interval, FIRST_RUN_SPREAD).total_seconds()
            delay = random.uniform(0, spread) + random.uniform(0, jitter.total_seconds())
            options["next_run_time"] = now() + timedelta(seconds=delay)
        self.scheduler.add_job(
            self._job,
            trigger,
            args=[account.id],
            id=f"{account.id}:sync",
            name=f"sync {account.id}",
            replace_existing=True,
            **options,
        )
        rescore = account.schedule.full_rescore if account.schedule else None
        if rescore is None:
            with contextlib.suppress(Exception):
                self.scheduler.remove_job(f"{account.id}:rescore")
            return
        self.scheduler.add_job(
            self._job,
            cron_trigger(rescore),
            args=[account.id],
            id=f"{account.id}:rescore",
            name=f"full re-score {account.id}",
            replace_existing=True,
        )

    def _job(self, account_id: str) -> None:
        account = self.accounts.get(account_id)
        if account is None:
            return
        try:
            self.worker.run(account)
        except Exception as error:  # e.g. the state database is down: try at the next tick
            log.error(
                "run not started: %s: %s",
                type(error).__name__,
                error,
                extra={"account": account_id},
            )

    def _next_run(self, account_id: str) -> datetime | None:
        job = self.scheduler.get_job(f"{account_id}:sync")
        return job.next_run_time if job is not None else None

    # --- the ops server ------------------------------------------------------------------

    def _http_server(self) -> Any:
        if self.options.http is None:
            return None
        from leadsync.sync.http import OpsServer

        return OpsServer(self.options.http, self.metrics.registry, self._ready, review=self._review)

    def _review(self, account_id: str) -> str | None:
        """The latest review of an account this daemon syncs (no other: read-only)."""
        store: StateStore | None = getattr(self, "store", None)
        if account_id not in self.accounts or store is None:
            return None
        return store.latest_review(account_id)

    def _ready(self) -> tuple[bool, str]:
        if self.worker.stopping.is_set():
            return False, "stopping"
        if not self.scheduler.running:
            return False, "the scheduler is not running"
        from leadsync.sync.http import database_ready

        return database_ready(self.store)


def _lock_sqlite(url: str) -> IO[str] | None:
    """One daemon per SQLite state file: an flock the OS releases even on ``kill -9``."""
    if not url.startswith("sqlite:///"):
        return None
    path = Path(url.removeprefix("sqlite:///").split("?", 1)[0]).expanduser()
    if not path.name or path.name == ":memory:":
        return None
    lock_path = path.with_name(path.name + ".daemon.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = lock_path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        pid = handle.read().strip() or "unknown"
        handle.close()
        raise ConfigError(
            f"another leadsync daemon (pid {pid}) is running on the SQLite state file {path} "
            f"(it holds {lock_path}); run one daemon per SQLite file, or keep the state in "
            "PostgreSQL (LEADSYNC_DATABASE_URL) to run several replicas"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _fingerprint(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _route_scheduler_logs() -> None:
    """APScheduler's own lines in the same JSON stream; its routine warnings are ours."""
    scheduler_log = logging.getLogger("apscheduler")
    scheduler_log.handlers[:] = logging.getLogger("leadsync").handlers
    scheduler_log.setLevel(logging.ERROR)
    scheduler_log.propagate = False


def _skipped(event: JobExecutionEvent) -> None:
    why = "the previous run is still going" if event.code == EVENT_JOB_MAX_INSTANCES else "late"
    log.debug("tick skipped: %s", why, extra={"job": event.job_id})


def _exit_now(code: int) -> None:
    for handler in logging.getLogger("leadsync").handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    with contextlib.suppress(Exception):
        sys.stderr.flush()
    os._exit(code)
