"""``leadsync daemon`` as it runs in production: a real subprocess on CRM sandboxes.

One daemon keeps a HubSpot and a Salesforce account scored; a revoked token backs its
account off alone while /readyz and /metrics answer; a second daemon on one SQLite file
refuses; a password in the state URL stays out of the log; bad options and a bad accounts
file are one clear message. Replicas and leases: test_daemon_replicas.py; stops, resumes
and reloads: test_daemon_signals.py; schedules and backoff without a process:
test_daemon_schedules.py.
"""

from __future__ import annotations

import itertools
from typing import Any
from urllib.request import urlopen

import pytest
from daemon_support import (
    Daemon,
    Setup,
    assert_scores_and_tasks_right,
    ok_runs,
    runs,
    token_var,
)
from polling import wait_for
from typer.testing import CliRunner

from leadsync.sync.cli import app

# --- backoff -------------------------------------------------------------------------------


def test_a_revoked_token_backs_its_account_off_alone(sqlite_setup, monkeypatch):
    setup, store = sqlite_setup
    setup.sandbox("good", contacts=100, seed=5)
    setup.sandbox("bad", contacts=100, seed=6)
    monkeypatch.setenv(token_var("bad"), "pat-revoked-0000")
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


# --- one daemon per SQLite file, and a faulty start ----------------------------------------


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
