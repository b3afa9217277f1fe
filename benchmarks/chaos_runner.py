"""The chaos benchmark's runner: ``leadsync`` CLI runs and daemon replicas against one CRM
and one state database, under the CRM's faults and touches, SIGKILLed, stalled (SIGSTOP)
and resumed (SIGCONT) -- and the record of what was done to them (kills, events, notes)
that the oracle reads."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from chaos_crms import ACCOUNT, Crm
from chaos_statedb import StateDb

from leadsync.sync.leases import Leases
from leadsync.sync.runhistory import Run

LEADSYNC = str(Path(sys.executable).with_name("leadsync"))
RUN_TIMEOUT_S = 180.0
#: The lease time of the CLI runs: a killed one's frees the account this soon on PostgreSQL.
CLI_LEASE = "3s"
STATE_VARIABLES = ("LEADSYNC_DATABASE_URL", "LEADSYNC_DATABASE_PASSWORD", "LEADSYNC_STATE_PATH")


@dataclass
class Kill:
    """A process the benchmark killed: which replica (None: a CLI run) and when."""

    replica: str | None
    at: datetime


@dataclass
class Scenario:
    """One CRM and one kind of state database: its runs (:meth:`cli`, :meth:`daemons`;
    the sequence is ``bench_chaos.play``) and what was done to them (kills, events,
    notes), which ``chaos_oracle.oracle`` reads with the CRM and the state databases.
    ``leadsync`` processes run in ``folder`` (its log, its accounts file, no ``.env``)."""

    crm: Crm
    db_kind: str
    folder: Path
    rng: random.Random
    deadline: float
    log: IO[bytes]
    dbs: list[StateDb] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)
    worst_stall: bool = False
    sizes: dict[str, int] = field(default_factory=lambda: {"backfill": 10, "sync": 6})
    """Requests of the last complete run of each command: where a SIGKILL can land."""

    @property
    def db(self) -> StateDb:
        return self.dbs[-1]

    def env(self) -> dict[str, str]:
        """The processes' environment: this CRM's secrets and this state database only
        (a state setting of the caller's own would point them elsewhere)."""
        inherited = {k: v for k, v in os.environ.items() if k not in STATE_VARIABLES}
        return {**inherited, **self.crm.env, **self.db.env, "LEADSYNC_LOG_FORMAT": "json",
                "LEADSYNC_ACCOUNTS_FILE": str(self.folder / "accounts.yaml"),
                "LEADSYNC_LEASE": CLI_LEASE}  # fmt: skip

    def say(self, text: str) -> None:
        self.log.write(f"--- {datetime.now(UTC).isoformat()} {text}\n".encode())
        self.log.flush()

    def set_faults(self, faults: dict[str, float]) -> None:
        self.crm.faults.clear()
        self.crm.faults.update(**{k: v for k, v in faults.items() if k != "kill"})

    def wait(self, condition: Callable[[], bool], seconds: float, what: str) -> bool:
        """Poll ``condition`` every 20 ms until it holds (True) or ``seconds`` pass."""
        end = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > end:
                self.notes.append(f"timed out waiting for {what}")
                return False
            time.sleep(0.02)
        return True

    # -- one CLI run ------------------------------------------------------------------------
    def cli(self, command: str, faults: dict[str, float], *, touches: bool = True) -> int | None:
        """``leadsync COMMAND --account chaos`` under ``faults``; a ``kill`` profile SIGKILLs
        it once the sandbox has answered a random number of its requests. Records are
        touched while it runs. Its exit code (None: killed)."""
        size = self.sizes[command]
        kill_at = self.rng.randint(1, max(2, size - 1)) if faults.get("kill") else None
        self.say(f"{command} {faults} kill_at={kill_at}")
        self.set_faults(faults)
        base = self.crm.requests()
        stop = threading.Event()
        toucher = threading.Thread(target=self._toucher, args=(stop,), daemon=True)
        process = subprocess.Popen(
            [LEADSYNC, command, "--account", ACCOUNT],
            env=self.env(), stdout=self.log, stderr=self.log, cwd=self.folder,
        )  # fmt: skip
        if touches:
            toucher.start()
        try:
            if kill_at is not None:
                self.wait(
                    lambda: self.crm.requests() - base >= kill_at or process.poll() is not None,
                    RUN_TIMEOUT_S,
                    "the requests before a SIGKILL",
                )
                if process.poll() is None:
                    process.kill()
                    self.kills.append(Kill(None, datetime.now(UTC)))
                    self.events["SIGKILL"] += 1
                    self._outlive_lease(process)
                else:
                    self.notes.append(f"{command} ended before its SIGKILL at request {kill_at}")
            try:
                process.wait(RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                self.kills.append(Kill(None, datetime.now(UTC)))
                self.notes.append(f"{command} ran past {RUN_TIMEOUT_S:.0f} s: killed")
                return None
        finally:
            stop.set()
            if touches:
                toucher.join()
            self.crm.faults.clear()
        self.say(f"{command} exit {process.returncode}")
        if process.returncode == 0:
            self.sizes[command] = self.crm.requests() - base
        return None if process.returncode == -signal.SIGKILL else process.returncode

    def _outlive_lease(self, process: subprocess.Popen[bytes]) -> None:
        """On PostgreSQL a killed run's lease stays until it expires (SQLite sees the
        process die), and the next CLI run would be refused meanwhile, as a user's is: wait
        for it (``CLI_LEASE``)."""
        process.wait()
        if self.db_kind != "postgresql":
            return
        leases = Leases(self.db.store.engine, "bench", timedelta(seconds=1))
        self.wait(
            lambda: (held := leases.get(ACCOUNT)) is None or not held.live,
            30,
            "a killed run's lease to expire",
        )

    def _toucher(self, stop: threading.Event) -> None:
        rng = random.Random(self.rng.randrange(10**6))
        while not stop.wait(rng.uniform(0.05, 0.5)):
            self.crm.touch(rng)

    # -- the daemon -----------------------------------------------------------------------
    def write_accounts(self) -> None:
        """The accounts file every process reads: the one account, ``interval: 2s``."""
        text = "accounts:\n" + self.crm.account_line() + "\n"
        (self.folder / "accounts.yaml").write_text(text)

    def replica(self, name: str, lease: str) -> subprocess.Popen[bytes]:
        """Start ``leadsync daemon`` as replica ``name``: a failing run backs off 1-2 s."""
        self.say(f"daemon {name} starts")
        return subprocess.Popen(
            [LEADSYNC, "daemon", "--replica-id", name, "--lease", lease, "--grace", "10s",
             "--backoff", "1s", "--backoff-max", "2s", "--watch", "0"],
            env=self.env(), stdout=self.log, stderr=self.log, cwd=self.folder,
        )  # fmt: skip

    def runs(self, db: StateDb | None = None) -> list[Run]:
        """The account's run history in ``db`` (default the current one), newest first."""
        return (db or self.db).store.runs(ACCOUNT, 100_000)

    def _new_ok_run(self, after: datetime, replica: str | None = None) -> Callable[[], bool]:
        """A condition: a run started after ``after`` (by ``replica`` if named) ended ok."""

        def done() -> bool:
            return any(
                r.started_at > after and r.status == "ok" and replica in (None, r.replica)
                for r in self.runs()
            )

        return done

    def daemons(self) -> None:
        """SQLite: one replica killed at a random request and restarted. PostgreSQL: two
        replicas; the one running the account is stalled past its lease, then resumed."""
        self.set_faults({"error_rate": 0.03, "drop_rate": 0.01, "latency_ms": 15})
        stop = threading.Event()
        toucher = threading.Thread(target=self._toucher, args=(stop,), daemon=True)
        toucher.start()
        processes: dict[str, subprocess.Popen[bytes]] = {}
        try:
            if self.db_kind == "sqlite":
                self._killed_replica(processes)
            else:
                self._stalled_replica(processes)
        finally:
            stop.set()
            toucher.join()
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGCONT)
                    process.terminate()
            for name, process in processes.items():
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
                    self.kills.append(Kill(name, datetime.now(UTC)))
                    self.notes.append(f"daemon {name} did not stop on SIGTERM: killed")
            self.crm.faults.clear()

    def _killed_replica(self, processes: dict[str, subprocess.Popen[bytes]]) -> None:
        started = datetime.now(UTC)
        base = self.crm.requests()
        kill_at = self.rng.randint(5, 80)
        processes["r1"] = self.replica("r1", "5s")
        self.wait(lambda: self.crm.requests() - base >= kill_at, 60, "the daemon's requests")
        processes["r1"].kill()
        processes["r1"].wait()
        self.kills.append(Kill("r1", datetime.now(UTC)))
        self.events["SIGKILL"] += 1
        self.say(f"daemon r1 killed after {self.crm.requests() - base} requests")
        restarted = datetime.now(UTC)
        processes["r1"] = self.replica("r1", "5s")
        self.wait(self._new_ok_run(restarted), 90, "an ok run after the restart")
        self.wait(lambda: len([r for r in self.runs() if r.started_at > started]) >= 4, 30,
                  "four daemon runs")  # fmt: skip

    def _stalled_replica(self, processes: dict[str, subprocess.Popen[bytes]]) -> None:
        processes["r1"] = self.replica("r1", "3s")
        processes["r2"] = self.replica("r2", "3s")
        running: list[Run] = []

        def one_running() -> bool:
            running[:] = [
                r for r in self.runs(None)[:3] if r.status == "running" and r.replica in processes
            ]  # a daemon's (a killed command's run may still say running until taken over)
            return bool(running)

        if not self.wait(one_running, 60, "a daemon run in progress"):
            return
        victim = running[0].replica
        assert victim is not None
        base = self.crm.requests()
        more = self.rng.randint(1, 6)
        self.wait(lambda: self.crm.requests() - base >= more, 10, "requests")
        processes[victim].send_signal(signal.SIGSTOP)
        stalled = datetime.now(UTC)
        self.events["stalled replica"] += 1
        self.say(f"daemon {victim} stalled (SIGSTOP) in run {running[0].id}")
        other = "r2" if victim == "r1" else "r1"
        took_over = self.wait(self._new_ok_run(stalled, other), 60, "the other replica's run")
        self.say(f"daemon {other} took over: {took_over}; {victim} resumed (SIGCONT)")
        processes[victim].send_signal(signal.SIGCONT)
        resumed = datetime.now(UTC)

        def victim_ended() -> bool:
            return all(r.ended_at is not None for r in self.runs() if r.replica == victim)

        self.wait(victim_ended, 30, "the stalled replica's run to end")
        self.wait(self._new_ok_run(resumed), 60, "an ok run after the stall")
        if self.worst_stall:
            self._stall_at_task_create(processes)
        # then a SIGKILL of the replica running the account: the other takes it over
        if not self.wait(one_running, 60, "a daemon run in progress"):
            return
        doomed = running[0].replica
        assert doomed is not None
        base, more = self.crm.requests(), self.rng.randint(1, 6)
        self.wait(lambda: self.crm.requests() - base >= more, 10, "requests")
        processes[doomed].kill()
        processes[doomed].wait()
        killed = datetime.now(UTC)
        self.kills.append(Kill(doomed, killed))
        self.events["SIGKILL"] += 1
        self.say(f"daemon {doomed} killed (SIGKILL) in run {running[0].id}")
        survivor = "r2" if doomed == "r1" else "r1"
        self.wait(self._new_ok_run(killed, survivor), 60, "the survivor's run")

    def _stall_at_task_create(self, processes: dict[str, subprocess.Popen[bytes]]) -> None:
        """``--worst-stall``: the replica running the account is stopped (SIGSTOP) the
        moment its task create reaches the CRM -- after its lease check, before the task
        exists -- and the request is held until the other replica has taken the account
        over and finished a run; then both go on (SIGCONT)."""
        held, release = threading.Event(), threading.Event()
        victims: list[str] = []

        def gate() -> None:
            running = [r for r in self.runs()[:3] if r.status == "running" and r.replica]
            if not running or victims:
                return  # a create outside a daemon run, or one after the held one
            self.crm.gate = None  # only the first create of a daemon run is held
            victims.append(running[0].replica or "")
            processes[victims[0]].send_signal(signal.SIGSTOP)
            held.set()
            release.wait(120)

        self.crm.gate = gate
        end = time.monotonic() + 90
        while not held.wait(1.0) and time.monotonic() < end:
            self.crm.touch(self.rng)  # new MQLs: a crossing, then its task create
        self.crm.gate = None
        if not held.is_set():
            self.notes.append("worst stall: no task create reached the CRM in 90 s")
            return
        stalled = datetime.now(UTC)
        self.events["stalled replica"] += 1
        victim = victims[0]
        other = "r2" if victim == "r1" else "r1"
        self.say(f"daemon {victim} stalled (SIGSTOP) at its task create")
        took_over = self.wait(self._new_ok_run(stalled, other), 60, "the other replica's run")
        self.say(f"daemon {other} took over: {took_over}; {victim} resumed (SIGCONT)")
        processes[victim].send_signal(signal.SIGCONT)
        release.set()
        resumed = datetime.now(UTC)
        self.wait(self._new_ok_run(resumed), 60, "an ok run after the worst stall")
