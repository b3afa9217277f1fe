"""``leadsync daemon`` and its signals: real subprocesses on HubSpot sandboxes.

SIGTERM stops after the current page and the next start resumes from the cursor; the
grace period bounds a stop and a second signal exits at once; SIGHUP, and a change to the
watched accounts file, reload the accounts while a faulty file is kept out.
"""

from __future__ import annotations

import signal
import time

from daemon_support import assert_scores_and_tasks_right, ok_runs, runs
from polling import wait_for

from leadsync.connectors.sandbox.faults import Faults

# --- SIGTERM and resume --------------------------------------------------------------------


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


# --- reloads -------------------------------------------------------------------------------


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
