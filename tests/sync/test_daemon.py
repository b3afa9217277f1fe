"""``leadsync daemon`` as it runs in production: real subprocesses on HubSpot sandboxes.

Replicas on one PostgreSQL database split the accounts, never run one twice at once and
take over from a replica killed with SIGKILL; SIGTERM stops after the current page and
the next start resumes from the cursor; SIGHUP and file changes reload the accounts; a
revoked token backs its account off alone; a second daemon on one SQLite file refuses.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
from hubspot import HubSpot
from polling import HELD, LEADSYNC, wait_for
from typer.testing import CliRunner

from leadsync.config.accounts import Account
from leadsync.config.templates import resolve_model
from leadsync.connectors.hubspot.connector import HubSpotConnector
from leadsync.connectors.sandbox.faults import Faults
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.scoring.engine import score
from leadsync.sync.cli import app
from leadsync.sync.runhistory import Run
from leadsync.sync.state import StateStore

FAST = {"ten_second_limit": 10**6, "search_per_second": 1000}


class Daemon:
    """One ``leadsync daemon`` subprocess; its JSON log lines land in a file."""

    def __init__(self, env: dict[str, str], args: list[str], log: Path) -> None:
        self.log = log
        self.started = time.monotonic()
        with log.open("w") as err:
            self.proc = subprocess.Popen(
                [LEADSYNC, "daemon", *args], env=env, stdout=subprocess.DEVNULL, stderr=err
            )

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text().splitlines():
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                found.append({"message": line, "raw": True})
        return found

    def logged(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if message in str(line.get("message"))]

    def wait_started(self) -> Daemon:
        wait_for(
            lambda: self.logged("daemon started") or self.proc.poll() is not None,
            30,
            "the daemon to start",
        )
        assert self.proc.poll() is None, self.log.read_text()
        return self

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, float]:
        """Send ``signum``; the exit code and how long the exit took."""
        sent = time.monotonic()
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - sent


class Setup:
    """The accounts file, sandboxes, the environment and the daemons of one test."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch, state: dict[str, str]):
        self.folder = folder
        self.file = folder / "accounts.yaml"
        self.monkeypatch = monkeypatch
        self.state = state
        self.sandboxes: dict[str, HubSpotSandbox] = {}
        self.daemons: list[Daemon] = []

    def sandbox(self, account_id: str, **options: Any) -> HubSpotSandbox:
        box = HubSpotSandbox(**{**FAST, **options}).start()
        self.sandboxes[account_id] = box
        self.monkeypatch.setenv(_token_var(account_id), box.token)
        return box

    def account(self, account_id: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": account_id,
            "crm": "hubspot",
            "credentials": {"token": _token_var(account_id)},
            "host": self.sandboxes[account_id].url,
            **extra,
        }

    def write(self, *accounts: dict[str, Any], text: str | None = None) -> None:
        body = text or "accounts:\n" + "".join(f"  - {json.dumps(a)}\n" for a in accounts)
        self.file.write_text(body if accounts or text else "accounts: []\n")

    def start(self, *args: str) -> Daemon:
        env = {**os.environ, **self.state, "LEADSYNC_ACCOUNTS_FILE": str(self.file)}
        env["LEADSYNC_LOG_FORMAT"] = "json"
        log = self.folder / f"daemon-{len(self.daemons) + 1}.log"
        daemon = Daemon(env, [*args], log)
        self.daemons.append(daemon)
        return daemon

    def close(self) -> None:
        for daemon in self.daemons:
            if daemon.proc.poll() is None:
                daemon.proc.kill()
                daemon.proc.wait()
        for box in self.sandboxes.values():
            box.stop()


def _token_var(account_id: str) -> str:
    return f"DAEMON_TEST_TOKEN_{account_id.upper()}"


@pytest.fixture
def sqlite_setup(tmp_path, monkeypatch) -> Iterator[tuple[Setup, StateStore]]:
    path = tmp_path / "state.db"
    setup = Setup(tmp_path, monkeypatch, {"LEADSYNC_STATE_PATH": str(path)})
    store = StateStore(f"sqlite:///{path}")
    yield setup, store
    setup.close()
    store.close()


def runs(store: StateStore, account_id: str) -> list[Run]:
    """The account's runs, oldest first."""
    return list(reversed(store.runs(account_id, 10_000)))


def ok_runs(store: StateStore, account_id: str) -> list[Run]:
    return [r for r in runs(store, account_id) if r.status == "ok"]


# --- the end state -------------------------------------------------------------------------


def assert_scores_and_tasks_right(setup: Setup) -> None:
    """Every contact holds the engine's score, and each MQL one task: none twice."""
    model, moment = resolve_model("b2b-saas"), datetime.now(UTC)
    for account_id, box in setup.sandboxes.items():
        account = Account.model_validate(setup.account(account_id))
        connector = HubSpotConnector(account)
        try:
            leads = [lead for page in connector.all_leads(None) for lead in page.leads]
        finally:
            connector.close()
        wrong = {}
        mql = set()
        for crm_lead in leads:
            result = score(crm_lead.lead, model, moment)
            if crm_lead.written.score != result.score:
                wrong[crm_lead.lead.id] = (crm_lead.written.score, result.score)
            if result.is_mql:
                mql.add(crm_lead.lead.id)
        assert not wrong, f"{account_id}: scores differ from the engine's: {wrong}"
        keys = [key for _, key in task_keys(box)]
        doubled = [key for key, n in Counter(keys).items() if n > 1]
        assert not doubled, f"{account_id}: tasks created twice: {doubled}"
        per_contact = Counter(contact for contact, _ in task_keys(box))
        assert max(per_contact.values(), default=1) == 1
        assert mql <= set(per_contact), f"{account_id}: MQL contacts without a task"


def task_keys(box: HubSpotSandbox) -> list[tuple[str, str]]:
    """(contact id, leadsync key) of every task in the sandbox."""
    client = HubSpot(access_token=box.token, host=box.url)
    found, after = [], None
    while True:
        page = client.crm.objects.tasks.basic_api.get_page(
            limit=100, after=after, properties=["hs_task_body"], associations=["contacts"]
        )
        for task in page.results:
            key = re.search(r"\[(leadsync:[^\]]+)\]", task.properties["hs_task_body"] or "")
            for contact in task.associations["contacts"].results:
                found.append((contact.id, key.group(1) if key else ""))
        if page.paging is None or page.paging.next is None:
            return found
        after = page.paging.next.after


def assert_never_twice_at_once(store: StateStore, account_ids: list[str], killed_at: datetime):
    """No two runs of an account overlap; a killed replica's run ends at the kill."""
    for account_id in account_ids:
        spans = sorted(
            (r.started_at, r.ended_at or killed_at, r.replica) for r in runs(store, account_id)
        )
        for (_, end, who), (start, _, other) in itertools.pairwise(spans):
            assert end <= start, f"{account_id}: runs by {who} and {other} overlap"


# --- 1 and 2: replicas on PostgreSQL -------------------------------------------------------


@pytest.mark.parametrize("state_backend", ["postgresql"])
def test_replicas_split_accounts_and_take_over_from_a_killed_one(state_url, tmp_path, monkeypatch):
    setup = Setup(tmp_path, monkeypatch, {"LEADSYNC_DATABASE_URL": state_url})
    store = StateStore(state_url)
    ids = [f"acct{i}" for i in range(6)]
    lease, interval, jitter = 3.0, 2.0, 1.0
    try:
        for i, account_id in enumerate(ids):
            setup.sandbox(account_id, contacts=100, seed=30 + i, faults=Faults(latency_ms=25))
        schedule = {"interval": f"{interval:g}s", "jitter": f"{jitter:g}s"}
        setup.write(*(setup.account(i, schedule=schedule) for i in ids))
        options = ["--lease", f"{lease:g}s", "--grace", "20s"]
        first = setup.start(*options, "--replica-id", "replica-a")
        second = setup.start(*options, "--replica-id", "replica-b")
        first.wait_started(), second.wait_started()

        def ran_by(replica: str) -> set[str]:
            return {i for i in ids if any(r.replica == replica for r in ok_runs(store, i))}

        wait_for(
            lambda: (
                all(ok_runs(store, i) for i in ids) and ran_by("replica-a") and ran_by("replica-b")
            ),
            40,
            "both replicas to sync some of the accounts",
        )
        # SIGKILL replica a in the middle of a run with work to do
        for box in setup.sandboxes.values():
            box.touch(20)
        touched = datetime.now(UTC)

        def running_on_a() -> list[str]:
            return [
                i for i in ids
                if any(r.replica == "replica-a" and r.status == "running" and r.started_at >= touched
                       for r in runs(store, i))
            ]  # fmt: skip

        wait_for(lambda: bool(running_on_a()), 30, "replica a to be in the middle of a run")
        first.proc.kill()
        killed_at = datetime.now(UTC)
        first.proc.wait()
        victims = [
            i
            for i in ids
            if any(r.replica == "replica-a" and r.status == "running" for r in runs(store, i))
        ]
        assert victims

        def taken_over() -> bool:
            return all(
                any(
                    r.replica == "replica-b" and r.started_at > killed_at for r in ok_runs(store, i)
                )
                for i in ids
            )

        wait_for(taken_over, 30, "replica b to take every account over")
        for victim in victims:  # taken over: the killed replica's runs are not left running
            cut = [r for r in runs(store, victim) if r.replica == "replica-a" and r.ended_at
                   and r.ended_at > killed_at]  # fmt: skip
            assert cut and all(r.status == "interrupted" for r in cut), cut
            assert all(
                r.status != "running" or r.replica == "replica-b" for r in runs(store, victim)
            )
        for victim in victims:
            took = min(
                r.started_at for r in ok_runs(store, victim)
                if r.replica == "replica-b" and r.started_at > killed_at
            )  # fmt: skip
            assert (took - killed_at).total_seconds() <= lease + interval + jitter + 2
        # more activity, synced by replica b alone
        for box in setup.sandboxes.values():
            box.touch(20)
        touched = datetime.now(UTC)
        wait_for(
            lambda: all(any(r.started_at > touched for r in ok_runs(store, i)) for i in ids),
            30,
            "replica b to sync the new activity",
        )
        code, _ = second.stop()
        assert code == 0, second.log.read_text()[-2000:]
        assert_never_twice_at_once(store, ids, killed_at)
        assert_scores_and_tasks_right(setup)
        for daemon in (first, second):
            text = daemon.log.read_text()
            assert "Traceback" not in text
            assert not any(box.token in text for box in setup.sandboxes.values())
    finally:
        setup.close()
        store.close()


@pytest.mark.parametrize("state_backend", ["postgresql"])
def test_two_daemons_given_one_replica_id_never_run_an_account_at_once(
    state_url, tmp_path, monkeypatch
):
    """Containers whose daemons are all PID 1 get one ``hostname:pid``: the lease belongs
    to each process's own instance, not to the id they share."""
    setup = Setup(tmp_path, monkeypatch, {"LEADSYNC_DATABASE_URL": state_url})
    store = StateStore(state_url)
    ids = [f"acct{i}" for i in range(4)]
    try:
        for i, account_id in enumerate(ids):
            setup.sandbox(account_id, contacts=150, seed=40 + i, faults=Faults(latency_ms=30))
        setup.write(*(setup.account(i, schedule={"interval": "1s"}) for i in ids))
        options = ["--lease", "5s", "--replica-id", "pod:1"]
        daemons = [setup.start(*options), setup.start(*options)]
        instances = {d.wait_started().logged("daemon started")[0]["instance"] for d in daemons}
        assert len(instances) == 2

        def busy() -> bool:
            done = [r for i in ids for r in ok_runs(store, i)]
            return len(done) >= 24 and {r.instance for r in done} == instances

        wait_for(busy, 90, "both daemons to run the accounts, several times each")
        for daemon in daemons:
            assert daemon.stop()[0] == 0, daemon.log.read_text()[-2000:]
        assert_never_twice_at_once(store, ids, datetime.now(UTC))
        assert {r.replica for i in ids for r in runs(store, i)} == {"pod:1"}
        assert_scores_and_tasks_right(setup)
    finally:
        setup.close()
        store.close()


def test_a_daemon_and_leadsync_commands_never_run_an_account_at_once(
    state_url, tmp_path, monkeypatch
):
    """A backfill started by hand keeps the daemon off the account until it ends (on
    SQLite too: a daemon starting no longer frees every lease), and a ``leadsync sync``
    beside the daemon either runs between its runs or is refused with one line."""
    setup = Setup(tmp_path, monkeypatch, {"LEADSYNC_DATABASE_URL": state_url})
    store = StateStore(state_url)
    try:
        setup.sandbox("acme", contacts=1500, seed=44, faults=Faults(latency_ms=60))
        setup.write(setup.account("acme", schedule={"interval": "1s"}))
        env = {**os.environ, **setup.state, "LEADSYNC_ACCOUNTS_FILE": str(setup.file)}
        backfill = subprocess.Popen(
            [LEADSYNC, "backfill", "--account", "acme"], env=env, stderr=subprocess.PIPE, text=True
        )
        wait_for(
            lambda: runs(store, "acme") or backfill.poll() is not None, 60, "the backfill to start"
        )
        daemon = setup.start().wait_started()
        _, err = backfill.communicate(timeout=300)
        assert backfill.returncode == 0, err[-2000:]
        seen: Counter[str] = Counter()

        def ran_and_refused() -> bool:
            setup.sandboxes["acme"].touch(10)  # work for the daemon's next run
            done = subprocess.run(
                [LEADSYNC, "sync", "--account", "acme"],
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if done.returncode == 0:
                seen["ran"] += 1
            else:
                assert done.returncode == 1, done.stderr[-2000:]
                (line,) = done.stderr.strip().splitlines()
                assert HELD in line and "since" in line, line
                seen["refused"] += 1
            return seen["ran"] >= 1 and seen["refused"] >= 1

        wait_for(ran_and_refused, 120, "a sync that runs and one that is refused")
        assert daemon.stop()[0] == 0, daemon.log.read_text()[-2000:]
        history = runs(store, "acme")
        # the backfill's, each sync's that ran and the daemon's (each "hostname:pid")
        assert len({r.replica for r in history}) == 2 + seen["ran"]
        assert_never_twice_at_once(store, ["acme"], datetime.now(UTC))
        statuses = {r.status for r in history}
        assert statuses <= {"ok", "stopped"}, [(r.id, r.status) for r in history]
        assert_scores_and_tasks_right(setup)
    finally:
        setup.close()
        store.close()


# --- 3: SIGTERM and resume -----------------------------------------------------------------


def test_sigterm_stops_after_the_page_and_the_restart_resumes(sqlite_setup):
    setup, store = sqlite_setup
    box = setup.sandbox("acme", contacts=1500, seed=8)  # two pages: 1,000 + 500
    setup.write(setup.account("acme", schedule={"interval": "2s"}))

    def writes() -> int:
        return sum(box.counters.snapshot().get("contacts.batch_update", {}).values())

    first = setup.start("--grace", "20s").wait_started()
    wait_for(lambda: writes() >= 1, 60, "the backfill's first writes")
    code, took = first.stop(signal.SIGTERM)
    assert code == 0 and took < 20, first.log.read_text()[-2000:]
    stopped = runs(store, "acme")[-1]
    assert stopped.kind == "backfill" and stopped.status == "stopped"
    assert stopped.counts["leads"] == 1000
    assert first.logged("stopping") and first.logged("stopped")
    assert store.cursor("acme", "backfill") is not None

    second = setup.start("--grace", "20s").wait_started()
    wait_for(
        lambda: any(r.kind == "backfill" for r in ok_runs(store, "acme")),
        60,
        "the resumed backfill",
    )
    code, _ = second.stop(signal.SIGINT)
    assert code == 0
    backfills = [r for r in runs(store, "acme") if r.kind == "backfill"]
    assert [r.status for r in backfills] == ["stopped", "ok"]
    assert sum(r.counts["leads"] for r in backfills) == 1500  # resumed, not started over
    assert store.cursor("acme", "incremental") is not None
    assert_scores_and_tasks_right(setup)


def test_the_grace_period_bounds_a_stop_and_a_second_signal_exits_at_once(sqlite_setup):
    setup, store = sqlite_setup
    setup.sandbox("slow", contacts=100, seed=9, faults=Faults(latency_ms=300))
    setup.write(setup.account("slow", schedule={"interval": "1s"}))
    for signals, code in (
        ([signal.SIGTERM], 1),
        ([signal.SIGTERM, signal.SIGINT], 128 + signal.SIGINT),
    ):
        daemon = setup.start("--grace", "1s").wait_started()
        wait_for(lambda d=daemon: d.logged("run started"), 30, "a run")
        daemon.proc.send_signal(signals[0])
        wait_for(lambda d=daemon: d.logged("stopping"), 30, "the stop")
        sent = time.monotonic()
        for signum in signals[1:]:
            daemon.proc.send_signal(signum)
        assert daemon.proc.wait(30) == code
        assert time.monotonic() - sent < (3 if len(signals) == 1 else 1)
        if len(signals) == 1:
            assert daemon.logged("grace period is over")
        else:
            assert "second signal: exiting now" in daemon.log.read_text()
    # cut short; the second daemon's first run found the first's and marked it
    assert [r.status for r in runs(store, "slow")] == ["interrupted", "running"]


# --- 4: reloads ----------------------------------------------------------------------------


def test_sighup_applies_a_schedule_change_and_keeps_a_faulty_file_out(sqlite_setup):
    setup, store = sqlite_setup
    setup.sandbox("acme", contacts=100, seed=2)
    setup.write(setup.account("acme", schedule={"interval": "1h"}))
    daemon = setup.start("--watch", "0").wait_started()
    before = len(runs(store, "acme"))  # the first run comes within 30 s: maybe done, maybe not
    setup.write(setup.account("acme", schedule={"interval": "1s"}))
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: len(ok_runs(store, "acme")) >= before + 3, 30, "runs every second")
    reloaded = daemon.logged("accounts reloaded")
    assert reloaded and reloaded[-1]["changed"] == ["acme"] and reloaded[-1]["why"] == "SIGHUP"

    good = setup.file.read_text()
    setup.write(text=good.replace('"interval": "1s"', '"cron": "61 * * * *"'))
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: daemon.logged("not reloaded"), 30, "the reload error")
    count = len(ok_runs(store, "acme"))
    wait_for(lambda: len(ok_runs(store, "acme")) >= count + 2, 30, "the previous schedule to go on")
    errors = daemon.logged("not reloaded")
    assert len(errors) == 1 and errors[0]["level"] == "error"
    assert (
        f"{setup.file}:2: account 'acme': schedule.cron: cron '61 * * * *'" in errors[0]["message"]
    )
    assert daemon.stop()[0] == 0
    assert "Traceback" not in daemon.log.read_text()


def test_accounts_added_and_removed_in_the_file_are_picked_up(sqlite_setup):
    setup, store = sqlite_setup
    setup.sandbox("old", contacts=100, seed=3)
    setup.sandbox("new", contacts=100, seed=4)
    setup.write(setup.account("old", schedule={"interval": "1s"}))
    daemon = setup.start("--watch", "0.2s").wait_started()
    wait_for(lambda: ok_runs(store, "old"), 30, "the first account's first run")
    setup.write(setup.account("new", schedule={"interval": "1s"}))
    wait_for(lambda: len(ok_runs(store, "new")) >= 2, 30, "the added account's runs")
    removed_at = len(runs(store, "old"))
    setup.write(text="accounts:\n  - {id: new, crm: hubspot\n")  # broken YAML: kept out
    wait_for(lambda: daemon.logged("not reloaded"), 30, "the reload error")
    count = len(ok_runs(store, "new"))
    wait_for(lambda: len(ok_runs(store, "new")) >= count + 2, 30, "the account to go on")
    assert len(runs(store, "old")) == removed_at  # no run since it left the file
    assert len(daemon.logged("not reloaded")) == 1  # said once, not at every check
    reloads = daemon.logged("accounts reloaded")
    assert reloads[0]["added"] == ["new"] and reloads[0]["removed"] == ["old"]
    assert daemon.stop()[0] == 0


# --- 5: backoff ----------------------------------------------------------------------------


def test_a_revoked_token_backs_its_account_off_alone(sqlite_setup, monkeypatch):
    setup, store = sqlite_setup
    setup.sandbox("good", contacts=100, seed=5)
    setup.sandbox("bad", contacts=100, seed=6)
    monkeypatch.setenv(_token_var("bad"), "pat-revoked-0000")
    every_second = {"schedule": {"interval": "1s"}}
    setup.write(setup.account("good", **every_second), setup.account("bad", **every_second))
    daemon = setup.start("--backoff", "1s", "--backoff-max", "2s", "--http", "127.0.0.1:0")
    address = daemon.wait_started().logged("serving /healthz")[0]["address"]
    assert_a_second_daemon_refuses(setup, daemon)

    def status(account_id: str) -> Any:
        return store.account_status().get(account_id)

    wait_for(
        lambda: status("bad") and status("bad").failures >= 3 and len(ok_runs(store, "good")) >= 4,
        40,
        "three failures of the bad account while the good one syncs",
    )
    assert urlopen(f"{address}/readyz", timeout=10).read().strip() == b"ok"
    metrics = urlopen(f"{address}/metrics", timeout=10).read().decode()
    assert 'leadsync_errors_total{account="bad",crm="hubspot",kind="CrmAuthError"}' in metrics
    assert 'leadsync_runs_total{account="good",crm="hubspot",status="ok"}' in metrics
    assert daemon.stop()[0] == 0
    bad = status("bad")
    assert bad.last_error_kind == "CrmAuthError" and "credentials" in bad.last_error
    assert bad.backoff_until is not None and bad.last_success_at is None
    failed = [r for r in runs(store, "bad") if r.status == "failed"]
    assert len(failed) == bad.failures
    for n, (previous, following) in enumerate(itertools.pairwise(failed), start=1):
        wait = min(2 ** (n - 1), 2)  # the backoff after failure n
        gap = (following.started_at - previous.ended_at).total_seconds()
        assert gap >= wait - 0.1, f"run {following.id} came {gap:.2f}s after a failure"
    good = status("good")
    assert good.failures == 0 and good.last_success_at is not None and good.api_limit
    assert all(r.status == "ok" for r in runs(store, "good"))

    lines = daemon.lines()
    failures = [line for line in lines if str(line.get("message")).startswith("run failed:")]
    assert failures and all(line["account"] == "bad" and line["run"] for line in failures)
    assert failures[0]["error_kind"] == "CrmAuthError" and failures[0]["failures"] == 1
    deep = [line for line in lines if line.get("logger", "").startswith("leadsync.connectors")]
    assert deep and all("account" in line and "run" in line for line in deep)
    text = daemon.log.read_text()
    assert "Traceback" not in text and "pat-revoked-0000" not in text
    assert setup.sandboxes["good"].token not in text


# --- 6: one daemon per SQLite file, and a faulty start ---------------------------------


def assert_a_second_daemon_refuses(setup: Setup, first: Daemon) -> None:
    second = setup.start()
    assert second.proc.wait(30) == 1
    message = second.log.read_text()
    state = setup.state["LEADSYNC_STATE_PATH"]
    assert (
        f"another leadsync daemon (pid {first.proc.pid}) is running on the SQLite state file {state}"
        in message
    )
    assert "PostgreSQL" in message and "Traceback" not in message
    assert first.proc.poll() is None


@pytest.mark.parametrize("state_backend", ["postgresql"])
def test_a_password_in_the_url_query_is_not_in_the_start_line(state_url, tmp_path, monkeypatch):
    """``?password=`` is a password: masked in the start line like ``user:password@``."""
    joined = "&" if "?" in state_url else "?"
    url = f"{state_url}{joined}password=s3cret-in-query"  # trust auth: the server ignores it
    setup = Setup(tmp_path, monkeypatch, {"LEADSYNC_DATABASE_URL": url})
    try:
        setup.write()
        daemon = setup.start().wait_started()
        (started,) = daemon.logged("daemon started")
        assert "password=***" in started["state"]
        assert daemon.stop()[0] == 0
        assert "s3cret" not in daemon.log.read_text()
    finally:
        setup.close()


def test_bad_options_and_a_bad_accounts_file_are_one_clear_message(sqlite_setup):
    setup, _ = sqlite_setup
    setup.write(
        text="accounts:\n  - {id: acme, crm: hubspot, credentials: {token: T}, schedule: {interval: 0s}}\n"
    )
    done = setup.start()
    assert done.proc.wait(30) == 1
    text = done.log.read_text()
    assert "accounts.yaml:2: account 'acme': schedule: interval: must be longer than 0s" in text
    assert "Traceback" not in text
    for args, message in (
        (["--lease", "soon"], "a duration like"),
        (["--grace", "-1s"], "a duration like"),
        (["--lease", "0s"], "longer than 0s"),
        (["--http", "127.0.0.1"], "'127.0.0.1': expected HOST:PORT"),
    ):
        bad = CliRunner().invoke(app, ["daemon", *args])
        assert bad.exit_code == 2 and message in bad.output


def test_one_daemon_keeps_a_hubspot_and_a_salesforce_account_scored(sqlite_setup, monkeypatch):
    """The same daemon, worker and pipeline for both CRMs: nothing Salesforce-specific."""
    from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox

    setup, store = sqlite_setup
    setup.sandbox("hub", contacts=120, seed=3)
    with SalesforceSandbox(leads=90, contacts=30, seed=6) as org:
        monkeypatch.setenv("DAEMON_TEST_SF_SECRET", org.client_secret)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", org.ca_path)  # a default session trusts it
        salesforce = {
            "id": "globex",
            "crm": "salesforce",
            "salesforce": {"objects": ["Lead", "Contact"]},
            "credentials": {
                "consumer_key": org.client_id,
                "consumer_secret": "DAEMON_TEST_SF_SECRET",
                "instance_url": org.instance_url,
            },
            "schedule": {"interval": "1s"},
        }
        setup.write(setup.account("hub", schedule={"interval": "1s"}), salesforce)
        daemon = setup.start().wait_started()
        wait_for(
            lambda: all(len(ok_runs(store, a)) >= 2 for a in ("hub", "globex")),
            60,
            "two runs of each account",
        )
        assert daemon.stop()[0] == 0
        for account_id in ("hub", "globex"):
            kinds = [r.kind for r in ok_runs(store, account_id)]
            assert kinds[0] == "backfill" and set(kinds[1:]) == {"incremental"}, kinds
        live = [r for r in org.store.rows("Lead") if not r["IsConverted"]]
        assert live and all(r.get("Lead_Score__c") is not None for r in live)
        assert all(r.get("Lead_Score_Tier__c") for r in org.store.rows("Contact"))
    assert_scores_and_tasks_right(setup)  # the HubSpot account, checked as everywhere here
