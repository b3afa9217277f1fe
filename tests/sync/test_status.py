"""``leadsync status`` as an operator runs it: a subprocess over the state a real backfill left."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from polling import LEADSYNC

from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.sync.leases import Leases
from leadsync.sync.runhistory import AccountStatus
from leadsync.sync.state import StateStore

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


class Cli:
    def __init__(self, folder: Path, accounts: str, **env: str) -> None:
        (folder / "accounts.yaml").write_text(accounts)
        self.env = {
            **os.environ,
            "LEADSYNC_STATE_PATH": str(folder / "state.db"),
            "LEADSYNC_ACCOUNTS_FILE": str(folder / "accounts.yaml"),
            "LEADSYNC_LOG_FORMAT": "json",
            **env,
        }

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [LEADSYNC, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def status(self) -> dict[str, dict]:
        lines = self("status", "--json").stdout.splitlines()
        return {line["account"]: line for line in map(json.loads, lines)}


@pytest.fixture
def sandbox():
    with HubSpotSandbox(
        contacts=120, seed=5, ten_second_limit=10**6, search_per_second=1000, daily_limit=50_000
    ) as box:
        yield box


def accounts_yaml(sandbox: HubSpotSandbox) -> str:
    return (
        "accounts:\n"
        f"  - {{id: acme, crm: hubspot, credentials: {{token: STATUS_TOKEN}}, host: '{sandbox.url}',\n"
        "     schedule: {interval: 15m, jitter: 30s}}\n"
        f"  - {{id: initech, crm: hubspot, credentials: {{token: STATUS_TOKEN}}, host: '{sandbox.url}'}}\n"
    )


def test_status_after_a_backfill_and_a_daemon_that_backed_off(sandbox, tmp_path):
    cli = Cli(tmp_path, accounts_yaml(sandbox), STATUS_TOKEN=sandbox.token)
    cli("backfill", "--account", "acme")
    cli("backfill", "--account", "initech")

    # What the daemon leaves: acme failed twice and waits; a replica holds initech's
    # lease; an account removed from the accounts file still has its run history.
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    at = datetime.now(UTC).replace(microsecond=0)
    store.set_account_status(
        AccountStatus(
            "acme",
            failures=2,
            last_error="HubSpot: the daily API limit is spent",
            last_error_kind="CrmRateLimited",
            backoff_until=at + timedelta(minutes=10),
            next_run_at=at + timedelta(minutes=15),
            last_success_at=at - timedelta(hours=1),
            api_remaining=1_234,
            api_limit=250_000,
        )
    )
    Leases(store.engine, "replica-b:4242", timedelta(minutes=2)).acquire("initech")
    Leases(store.engine, "replica-a:1", timedelta(seconds=-1)).acquire("acme")  # expired
    gone = store.start_run("globex", "incremental", replica="replica-a:1")
    store.finish_run(gone, "ok", {"leads": 3, "writes": 1}, None)
    # A Salesforce-sized cursor (every lead id written, with its stamp: 18 KB) and a
    # backfill that stopped half-way: status must say where they stand, not print them.
    seen = {f"00Q5g{n:013d}": "2026-03-02T10:00:00.000+0000" for n in range(400)}
    big = json.dumps({"inc": {"Lead": {"ts": "2026-03-02T10:00:00.000+0000", "seen": seen}}})
    with store.transaction() as conn:
        store.set_cursor(conn, "initech", "incremental", big)
        store.set_cursor(conn, "globex", "backfill", json.dumps({"all": {"after": "00Q5g"}}))
    raw = {a: store.cursor(a, "incremental") for a in ("acme", "initech")}
    store.close()
    assert len(big) > 18_000

    rows = cli.status()
    assert list(rows) == ["acme", "initech", "globex"]  # file order, then the rest

    acme = rows["acme"]
    assert acme["crm"] == "hubspot" and acme["in_accounts_file"] is True
    assert acme["schedule"] == "every 15m ±30s"
    run = acme["last_run"]
    assert run["kind"] == "backfill" and run["status"] == "ok"
    assert run["leads"] == 120 and run["writes"] == 120 and run["api_calls"] > 0
    assert run["seconds"] >= 0 and run["error"] is None
    assert acme["next_run_at"] == (at + timedelta(minutes=15)).isoformat()
    assert acme["backoff_until"] == (at + timedelta(minutes=10)).isoformat()
    assert acme["failures"] == 2
    assert acme["last_error_kind"] == "CrmRateLimited"
    assert acme["last_error"] == "HubSpot: the daily API limit is spent"
    assert acme["api"] == {"remaining": 1234, "limit": 250_000, "source": "daemon"}
    assert acme["lease"] is None  # expired: nobody holds it
    # The cursor is the connector's own opaque text: status says where the sync stands.
    assert "cursor" not in acme and "backfill_resumes_at" not in acme
    position = acme["sync_position"]
    assert position["backfill"] == "done"
    assert run["started_at"] <= position["backfill_saved_at"] <= run["ended_at"]
    assert run["started_at"] <= position["incremental_saved_at"] <= run["ended_at"]
    # The backfill (a command, not the daemon) succeeded after the daemon's last success.
    assert acme["last_success_at"] == run["ended_at"]

    initech = rows["initech"]
    assert initech["lease"]["holder"] == "replica-b:4242"
    assert initech["failures"] == 0 and initech["next_run_at"] is None
    assert initech["schedule"] is None
    # No figure from the daemon: the budget the CRM reported at the end of the last run.
    assert initech["api"]["limit"] == 50_000
    assert 0 < initech["api"]["remaining"] < 50_000
    assert initech["api"]["source"] == f"run {initech['last_run']['id']}"

    assert initech["sync_position"]["incremental_saved_at"] >= initech["last_run"]["ended_at"]

    globex = rows["globex"]
    assert globex["sync_position"] == {
        "incremental_saved_at": None,
        "backfill": "in progress",
        "backfill_saved_at": globex["sync_position"]["backfill_saved_at"],
    }
    assert globex["sync_position"]["backfill_saved_at"] is not None
    assert globex["in_accounts_file"] is False and globex["crm"] is None
    assert globex["last_run"]["replica"] == "replica-a:1"
    assert globex["last_run"]["leads"] == 3
    assert globex["last_success_at"] == globex["last_run"]["ended_at"]

    table = cli("status")  # piped, not a terminal: whole values, not cut at 80 columns
    as_json = cli("status", "--json")
    for done in (table, as_json):
        assert all(text not in done.stdout for text in raw.values())
        assert "00Q5g" not in done.stdout
    assert len(as_json.stdout) < 6_000 and len(table.stdout) < 6_000  # was 331 KB
    assert max(map(len, table.stdout.splitlines())) < 250  # no row padded to a cursor's width
    assert "backfill done" in table.stdout and "backfill in progress" in table.stdout
    assert "incremental saved" in table.stdout
    assert "acme" in table.stdout and "not in the accounts file" in table.stdout
    assert "replica-b:4242" in table.stdout and "CrmRateLimited" in table.stdout
    for done in (table, cli("status", "--json")):
        assert sandbox.token not in done.stdout + done.stderr


def test_status_before_any_run_and_with_an_invalid_accounts_file(tmp_path):
    cli = Cli(
        tmp_path,
        "accounts:\n  - {id: acme, crm: hubspot, credentials: {token: NOT_SET_ANYWHERE}}\n",
    )
    # the state as the daemon leaves it when it starts; with no file at all status says so
    # (test_cli_readonly.py) rather than show "never" for a mistyped LEADSYNC_STATE_PATH
    StateStore(f"sqlite:///{tmp_path / 'state.db'}").close()
    rows = cli.status()  # the credential is never resolved: status reads state only
    assert rows["acme"]["last_run"] is None and rows["acme"]["api"] is None
    assert rows["acme"]["lease"] is None
    assert rows["acme"]["sync_position"] == {
        "incremental_saved_at": None,
        "backfill": "never",
        "backfill_saved_at": None,
    }
    assert "never" in cli("status").stdout

    (tmp_path / "broken.yaml").write_text("accounts:\n  - {id: Bad Id, crm: pipedrive}\n")
    done = cli("status", "--accounts", str(tmp_path / "broken.yaml"), check=False)
    assert done.returncode == 1
    assert "broken.yaml" in done.stderr and "crm" in done.stderr
    assert "Traceback" not in done.stderr


def test_status_reads_a_postgresql_state_database(tmp_path):
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({exc})")
    name = f"leadsync_status_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres:pg-s3cret@127.0.0.1:5432/{name}"
    try:
        store = StateStore(url)
        run = store.start_run("acme", "incremental", replica="pod-1")
        store.finish_run(
            run, "failed", {"leads": 40, "api_daily_remaining": 9, "api_daily_limit": 10}, "boom"
        )
        with store.transaction() as conn:
            store.set_cursor(conn, "acme", "incremental", "x" * 80)
        store.set_account_status(
            AccountStatus("acme", failures=1, last_error="boom", last_error_kind="CrmError")
        )
        store.close()
        cli = Cli(
            tmp_path,
            "accounts:\n  - {id: acme, crm: salesforce, credentials: {session_id: SF_SESSION, instance_url: 'https://x.my.salesforce.com'}}\n",
            LEADSYNC_DATABASE_URL=url,
        )
        rows = cli.status()
        acme = rows["acme"]
        assert acme["crm"] == "salesforce"
        assert acme["last_run"]["status"] == "failed" and acme["last_run"]["error"] == "boom"
        assert acme["last_run"]["replica"] == "pod-1"
        assert acme["api"] == {"remaining": 9, "limit": 10, "source": f"run {run}"}
        assert acme["sync_position"]["incremental_saved_at"] is not None
        assert acme["sync_position"]["backfill"] == "never"
        assert acme["last_error_kind"] == "CrmError" and acme["failures"] == 1
        done = cli("status")
        assert "pg-s3cret" not in done.stdout + done.stderr
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
