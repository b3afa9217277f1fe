"""Chaos: leadsync runs cut off, refused, killed and stalled; then an oracle reads the CRM.

Run:  python benchmarks/bench_chaos.py [--seed 1] [--records 300] [--rounds 6]
      [--crm hubspot salesforce] [--db sqlite postgresql] [--minutes 15] [--worst-stall]

For each CRM (the HubSpot and Salesforce sandboxes, served by this process on 127.0.0.1)
and each state database (a SQLite file, a PostgreSQL schema), one account goes through a
seeded sequence of ``leadsync`` processes, each under its own faults (the sandboxes'
:class:`~leadsync.connectors.sandbox.faults.Faults`), with activity in the CRM before
each run and records touched while it runs:

1. ``leadsync backfill`` SIGKILLed after a random number of requests, then resumed
   under 5xx answers, dropped connections and lost answers;
2. ``--rounds`` ``leadsync sync`` runs, each with one fault profile in turn: bursts of
   429 and 503, lost answers (``lost_writes`` and ``lost_answer_rate``), refused batch
   items (``partial_failure_rate``), 5xx with dropped connections, a SIGKILL at a random
   request;
3. ``leadsync daemon`` replicas under faults and latency: on SQLite one replica,
   SIGKILLed at a random request and restarted; on PostgreSQL two replicas with a 3 s
   lease, the one running the account stalled with SIGSTOP until the other has taken the
   account over and finished a run, then SIGCONT; later the one running the account is
   SIGKILLed and the other takes it over once the lease expires;
4. a fresh state database against the already-scored account: a clean ``sync`` on the
   old one, then ``leadsync backfill`` on the new one under faults (lost answers
   included) -- it must create no task for a lead that already has one -- and two more
   faulted ``sync`` runs on it;
5. faults cleared, activity stopped, two clean ``leadsync sync`` runs; then the oracle.

The oracle reads the CRM back through its API and the state database:

- lost writes: records whose score/tier in the CRM is not the one the state says was
  written (a state row not marked for a rewrite);
- wrong scores: records whose score, tier or reasons in the CRM are not what the engine
  gives the record's current data;
- duplicate tasks: leadsync tasks beyond the first of each lead (the tasks' crossing
  keys are read from their marker). Within the default 30-day cooldown a lead crosses
  the MQL threshold at most once, so a second task is a duplicate: the same crossing
  created twice, or a task the fresh state database created again;
- missing tasks: leads that are MQL by the engine without a leadsync task, or whose
  crossing the state records without its task in the CRM;
- overlapping runs: pairs of runs of the account (in the ``runs`` tables of both state
  databases) that were live at once; a SIGKILLed run ends when it was killed; a run
  stopped by its lease's fencing after a stall (``took over its lease``) is counted as
  *fenced* instead (printed per scenario): it could save nothing once its lease was
  taken, and any score it wrote meanwhile is judged by the other columns.

``--worst-stall`` (PostgreSQL) adds a stall aimed at the worst moment: the replica is
stopped the instant its task create reaches the CRM (after its last lease check) and the
request is held until the other replica has taken over and finished a run. That one
duplicates the batch's tasks: a known failure, described in the README.

Faults injected counts every fault the sandboxes applied (5xx, 429, dropped
connections, lost answers, refused batch items) plus the SIGKILLs, the stall and the
fresh database. Exits 1 when any of the five last columns is not 0.
PostgreSQL: ``LEADSYNC_BENCH_POSTGRES_URL`` (default the local test server).
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from hubspot import HubSpot
from pgschema import throwaway_schema
from readback import Held, engine_results, hubspot_held, salesforce_held

from leadsync.config.accounts import Account
from leadsync.config.templates import resolve_model
from leadsync.connectors.base import Connector
from leadsync.connectors.hubspot.connector import HubSpotConnector
from leadsync.connectors.ratelimit import RateLimiter
from leadsync.connectors.retry import RetryPolicy
from leadsync.connectors.salesforce.connector import SalesforceConnector
from leadsync.connectors.sandbox.faults import FaultPlan, Faults
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox
from leadsync.scoring.engine import ScoreResult
from leadsync.sync.leases import Leases
from leadsync.sync.runhistory import Run
from leadsync.sync.state import StateStore

LEADSYNC = str(Path(sys.executable).with_name("leadsync"))
POSTGRES = os.environ.get(
    "LEADSYNC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MODEL = resolve_model("b2b-saas")
ACCOUNT = "chaos"
FAST = RetryPolicy(max_attempts=10, base_s=0.01, cap_s=0.05, window_s=0.05, max_total_s=60)
MARKER = re.compile(r"\[(leadsync:[^\[\]\s]+)\]")
TITLES = ("Chief Executive Officer", "Intern", "VP Sales", "Analyst", "Director of IT")
RUN_TIMEOUT_S = 180.0
#: The lease time of the CLI runs: a killed one's frees the account this soon on PostgreSQL.
CLI_LEASE = "3s"
STATE_VARIABLES = ("LEADSYNC_DATABASE_URL", "LEADSYNC_DATABASE_PASSWORD", "LEADSYNC_STATE_PATH")
#: The fault profiles of the incremental rounds, in turn (``kill``: SIGKILL at a request).
PROFILES: list[tuple[str, dict[str, float]]] = [
    ("429 and 503 bursts", {"burst_429": 3, "burst_503": 2, "error_rate": 0.02}),
    ("lost answers", {"lost_writes": 3, "lost_answer_rate": 0.05}),
    ("refused batch items", {"partial_failure_rate": 0.15, "error_rate": 0.02}),
    ("5xx and drops", {"error_rate": 0.08, "drop_rate": 0.04}),
    ("SIGKILL", {"error_rate": 0.03, "kill": 1}),
]


class CountingFaults(Faults):
    """:class:`Faults` that count what they inject: the "faults injected" column."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.injected: Counter[str] = Counter()
        self._count_lock = threading.Lock()

    def _count(self, kind: str) -> None:
        with self._count_lock:
            self.injected[kind] += 1

    def plan(self) -> FaultPlan:
        decided = super().plan()
        if decided.drop:
            self._count("dropped connection")
        elif decided.status == 429:
            self._count("429")
        elif decided.status is not None:
            self._count("5xx")
        return decided

    def lose_answer(self, *, write: bool = False) -> bool:
        lost = super().lose_answer(write=write)
        if lost:
            self._count("lost answer")
        return lost

    def fail_item(self) -> bool:
        failed = super().fail_item()
        if failed:
            self._count("refused item")
        return failed


# -- the CRMs ---------------------------------------------------------------------------
class Crm:
    """A sandbox CRM with one account: its environment for ``leadsync`` processes, its
    activity, and the oracle's reads (through the API, with faults cleared)."""

    faults: CountingFaults
    env: dict[str, str]
    gate: Callable[[], None] | None = None
    """Called (in the sandbox's thread) before a leadsync task create is served."""

    def _task_create(self) -> None:
        gate = self.gate
        if gate is not None:
            gate()

    def account_line(self) -> str:
        raise NotImplementedError

    def account(self) -> Account:
        raise NotImplementedError

    def connector(self) -> Connector:
        raise NotImplementedError

    def requests(self) -> int:
        """Requests the sandbox has answered (or dropped) so far."""
        raise NotImplementedError

    def activity(self, rng: random.Random) -> None:
        """Changes between runs, through the API (faults must be cleared)."""
        raise NotImplementedError

    def touch(self, rng: random.Random) -> None:
        """A change while a run goes: in-process, so no injected fault can refuse it."""
        raise NotImplementedError

    def held(self) -> Held:
        """Record id → (score, tier, reasons) as the CRM holds them."""
        raise NotImplementedError

    def tasks(self) -> list[tuple[str, str]]:
        """(crossing key, record id) of every leadsync task in the CRM."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def engine(self) -> dict[str, ScoreResult]:
        """The engine's result for every record as the CRM holds it now."""
        return engine_results(self.connector(), MODEL)


class Hub(Crm):
    def __init__(self, records: int, seed: int, n: int) -> None:
        self.faults = CountingFaults(seed=seed)
        self.sandbox = HubSpotSandbox(
            contacts=records, seed=seed, faults=self.faults, window_s=1.0, search_per_second=20
        ).start()
        self.var = f"CHAOS_HUBSPOT_{n}"
        os.environ[self.var] = self.sandbox.token
        self.env = {self.var: self.sandbox.token}
        self.client = HubSpot(access_token=self.sandbox.token, host=self.sandbox.url)
        serve = self.sandbox.handle

        def handle(method: str, target: str, headers: Any, raw: bytes) -> Any:
            if method == "POST" and "/objects/tasks" in target and b"[leadsync:" in raw:
                self._task_create()
            return serve(method, target, headers, raw)

        self.sandbox.handle = handle  # type: ignore[method-assign]

    def _fields(self) -> dict[str, Any]:
        return {"id": ACCOUNT, "crm": "hubspot", "credentials": {"token": self.var},
                "host": self.sandbox.url}  # fmt: skip

    def account_line(self) -> str:
        return (
            f"  - {{id: {ACCOUNT}, crm: hubspot, credentials: {{token: {self.var}}}, "
            f"host: '{self.sandbox.url}', schedule: {{interval: 2s}}}}"
        )

    def account(self) -> Account:
        return Account.model_validate(self._fields())

    def connector(self) -> HubSpotConnector:
        limiter = RateLimiter.for_hubspot(10**6, window_s=0.2, search_per_s=10_000)
        return HubSpotConnector(self.account(), limiter=limiter, policy=FAST)

    def requests(self) -> int:
        return self.sandbox.counters.total()

    def activity(self, rng: random.Random) -> None:
        ids = [str(i) for i in range(1, self.sandbox.store.contact_count + 1)]
        edits = [(rng.sample(ids, 12), "jobtitle", rng.choice(TITLES)),
                 (rng.sample(ids, 2), "lead_score_tier", "mql"),
                 (rng.sample(ids, 2), "lead_score_reasons", "typed over by a rep")]  # fmt: skip
        for chosen, name, value in edits:
            inputs = [{"id": i, "properties": {name: value}} for i in chosen]
            self.client.crm.contacts.batch_api.update({"inputs": inputs})
        self.sandbox.touch(8, seed=rng.randrange(10**6))

    def touch(self, rng: random.Random) -> None:
        self.sandbox.touch(rng.randint(1, 4), seed=rng.randrange(10**6))

    def held(self) -> Held:
        return hubspot_held(self.client)

    def tasks(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        after = None
        while True:
            page = self.client.crm.objects.tasks.basic_api.get_page(
                limit=100, after=after, properties=["hs_task_body"], associations=["contacts"]
            )
            for t in page.results:
                marker = MARKER.search(t.properties.get("hs_task_body") or "")
                if marker is None:
                    continue
                linked = t.associations["contacts"].results if t.associations else []
                found.extend((marker.group(1), a.id) for a in linked)
            if page.paging is None or page.paging.next is None:
                return found
            after = page.paging.next.after

    def stop(self) -> None:
        self.sandbox.stop()


class Org(Crm):
    def __init__(self, records: int, seed: int, n: int) -> None:
        self.faults = CountingFaults(seed=seed)
        self.box = SalesforceSandbox(leads=records, seed=seed, faults=self.faults).start()
        self.var = f"CHAOS_SF_{n}"
        os.environ[self.var] = self.box.client_secret
        self.env = {self.var: self.box.client_secret, "REQUESTS_CA_BUNDLE": self.box.ca_path,
                    "CURL_CA_BUNDLE": self.box.ca_path}  # fmt: skip
        users = [r for r in self.box.store.rows("User") if r.get("IsActive")]
        self.robin = [str(r["Id"]) for r in users if "integration" not in str(r["Username"])][:2]
        self.sf = self.box.client(self.box.sessions.new_access_token())
        self.campaign = self.sf.Campaign.create(
            {"Name": "Book a demo", "Type": "Web", "Description": "demo_request"}
        )["id"]
        dispatch = self.box.dispatch_api

        def dispatch_api(call: Any, version: str) -> Any:
            if call.method == "POST" and b"[leadsync:" in call.body:
                self._task_create()
            return dispatch(call, version)

        self.box.dispatch_api = dispatch_api  # type: ignore[method-assign]

    def _fields(self) -> dict[str, Any]:
        return {"id": ACCOUNT, "crm": "salesforce",
                "credentials": {"consumer_key": self.box.client_id, "consumer_secret": self.var,
                                "instance_url": self.box.instance_url},
                "tasks": {"round_robin": self.robin}}  # fmt: skip

    def account_line(self) -> str:
        return (
            f"  - {{id: {ACCOUNT}, crm: salesforce, credentials: {{consumer_key: "
            f"{self.box.client_id}, consumer_secret: {self.var}, instance_url: "
            f"'{self.box.instance_url}'}}, tasks: {{round_robin: [{', '.join(self.robin)}]}}, "
            "schedule: {interval: 2s}}"
        )

    def account(self) -> Account:
        return Account.model_validate(self._fields())

    def connector(self) -> SalesforceConnector:
        return SalesforceConnector(
            self.account(), session=self.box.session(), policy=FAST, sleep=lambda _: None,
            poll_delays=(0.0,),
        )  # fmt: skip

    def requests(self) -> int:
        return self.box.counters.total()

    def _ids(self) -> list[str]:
        return sorted(r["Id"] for r in self.box.store.rows("Lead") if not r.get("IsConverted"))

    def activity(self, rng: random.Random) -> None:
        ids = self._ids()
        title = rng.choice(TITLES)
        for rid in rng.sample(ids, 8):
            self.sf.Lead.update(rid, {"Title": title})
        for rid in rng.sample(ids, 2):
            self.sf.Lead.update(rid, {"Lead_Score_Tier__c": "mql"})
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        for n, rid in enumerate(rng.sample(ids, 6)):
            if n % 3 == 0:
                try:
                    self.sf.CampaignMember.create(
                        {"CampaignId": self.campaign, "LeadId": rid, "Status": "Responded"}
                    )
                except Exception:  # already a member: Salesforce refuses a second one
                    continue
            elif n % 3 == 1:
                self.sf.Event.create({"WhoId": rid, "Subject": "Intro call",
                                      "StartDateTime": now, "DurationInMinutes": 30})  # fmt: skip
            else:
                self.sf.Task.create({"WhoId": rid, "Subject": "Call", "TaskSubtype": "Call",
                                     "Status": "Completed"})  # fmt: skip

    def touch(self, rng: random.Random) -> None:
        store = self.box.store
        for rid in rng.sample(self._ids(), rng.randint(1, 3)):  # a rep edits a title
            record, _ = store.locate("Lead", rid)
            if record is not None:
                store.apply(record, "Lead", {"Title": rng.choice(TITLES)})
        store.touch("Lead", rng.randint(0, 2))

    def held(self) -> Held:
        return salesforce_held(self.sf)

    def tasks(self) -> list[tuple[str, str]]:
        rows = self.sf.query_all("SELECT WhoId, Description FROM Task")["records"]
        found = []
        for r in rows:
            marker = MARKER.search(str(r.get("Description") or ""))
            if marker is not None:
                found.append((marker.group(1), str(r["WhoId"])))
        return found

    def stop(self) -> None:
        self.box.stop()


# -- state databases ----------------------------------------------------------------------
@dataclass
class StateDb:
    """One state database: its URL, the variables that point ``leadsync`` at it, its drop."""

    url: str
    env: dict[str, str]
    dispose: Callable[[], None]
    _store: StateStore | None = None

    @property
    def store(self) -> StateStore:
        """The benchmark's own connection to it, opened once (polled every 20 ms)."""
        if self._store is None:
            self._store = StateStore(self.url)
        return self._store

    def drop(self) -> None:
        if self._store is not None:
            self._store.close()
        self.dispose()


def state_db(kind: str, folder: Path, name: str) -> StateDb:
    """A new, empty state database: a SQLite file in ``folder`` or a PostgreSQL schema."""
    if kind == "sqlite":
        path = folder / f"{name}.db"
        return StateDb(f"sqlite:///{path}", {"LEADSYNC_STATE_PATH": str(path)}, lambda: None)
    url, drop = throwaway_schema(POSTGRES, f"chaos_{name}_{uuid.uuid4().hex[:8]}")
    return StateDb(url, {"LEADSYNC_DATABASE_URL": url}, drop)


# -- one CRM and database -----------------------------------------------------------------
@dataclass
class Kill:
    """A process the benchmark killed: which replica (None: a CLI run) and when."""

    replica: str | None
    at: datetime


@dataclass
class Scenario:
    """One CRM and one kind of state database: the sequence of runs (:meth:`play`), what
    was done to them (kills, events, notes) and the oracle's verdict (:meth:`oracle`).
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
            self.crm.gate = None  # only the first create is held
            running = [r for r in self.runs()[:3] if r.status == "running" and r.replica]
            if not running:
                return
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

    # -- the sequence ---------------------------------------------------------------------
    def play(self, rounds: int) -> None:
        """The sequence of the module's steps 1 to 5 (the rounds stop at the deadline)."""
        self.write_accounts()
        self.dbs.append(state_db(self.db_kind, self.folder, "first"))
        self.cli("backfill", {"error_rate": 0.03, "drop_rate": 0.01, "kill": 1})
        self.cli("backfill", {"error_rate": 0.05, "drop_rate": 0.02, "lost_answer_rate": 0.02})
        offset = self.rng.randrange(len(PROFILES))
        for n in range(rounds):
            if time.monotonic() > self.deadline:
                self.notes.append(f"time budget spent: {rounds - n} rounds skipped")
                break
            self.crm.activity(self.rng)
            self.cli("sync", PROFILES[(offset + n) % len(PROFILES)][1])
        if time.monotonic() < self.deadline:
            self.crm.activity(self.rng)
            self.daemons()
        # a fresh state database against the scored account
        self.cli("sync", {}, touches=False)
        before = self.crm.tasks()
        self.dbs.append(state_db(self.db_kind, self.folder, "fresh"))
        self.events["fresh state database"] += 1
        self.cli("backfill", {"error_rate": 0.03, "lost_writes": 3}, touches=False)
        had = {lead for _, lead in before}
        new = Counter(self.crm.tasks()) - Counter(before)
        again = sum(n for (_, lead), n in new.items() if lead in had)
        if again:  # counted by the oracle too: a second task of one lead
            self.notes.append(f"the fresh state database created {again} task(s) again")
        for profile in ("lost answers", "5xx and drops"):
            self.crm.activity(self.rng)
            self.cli("sync", dict(PROFILES)[profile])
        # the end: no fault, no activity
        for _ in range(2):
            code = self.cli("sync", {}, touches=False)
            if code != 0:
                self.notes.append(f"a clean sync ended with exit code {code}")

    # -- the oracle -----------------------------------------------------------------------
    def oracle(self) -> dict[str, Any]:
        """The CRM read back against the engine and the last state database: the row."""
        self.crm.faults.clear()
        expected, held, tasks = self.crm.engine(), self.crm.held(), self.crm.tasks()
        store = self.db.store
        stored = store.scores(ACCOUNT, list(store.known_leads(ACCOUNT)))
        crossings = [c for c in store.tasks(ACCOUNT) if c.state != "gone"]
        lost = sum(
            1
            for rid, row in stored.items()
            if row.digest and rid in held and held[rid][:2] != (row.score, row.tier)
        )
        wrong = [
            rid
            for rid, r in expected.items()
            if held.get(rid, (None, None, None))[:2] != (r.score, r.tier)
            or r.explanation() not in (held[rid][2] or "")
        ]
        per_lead = Counter(lead for _, lead in tasks)
        keys = {key for key, _ in tasks}
        missing = sorted(
            {rid for rid, r in expected.items() if r.is_mql and rid not in per_lead}
            | {c.lead_id for c in crossings if c.key not in keys}
        )
        overlaps, fenced = self.overlaps()
        runs = sum(len(self.runs(db)) for db in self.dbs)
        if wrong:
            self.notes.append(f"wrong scores, e.g. {wrong[:5]}")
        if missing:
            self.notes.append(f"MQLs without a task, e.g. {missing[:5]}")
        return {
            "runs": runs,
            "faults": sum(self.crm.faults.injected.values()) + sum(self.events.values()),
            "by_kind": dict(self.crm.faults.injected + self.events),
            "lost": lost,
            "wrong": len(wrong),
            "duplicates": sum(n - 1 for n in per_lead.values() if n > 1),
            "missing": len(missing),
            "overlaps": overlaps,
            "fenced": fenced,
            "records": len(expected),
            "mqls": sum(1 for r in expected.values() if r.is_mql),
            "tasks": len(tasks),
        }

    def overlaps(self) -> tuple[int, int]:
        """Pairs of runs live at once, and runs fenced off after a stall (see the module)."""
        runs = [r for db in self.dbs for r in self.runs(db)]
        fenced = {r.id for r in runs if "took over its lease" in (r.error or "")}

        def end(run: Run) -> datetime:
            if run.ended_at is not None:
                return run.ended_at
            kills = [
                k.at for k in self.kills if k.replica == run.replica and k.at >= run.started_at
            ]
            return min(kills) if kills else datetime.now(UTC)

        count = 0
        for a, b in itertools.combinations(sorted(runs, key=lambda r: r.started_at), 2):
            if a.id in fenced and a.replica is not None:
                continue
            if b.started_at < end(a):
                count += 1
                if count > 5:
                    continue
                self.notes.append(
                    f"overlap: run {a.id} ({a.replica or 'cli'}, {a.status}) "
                    f"{a.started_at:%H:%M:%S.%f}–{end(a):%H:%M:%S.%f} and run {b.id} "
                    f"({b.replica or 'cli'}) from {b.started_at:%H:%M:%S.%f}"
                )
        if count > 5:
            self.notes.append(f"… {count - 5} more overlaps")
        return count, len(fenced)


def scenario(
    kind: str,
    db: str,
    records: int,
    rounds: int,
    seed: int,
    n: int,
    deadline: float,
    root: Path,
    worst_stall: bool = False,
) -> dict[str, Any]:
    """Play one CRM × state database and judge it; sandboxes and databases are dropped."""
    folder = root / f"{kind}-{db}"
    folder.mkdir()
    crm: Crm = (Hub if kind == "hubspot" else Org)(records, seed, n)
    with open(folder / "leadsync.log", "ab") as log:
        play = Scenario(crm, db, folder, random.Random(seed), deadline, log)
        play.worst_stall = worst_stall
        try:
            play.play(rounds)
            return {**play.oracle(), "notes": play.notes}
        finally:
            crm.stop()
            for state in play.dbs:
                state.drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6, help="faulted syncs per scenario")
    parser.add_argument("--crm", nargs="+", default=["hubspot", "salesforce"])
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--minutes", type=float, default=15.0, help="time budget of the rounds")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    parser.add_argument(
        "--worst-stall",
        action="store_true",
        help="PostgreSQL: also stall a replica at its task create (see the README)",
    )
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="leadsync-chaos-"))
    combos = [(k, d) for k in args.crm for d in args.db]
    started = time.monotonic()
    print(f"seed {args.seed}, {args.records} records, {args.rounds} faulted syncs per "
          f"scenario; logs in {root}", flush=True)  # fmt: skip
    rows: list[tuple[str, str, dict[str, Any]]] = []
    for n, (kind, db) in enumerate(combos):
        share = args.minutes * 60 * (n + 1) / len(combos)
        result = scenario(kind, db, args.records, args.rounds, args.seed * 100 + n, n,
                          started + share, root, args.worst_stall)  # fmt: skip
        rows.append((kind, db, result))
        print(f"{kind} × {db}: {result['by_kind']}; {result['records']} records, "
              f"{result['mqls']} MQLs, {result['tasks']} tasks, {result['fenced']} runs "
              f"fenced; {time.monotonic() - started:.0f} s", flush=True)  # fmt: skip
        for note in result["notes"]:
            print(f"  note: {note}", flush=True)
    columns = ("lost", "wrong", "duplicates", "missing", "overlaps")
    print()
    print("| CRM | state database | runs | faults injected | lost writes | wrong scores "
          "| duplicate tasks | missing tasks | overlapping runs |")  # fmt: skip
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|")
    for kind, db, r in rows:
        print(f"| {kind} | {db} | {r['runs']} | {r['faults']} | "
              + " | ".join(str(r[c]) for c in columns) + " |")  # fmt: skip
    total = {c: sum(r[c] for _, _, r in rows) for c in ("runs", "faults", *columns)}
    print(f"| **all** | | **{total['runs']}** | **{total['faults']}** | "
          + " | ".join(f"**{total[c]}**" for c in columns) + " |")  # fmt: skip
    print(f"\n{time.monotonic() - started:.0f} s")
    bad = any(total[c] for c in columns)
    if not args.keep_logs and not bad:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
