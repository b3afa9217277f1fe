"""Every run of an account from the command line holds the account's lease, as the
daemon's runs do: a second ``backfill``, ``sync`` or ``forget`` while one runs is
refused with one line naming the holder, and a run killed with SIGKILL is marked
``interrupted`` (not left ``running``) by whatever takes the account next.

Real ``leadsync`` subprocesses on a HubSpot sandbox, state on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from polling import HELD, LEADSYNC, wait_for

from leadsync.connectors.sandbox.faults import Faults
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.sync.runhistory import Run
from leadsync.sync.state import StateStore


class Account:
    """One account on a slow sandbox (each page takes a while), its environment and state."""

    def __init__(self, box: HubSpotSandbox, folder: Path, state_url: str) -> None:
        self.box = box
        (folder / "accounts.yaml").write_text(
            "accounts:\n"
            f"  - {{id: acme, crm: hubspot, credentials: {{token: LEASE_TOKEN}}, host: '{box.url}'}}\n"
        )
        self.env = {
            **os.environ,
            "LEASE_TOKEN": box.token,
            "LEADSYNC_DATABASE_URL": state_url,
            "LEADSYNC_ACCOUNTS_FILE": str(folder / "accounts.yaml"),
            "LEADSYNC_LOG_FORMAT": "json",
        }
        self.store = StateStore(state_url)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [LEADSYNC, *args], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [LEADSYNC, *args], env=self.env, capture_output=True, text=True, timeout=300
        )

    def runs(self) -> list[Run]:
        return list(reversed(self.store.runs("acme", 1000)))

    def writes(self) -> int:
        return sum(self.box.counters.snapshot().get("contacts.batch_update", {}).values())


@pytest.fixture
def account(tmp_path, state_url) -> Iterator[Account]:
    # three pages of 1,000 contacts, each a few seconds long
    box = HubSpotSandbox(
        contacts=2500, seed=17, faults=Faults(latency_ms=15), ten_second_limit=10**6,
        search_per_second=1000,
    ).start()  # fmt: skip
    acct = Account(box, tmp_path, state_url)
    yield acct
    acct.store.close()
    box.stop()


def test_a_second_run_of_the_account_is_refused_while_one_runs(account):
    first = account.start("backfill", "--account", "acme")
    wait_for(
        lambda: any(r.status == "running" for r in account.runs()) or first.poll() is not None,
        60,
        "the first backfill to start",
    )
    assert first.poll() is None, first.communicate()[1][-2000:]
    for args in (
        ["backfill", "--account", "acme"],
        ["sync", "--account", "acme"],
        ["forget", "--account", "acme", "--contact", "1"],
    ):
        refused = account(*args)
        assert refused.returncode == 1, (args, refused.stderr[-2000:])
        (line,) = refused.stderr.strip().splitlines()  # one line, no traceback
        assert line.startswith(f"error: account 'acme' {HELD} (")
        holder = re.search(r"\((\S+):(\d+), since (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)\)", line)
        assert holder is not None and int(holder.group(2)) == first.pid, line
        assert "run it again once that run has ended" in line
    assert first.poll() is None, "the refusals did not wait for the first run"
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-2000:]
    (run,) = account.runs()  # no second run started, none overlapped
    assert run.status == "ok" and run.counts["leads"] == 2500
    assert run.replica and run.replica.endswith(f":{first.pid}") and run.instance
    assert account.store.failed_writes("acme") == []

    # once it has ended, the account is free again
    again = account("sync", "--account", "acme")
    assert again.returncode == 0, again.stderr[-2000:]
    assert [r.status for r in account.runs()] == ["ok", "ok"]


@pytest.mark.parametrize("state_backend", ["sqlite"])
def test_a_killed_run_is_marked_interrupted_and_its_account_freed_at_once(account):
    """SIGKILL leaves the run ``running`` and the lease held; on SQLite the next command
    sees that the holder's process is gone, takes the account at once and marks the run
    ``interrupted`` — ``leadsync runs`` and ``status`` say so."""
    first = account.start("backfill", "--account", "acme")
    wait_for(lambda: account.writes() >= 1 or first.poll() is not None, 60, "the first writes")
    first.kill()
    first.wait()
    (killed,) = account.runs()
    assert killed.status == "running" and killed.ended_at is None

    forget = account("forget", "--account", "acme", "--contact", "1")  # takes the lease
    assert forget.returncode == 0, forget.stderr[-2000:]
    (marked,) = account.runs()
    assert marked.status == "interrupted" and marked.ended_at is not None
    assert "its process stopped (killed, or stalled past its lease)" in (marked.error or "")

    shown = json.loads(account("runs", "--account", "acme", "--json").stdout.splitlines()[0])
    assert (shown["id"], shown["status"]) == (killed.id, "interrupted")
    status: dict[str, Any] = json.loads(account("status", "--json").stdout.splitlines()[0])
    assert status["last_run"]["status"] == "interrupted"
    assert status["lease"] is None  # forget released it
    assert "interrupted" in account("status").stdout

    done = account("backfill", "--account", "acme")  # resumes from the saved cursor
    assert done.returncode == 0, done.stderr[-2000:]
    assert [r.status for r in account.runs()] == ["interrupted", "ok"]
