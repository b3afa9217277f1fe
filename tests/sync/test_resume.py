"""A backfill killed mid-run (SIGKILL, a real subprocess) and restarted ends right, with
its state on SQLite and on PostgreSQL (where the kill leaves a transaction open on the
server: it must roll back, not be half-saved)."""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from decimal import Decimal

from crm_support import engine_results
from hubspot import HubSpot
from polling import LEADSYNC, kill_backfill_then_finish

from leadsync.config.accounts import Account
from leadsync.config.templates import resolve_model
from leadsync.connectors.hubspot.connector import HubSpotConnector
from leadsync.connectors.sandbox.faults import Faults
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox


def all_contacts(client: HubSpot) -> dict[str, dict]:
    found, after = {}, None
    while True:
        page = client.crm.contacts.basic_api.get_page(
            limit=100, after=after, properties=["lead_score"]
        )
        found.update({c.id: c.properties for c in page.results})
        if page.paging is None or page.paging.next is None:
            return found
        after = page.paging.next.after


def all_tasks(client: HubSpot) -> list:
    tasks, after = [], None
    while True:
        page = client.crm.objects.tasks.basic_api.get_page(
            limit=100, after=after, associations=["contacts"]
        )
        tasks += page.results
        if page.paging is None or page.paging.next is None:
            return tasks
        after = page.paging.next.after


def test_a_killed_backfill_resumes_without_losing_or_duplicating(tmp_path, state_url):
    with HubSpotSandbox(
        contacts=2500,
        seed=21,
        faults=Faults(latency_ms=10),
        ten_second_limit=10**6,
        search_per_second=1000,
    ) as sandbox:
        (tmp_path / "accounts.yaml").write_text(
            "accounts:\n"
            f"  - {{id: acme, crm: hubspot, credentials: {{token: TEST_TOKEN}}, host: '{sandbox.url}'}}\n"
        )
        env = {
            **os.environ,
            "TEST_TOKEN": sandbox.token,
            "LEADSYNC_DATABASE_URL": state_url,
            "LEADSYNC_ACCOUNTS_FILE": str(tmp_path / "accounts.yaml"),
            "LEADSYNC_LEASE": "2s",  # PostgreSQL: how long the killed run holds the account
        }

        def writes() -> int:
            return sum(sandbox.counters.snapshot().get("contacts.batch_update", {}).values())

        refused = kill_backfill_then_finish(env, writes, kill_at=12, done_at=25)
        if state_url.startswith("sqlite"):  # the killed process's lease is free at once
            assert refused == 0
        sandbox.faults.clear()

        client = HubSpot(access_token=sandbox.token, host=sandbox.url)
        crm = all_contacts(client)
        account = Account.model_validate(
            {
                "id": "acme",
                "crm": "hubspot",
                "credentials": {"token": "TEST_TOKEN"},
                "host": sandbox.url,
            }
        )
        os.environ["TEST_TOKEN"] = sandbox.token
        expected = engine_results(HubSpotConnector(account), resolve_model("b2b-saas"))
        assert {cid: Decimal(p["lead_score"]) for cid, p in crm.items()} == {
            cid: r.score for cid, r in expected.items()
        }
        per_contact = Counter(
            a.id for t in all_tasks(client) for a in t.associations["contacts"].results
        )
        assert max(per_contact.values()) == 1
        assert set(per_contact) == {cid for cid, r in expected.items() if r.is_mql}

        runs = subprocess.run(
            [LEADSYNC, "runs", "--account", "acme", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        statuses = [line for line in runs.stdout.splitlines()]
        # the killed run is not left "running" for ever: the next run marked it
        assert '"status": "ok"' in statuses[0] and '"status": "interrupted"' in statuses[1]
