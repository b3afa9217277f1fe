"""``leadsync daemon`` subprocesses on HubSpot sandboxes, for the daemon's end-to-end
tests (tests/sync/test_daemon*.py).

``Setup`` holds one test's accounts file, sandboxes, environment and daemons; ``Daemon``
is one ``leadsync daemon`` process whose JSON log lines land in a file;
``assert_scores_and_tasks_right`` checks the end state of every sandbox against the engine.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hubspot import HubSpot
from polling import LEADSYNC, wait_for

from leadsync.config.accounts import Account
from leadsync.config.templates import resolve_model
from leadsync.connectors.hubspot.connector import HubSpotConnector
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.scoring.engine import score
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
        self.monkeypatch.setenv(token_var(account_id), box.token)
        return box

    def account(self, account_id: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": account_id,
            "crm": "hubspot",
            "credentials": {"token": token_var(account_id)},
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


def token_var(account_id: str) -> str:
    return f"DAEMON_TEST_TOKEN_{account_id.upper()}"


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
