"""``leadsync daemon`` replicas and leases: real subprocesses on HubSpot sandboxes.

Replicas on one PostgreSQL database split the accounts, never run one twice at once and
take over from a replica killed with SIGKILL; two daemons sharing a replica id still hold
their own leases; a backfill or a ``leadsync sync`` started by hand and the daemon never
run an account at once.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from collections import Counter
from datetime import UTC, datetime

import pytest
from daemon_support import Setup, assert_scores_and_tasks_right, ok_runs, runs
from polling import HELD, LEADSYNC, wait_for

from leadsync.connectors.sandbox.faults import Faults
from leadsync.sync.state import StateStore


def assert_never_twice_at_once(store: StateStore, account_ids: list[str], killed_at: datetime):
    """No two runs of an account overlap; a killed replica's run ends at the kill."""
    for account_id in account_ids:
        spans = sorted(
            (r.started_at, r.ended_at or killed_at, r.replica) for r in runs(store, account_id)
        )
        for (_, end, who), (start, _, other) in itertools.pairwise(spans):
            assert end <= start, f"{account_id}: runs by {who} and {other} overlap"


# --- replicas and leases -------------------------------------------------------------------


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
