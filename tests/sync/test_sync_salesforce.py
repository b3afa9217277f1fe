"""The whole pipeline on the Salesforce sandbox: backfill, incremental, tasks, faults, restarts.

The real connector drives simple-salesforce over HTTPS (a session trusting the sandbox's
throwaway CA); the state is a real SQLite file, or a PostgreSQL schema for the REST-path
scenarios (the bulk ones and the killed backfill stay on SQLite: the state calls are the
same, only slower to repeat); the org is read back through simple-salesforce too. Only
the pacing is shrunk so retries take milliseconds.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from crm_support import engine_results
from polling import LEADSYNC, kill_backfill_then_finish
from sf_support import account, no_sleep

from leadsync.config.accounts import Account
from leadsync.config.templates import resolve_model
from leadsync.connectors.retry import RetryPolicy
from leadsync.connectors.salesforce.connector import SalesforceConnector
from leadsync.connectors.sandbox.faults import Faults
from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox
from leadsync.errors import LeadsyncError
from leadsync.sync.pipeline import Sync
from leadsync.sync.state import StateStore

FAST = RetryPolicy(max_attempts=10, base_s=0.01, cap_s=0.05, max_total_s=30)
MODEL = resolve_model("b2b-saas")
EXECUTIVE = ("chief", "ceo", "cfo", "cto", "cmo", "coo", "vp", "vice", "president", "head",
             "director", "founder", "owner")  # fmt: skip
LEAD_FIELDS = "Id, Title, OwnerId, Lead_Score__c, Lead_Score_Tier__c, Lead_Score_Reasons__c"


class Org:
    """A sandbox org, an account on it (client credentials), a state file, pipeline runs."""

    def __init__(self, box: SalesforceSandbox, acct: Account, store: StateStore) -> None:
        self.box, self.account, self.store = box, acct, store

    def connector(self) -> SalesforceConnector:
        return SalesforceConnector(
            self.account,
            session=self.box.session(),
            policy=FAST,
            sleep=no_sleep,
            poll_delays=(0.0,),
        )

    def run(self, mode: str, **options: Any):
        connector = self.connector()
        try:
            return Sync(self.account, connector, self.store, MODEL).run(mode, **options)  # type: ignore[arg-type]
        finally:
            connector.close()

    def client(self):
        """simple-salesforce on a fresh session (the start-up one may have been expired)."""
        return self.box.client(self.box.sessions.new_access_token())

    def leads(self) -> dict[str, dict[str, Any]]:
        text = f"SELECT {LEAD_FIELDS} FROM Lead WHERE IsConverted = false"
        return {r["Id"]: r for r in self.client().query_all(text)["records"]}

    def crm_scores(self) -> dict[str, Decimal | None]:
        return {
            rid: None if r["Lead_Score__c"] is None else Decimal(str(r["Lead_Score__c"]))
            for rid, r in self.leads().items()
        }

    def engine(self) -> dict[str, Any]:
        """What the engine gives every lead, as the connector reads them now."""
        return engine_results(self.connector(), MODEL)

    def tasks(self) -> list[dict[str, Any]]:
        text = "SELECT Id, WhoId, OwnerId, Subject, Description, Priority, Status FROM Task"
        rows = self.client().query_all(text)["records"]
        return [r for r in rows if "[leadsync:" in str(r.get("Description"))]

    def users(self) -> dict[str, bool]:
        rows = self.client().query_all("SELECT Id, IsActive FROM User")["records"]
        return {r["Id"]: r["IsActive"] is True for r in rows}

    def set_fields(self, changes: dict[str, dict[str, Any]]) -> None:
        client = self.client()
        for rid, values in changes.items():
            client.Lead.update(rid, values)

    def calls(self, prefix: str) -> int:
        snap = self.box.counters.snapshot()
        return sum(sum(by.values()) for ep, by in snap.items() if ep.startswith(prefix))

    def assert_tasks_right(self, rr: list[str]) -> None:
        """One Task per MQL lead, owned by its active owner or a round-robin user."""
        leads, users = self.leads(), self.users()
        tasks = self.tasks()
        per_lead = Counter(t["WhoId"] for t in tasks)
        assert per_lead and max(per_lead.values()) == 1
        expected = self.engine()
        assert set(per_lead) == {rid for rid, r in expected.items() if r.is_mql}
        for task in tasks:
            owner = leads[task["WhoId"]]["OwnerId"]
            if users.get(owner):
                assert task["OwnerId"] == owner
            else:
                assert task["OwnerId"] in rr
            assert task["Priority"] == "High" and task["Status"] == "Not Started"
            assert task["Subject"].startswith("MQL: ")


@pytest.fixture
def make_org(state_databases, monkeypatch) -> Iterator[Callable[..., Org]]:
    opened: list[tuple[SalesforceSandbox, StateStore]] = []

    def make(leads: int = 300, seed: int = 11, sandbox: dict | None = None, **fields: Any) -> Org:
        box = SalesforceSandbox(leads=leads, seed=seed, **(sandbox or {})).start()
        store = StateStore(state_databases.new())
        opened.append((box, store))
        fields.setdefault("tasks", {"round_robin": round_robin(box)})
        acct = account(box, monkeypatch, mode="client_credentials", **fields)
        return Org(box, acct, store)

    yield make
    for box, store in opened:
        store.close()
        box.stop()


def round_robin(box: SalesforceSandbox) -> list[str]:
    """Two active users (not the integration user) to take queue-owned leads."""
    users = [r for r in box.store.rows("User") if r.get("IsActive")]
    return [str(r["Id"]) for r in users if "integration" not in str(r["Username"])][:2]


def plain(leads: dict[str, dict[str, Any]], low: float, high: float) -> list[str]:
    """Leads scored in [low, high) with no executive title: a CEO title adds to the score."""
    return [
        rid
        for rid, r in leads.items()
        if low <= float(r["Lead_Score__c"]) < high
        and "executive title" not in (r["Lead_Score_Reasons__c"] or "")
        and not any(w in str(r["Title"] or "").lower() for w in EXECUTIVE)
    ]


# Bulk: above the threshold the leads and activities are read by query jobs; above 2,000
# writes the scores go back through an ingest job. The REST path runs on both state
# databases, the (slower) bulk path on SQLite only (and on PostgreSQL for the backfill).
_CASES = [
    pytest.param(10_000, 300, "sqlite", id="rest-sqlite"),
    pytest.param(10_000, 300, "postgresql", id="rest-postgresql"),
    pytest.param(100, 2_100, "sqlite", id="bulk-sqlite"),
]
PATHS = pytest.mark.parametrize(("threshold", "leads", "state_backend"), _CASES)
# A Bulk page of more than 2,000 score writes on PostgreSQL: each write's stamp is the
# ingest job's window (73 characters), which a 64-character column once refused.
BULK_POSTGRESQL = pytest.param(100, 2_100, "postgresql", id="bulk-postgresql")


@pytest.mark.parametrize(("threshold", "leads", "state_backend"), [*_CASES, BULK_POSTGRESQL])
def test_backfill_writes_the_engine_score_to_every_lead_then_nothing(make_org, threshold, leads):
    org = make_org(leads=leads, salesforce={"bulk_threshold": threshold})
    report = org.run("backfill")
    assert report.status == "ok"
    assert report.counts["leads"] == report.counts["writes"] == leads
    crm = org.leads()
    expected = org.engine()
    assert {rid: Decimal(str(r["Lead_Score__c"])) for rid, r in crm.items()} == {
        rid: r.score for rid, r in expected.items()
    }
    assert all(r["Lead_Score_Tier__c"] and r["Lead_Score_Reasons__c"] for r in crm.values())
    if threshold < leads:
        assert org.calls("POST jobs/query") >= 1 and org.calls("POST jobs/ingest") >= 1
        assert org.calls("PATCH composite") == 0
    else:
        assert org.calls("POST jobs") == 0 and org.calls("PATCH composite") >= 1
    assert report.counts["tasks"] == report.counts["mql"] == len(org.tasks()) > 0
    org.assert_tasks_right(round_robin(org.box))

    tasks, writes = len(org.tasks()), org.calls("PATCH") + org.calls("PUT")
    again = org.run("incremental")
    assert again.status == "ok" and again.counts["writes"] == 0
    assert org.calls("PATCH") + org.calls("PUT") == writes
    assert len(org.tasks()) == tasks


def test_changing_three_leads_rewrites_exactly_those(make_org):
    org = make_org()
    org.run("backfill")
    before = org.leads()
    chosen = plain(before, 0, 40)[:3]
    assert len(chosen) == 3
    org.set_fields({rid: {"Title": "CEO"} for rid in chosen})
    changes: list = []
    report = org.run("incremental", on_change=changes.append)
    assert sorted(c.lead_id for c in changes) == sorted(chosen)
    assert report.counts["writes"] == 3
    after = org.crm_scores()
    expected = org.engine()
    assert {
        rid for rid in after if after[rid] != Decimal(str(before[rid]["Lead_Score__c"]))
    } == set(chosen)
    assert all(
        after[rid] == expected[rid].score > Decimal(str(before[rid]["Lead_Score__c"]))
        for rid in chosen
    )


def test_a_crossing_creates_exactly_one_task_for_the_owner_or_round_robin(make_org):
    org = make_org()
    org.run("backfill")
    before = {t["Id"] for t in org.tasks()}
    rr = round_robin(org.box)
    users = org.users()
    leads = org.leads()
    mql_floor = min(
        float(r["Lead_Score__c"]) for r in leads.values() if r["Lead_Score_Tier__c"] == "mql"
    )
    # close enough under the MQL line that an executive title takes them over it
    candidates = plain(leads, mql_floor - 15, mql_floor)
    owned = [rid for rid in candidates if users.get(leads[rid]["OwnerId"])]
    assert len(owned) >= 2, "the generated data has warm leads without an executive title"
    queue = next(r["Id"] for r in org.box.store.rows("Group"))
    mine, queued = owned[0], owned[1]
    org.set_fields({mine: {"Title": "CEO"}, queued: {"Title": "CEO", "OwnerId": queue}})
    expected = org.engine()
    crossing = {rid for rid in (mine, queued) if expected[rid].is_mql}
    assert crossing == {mine, queued}, "a CEO title takes both leads over the MQL line"

    report = org.run("incremental")
    assert report.counts["tasks"] == 2
    new = {t["WhoId"]: t for t in org.tasks() if t["Id"] not in before}
    assert set(new) == {mine, queued}
    assert new[mine]["OwnerId"] == leads[mine]["OwnerId"]
    assert new[queued]["OwnerId"] in rr

    org.set_fields({mine: {"Title": "CEO & Founder"}, queued: {"Title": "Chief Executive"}})
    org.run("incremental")
    assert len([t for t in org.tasks() if t["Id"] not in before]) == 2


@PATHS
def test_with_faults_the_end_state_is_the_same(make_org, threshold, leads):
    org = make_org(leads=leads, seed=12, salesforce={"bulk_threshold": threshold})
    org.box.faults.update(error_rate=0.15, drop_rate=0.1, partial_failure_rate=0.1, seed=3)
    expired: list[int] = []

    def expire_once(_change) -> None:
        if not expired:
            expired.append(1)
            org.box.expire_sessions()  # mid-run: the connector logs in again

    try:
        first = org.run("backfill", on_change=expire_once)
    except LeadsyncError:
        first = None  # a fault that outlasted the retries: the next run picks it up
    org.box.faults.clear()
    second = org.run("backfill" if first is None else "incremental")
    assert second.status == "ok"
    assert expired
    snap = org.box.counters.snapshot()
    statuses = {s for by in snap.values() for s in by}
    # dropped connections, 5xx, and the expired session all happened
    assert {0, 401} <= statuses and (502 in statuses or 503 in statuses)
    crm = org.crm_scores()
    assert crm == {rid: r.score for rid, r in org.engine().items()}
    org.assert_tasks_right(round_robin(org.box))
    assert org.store.failed_writes(org.account.id) == []


def test_a_missing_score_field_is_one_clear_message(make_org):
    org = make_org(leads=20, sandbox={"score_fields": False})
    with pytest.raises(LeadsyncError) as caught:
        org.run("backfill")
    message = str(caught.value)
    assert "Lead_Score__c" in message and "permission set" in message
    assert "Traceback" not in message
    assert org.store.runs(org.account.id)[0].status == "failed"
    assert org.calls("PATCH") == 0


def test_a_spent_api_allocation_is_one_clear_message(make_org):
    org = make_org(leads=20, sandbox={"daily_limit": 500})
    org.box.reset_usage(500)
    with pytest.raises(LeadsyncError) as caught:
        org.run("backfill")
    message = str(caught.value)
    assert "daily API limit" in message
    assert org.store.runs(org.account.id)[0].status == "failed"
    assert org.calls("PATCH") == 0


def test_a_killed_backfill_resumes_without_losing_or_duplicating(tmp_path, monkeypatch):
    with SalesforceSandbox(leads=2500, seed=21, faults=Faults(latency_ms=5)) as box:
        rr = round_robin(box)
        (tmp_path / "accounts.yaml").write_text(
            "accounts:\n"
            "  - {id: acme, crm: salesforce, "
            f"credentials: {{consumer_key: {box.client_id}, consumer_secret: SF_SECRET, "
            f"instance_url: '{box.instance_url}'}}, "
            f"tasks: {{round_robin: [{', '.join(rr)}]}}}}\n"
        )
        env = {
            **os.environ,
            "SF_SECRET": box.client_secret,
            "LEADSYNC_STATE_PATH": str(tmp_path / "state.db"),
            "LEADSYNC_ACCOUNTS_FILE": str(tmp_path / "accounts.yaml"),
            # connectors opened by name use a default session: requests honours these
            "REQUESTS_CA_BUNDLE": box.ca_path,
            "CURL_CA_BUNDLE": box.ca_path,
        }

        def writes() -> int:
            return sum(
                sum(by.values())
                for ep, by in box.counters.snapshot().items()
                if ep.startswith("PATCH composite")
            )

        assert kill_backfill_then_finish(env, writes, kill_at=3, done_at=13) == 0  # SQLite
        box.faults.clear()

        acct = Account.model_validate(
            {
                "id": "acme",
                "crm": "salesforce",
                "tasks": {"round_robin": rr},
                "credentials": {
                    "consumer_key": box.client_id,
                    "consumer_secret": "SF_SECRET",
                    "instance_url": box.instance_url,
                },
            }
        )
        monkeypatch.setenv("SF_SECRET", box.client_secret)
        org = Org(box, acct, StateStore(f"sqlite:///{tmp_path / 'check.db'}"))
        try:
            assert org.crm_scores() == {rid: r.score for rid, r in org.engine().items()}
            org.assert_tasks_right(rr)
        finally:
            org.store.close()

        runs = subprocess.run(
            [LEADSYNC, "runs", "--account", "acme", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        statuses = runs.stdout.splitlines()
        assert '"status": "ok"' in statuses[0] and '"status": "interrupted"' in statuses[1]
