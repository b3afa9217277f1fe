"""Incremental runs never leave a score stale, whatever changes while leadsync runs.

Each scenario changes the sandbox CRM at an exact moment of a run (through the CRM's own
API, from a hook on the real connector's write), then checks the end state against the
engine: every record's score in the CRM equals what the engine gives its current data,
with one MQL task per MQL. Both CRMs, both state databases.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hubspot import HubSpot
from sf_support import account as sf_account
from sf_support import no_sleep

from leadsync.config.accounts import Account
from leadsync.config.templates import resolve_model
from leadsync.connectors.base import BatchResult, Connector, ScoreWrite
from leadsync.connectors.hubspot.connector import HubSpotConnector
from leadsync.connectors.ratelimit import RateLimiter
from leadsync.connectors.retry import RetryPolicy
from leadsync.connectors.salesforce.connector import SalesforceConnector
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox
from leadsync.scoring.engine import score
from leadsync.sync.pipeline import Sync
from leadsync.sync.state import StateStore

FAST = RetryPolicy(max_attempts=10, base_s=0.01, cap_s=0.05, window_s=0.05, max_total_s=30)
MODEL = resolve_model("b2b-saas")
_numbers = itertools.count()
Hook = Callable[[Sequence[ScoreWrite]], None]


class Crm:
    """One sandbox account and its state: runs of the pipeline, and the CRM read back."""

    def __init__(self, account: Account, store: StateStore) -> None:
        self.account, self.store = account, store

    def connector(self) -> Connector:
        raise NotImplementedError

    def run(self, mode: str, before_write: Hook | None = None) -> Any:
        """A pipeline run; ``before_write`` sees each batch of writes just before it is sent."""
        connector = self.connector()
        if before_write is not None:
            send = connector.write_scores

            def write_scores(writes: Sequence[ScoreWrite]) -> BatchResult:
                before_write(writes)
                return send(writes)

            connector.write_scores = write_scores  # type: ignore[method-assign]
        try:
            return Sync(self.account, connector, self.store, MODEL).run(mode)  # type: ignore[arg-type]
        finally:
            connector.close()

    def engine(self) -> dict[str, Any]:
        """The engine's result for every record as the CRM holds it now."""
        connector = self.connector()
        try:
            now = datetime.now(UTC)
            return {
                c.lead.id: score(c.lead, MODEL, now)
                for page in connector.all_leads(None)
                for c in page.leads
            }
        finally:
            connector.close()

    def crm(self) -> dict[str, tuple[Decimal | None, str | None, str | None]]:
        """Record id → (score, tier, reasons) as the CRM holds them."""
        raise NotImplementedError

    def task_leads(self) -> Counter[str]:
        raise NotImplementedError

    def assert_fresh(self) -> None:
        """Every score, tier and reasons text is the engine's; one task per MQL."""
        expected, held = self.engine(), self.crm()
        stale = {
            rid: (held[rid][0], r.score)
            for rid, r in expected.items()
            if held[rid][:2] != (r.score, r.tier) or r.explanation() not in (held[rid][2] or "")
        }
        assert stale == {}
        tasks = self.task_leads()
        assert max(tasks.values(), default=1) == 1
        mqls = {rid for rid, r in expected.items() if r.is_mql}
        assert mqls <= set(tasks)


class Hub(Crm):
    def __init__(self, sandbox: HubSpotSandbox, account: Account, store: StateStore) -> None:
        super().__init__(account, store)
        self.sandbox = sandbox
        self.client = HubSpot(access_token=sandbox.token, host=sandbox.url)

    def connector(self) -> HubSpotConnector:
        limiter = RateLimiter.for_hubspot(10**6, window_s=0.2, search_per_s=10_000)
        return HubSpotConnector(self.account, limiter=limiter, policy=FAST)

    def update(self, ids: Sequence[str], values: dict[str, str]) -> None:
        inputs = [{"id": cid, "properties": values} for cid in ids]
        self.client.crm.contacts.batch_api.update({"inputs": inputs})

    def crm(self) -> dict[str, tuple[Decimal | None, str | None, str | None]]:
        names = ["lead_score", "lead_score_tier", "lead_score_reasons"]
        found: dict[str, tuple[Decimal | None, str | None, str | None]] = {}
        after = None
        while True:
            page = self.client.crm.contacts.basic_api.get_page(
                limit=100, after=after, properties=names
            )
            for c in page.results:
                p = c.properties
                value = p.get("lead_score")
                found[c.id] = (
                    None if value in (None, "") else Decimal(value),
                    p.get("lead_score_tier"),
                    p.get("lead_score_reasons"),
                )
            if page.paging is None or page.paging.next is None:
                return found
            after = page.paging.next.after

    def task_leads(self) -> Counter[str]:
        tasks = self.client.crm.objects.tasks.basic_api.get_page(
            limit=100, associations=["contacts"]
        )
        return Counter(a.id for t in tasks.results for a in t.associations["contacts"].results)


class Org(Crm):
    def __init__(self, box: SalesforceSandbox, account: Account, store: StateStore) -> None:
        super().__init__(account, store)
        self.box = box

    def connector(self) -> SalesforceConnector:
        return SalesforceConnector(
            self.account, session=self.box.session(), policy=FAST, sleep=no_sleep,
            poll_delays=(0.0,),
        )  # fmt: skip

    def client(self) -> Any:
        return self.box.client(self.box.sessions.new_access_token())

    def update(self, ids: Sequence[str], values: dict[str, Any]) -> None:
        client = self.client()
        for rid in ids:
            client.Lead.update(rid, values)

    def crm(self) -> dict[str, tuple[Decimal | None, str | None, str | None]]:
        text = (
            "SELECT Id, Lead_Score__c, Lead_Score_Tier__c, Lead_Score_Reasons__c FROM Lead"
            " WHERE IsConverted = false"
        )
        return {
            r["Id"]: (
                None if r["Lead_Score__c"] is None else Decimal(str(r["Lead_Score__c"])),
                r["Lead_Score_Tier__c"],
                r["Lead_Score_Reasons__c"],
            )
            for r in self.client().query_all(text)["records"]
        }

    def task_leads(self) -> Counter[str]:
        rows = self.client().query_all("SELECT WhoId, Description FROM Task")["records"]
        return Counter(r["WhoId"] for r in rows if "[leadsync:" in str(r.get("Description")))


@pytest.fixture
def hub(state_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    sandbox = HubSpotSandbox(
        contacts=200, seed=11, search_per_second=10_000, ten_second_limit=10**6
    ).start()
    env = f"LEADSYNC_TEST_INCREMENTAL_TOKEN_{next(_numbers)}"
    monkeypatch.setenv(env, sandbox.token)
    account = Account.model_validate(
        {"id": "acme", "crm": "hubspot", "credentials": {"token": env}, "host": sandbox.url}
    )
    store = StateStore(state_url)
    yield Hub(sandbox, account, store)
    store.close()
    sandbox.stop()


@pytest.fixture
def org(state_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Org]:
    box = SalesforceSandbox(leads=200, seed=11).start()
    users = [r for r in box.store.rows("User") if r.get("IsActive")]
    robin = [str(r["Id"]) for r in users if "integration" not in str(r["Username"])][:2]
    acct = sf_account(box, monkeypatch, mode="client_credentials", tasks={"round_robin": robin})
    store = StateStore(state_url)
    yield Org(box, acct, store)
    store.close()
    box.stop()


def low_scored(crm: Crm, count: int) -> list[str]:
    """Records scored under 40 whose title is not an executive's (a CEO title adds 20)."""
    held = crm.crm()
    return sorted(
        rid
        for rid, (value, _, reasons) in held.items()
        if value is not None and value < 40 and "executive title" not in (reasons or "")
    )[:count]


# --- 1: a change between leadsync's read and its write --------------------------------------


def test_hubspot_a_change_landing_during_a_page_is_scored_at_the_next_run(hub: Hub) -> None:
    hub.run("backfill")
    first, racing = low_scored(hub, 3), low_scored(hub, 13)[3:]
    hub.update(first, {"jobtitle": "VP Sales"})

    def edit_during_the_page(writes: Sequence[ScoreWrite]) -> None:
        hub.update(racing, {"jobtitle": "Chief Executive Officer"})

    hub.update(racing, {"industry": "Retail"})  # read by this run, then edited
    hub.run("incremental", before_write=edit_during_the_page)
    hub.run("incremental")
    hub.assert_fresh()


def test_salesforce_a_change_landing_during_a_page_is_scored_at_the_next_run(org: Org) -> None:
    org.run("backfill")
    racing = low_scored(org, 10)
    org.update(racing, {"Industry": "Retail"})  # read by this run, then edited

    def edit_during_the_page(writes: Sequence[ScoreWrite]) -> None:
        org.update(racing, {"Title": "Chief Executive Officer"})

    org.run("incremental", before_write=edit_during_the_page)
    org.run("incremental")
    org.assert_fresh()


def test_salesforce_a_change_during_the_backfill_is_scored_at_the_first_incremental(
    org: Org,
) -> None:
    racing = sorted(r["Id"] for r in org.box.store.rows("Lead"))[:10]
    edited = False

    def edit_during_the_page(writes: Sequence[ScoreWrite]) -> None:
        nonlocal edited
        if not edited:
            edited = True
            org.update(racing, {"Title": "Chief Executive Officer"})

    org.run("backfill", before_write=edit_during_the_page)
    assert edited
    org.run("incremental")
    org.assert_fresh()


# --- 2: a refused write is retried from current data ----------------------------------------


def test_hubspot_a_refused_write_is_rescored_from_current_data(hub: Hub) -> None:
    hub.sandbox.faults.update(partial_failure_rate=0.3)
    hub.run("backfill")
    hub.sandbox.faults.clear()
    refused = [f.lead_id for f in hub.store.failed_writes("acme")]
    assert refused
    hub.update(refused, {"jobtitle": "Chief Executive Officer"})
    hub.run("incremental")
    hub.run("incremental")
    assert hub.store.failed_writes("acme") == []
    hub.assert_fresh()


# --- 3: new engagement that does not touch the person's record ------------------------------


def test_salesforce_new_campaign_responses_and_meetings_are_scored_by_the_incremental(
    org: Org,
) -> None:
    org.run("backfill")
    targets = low_scored(org, 4)
    client = org.client()
    campaign = client.Campaign.create(
        {"Name": "Book a demo", "Type": "Web", "Description": "demo_request", "IsActive": True}
    )["id"]
    for rid in targets[:2]:
        client.CampaignMember.create({"CampaignId": campaign, "LeadId": rid, "Status": "Responded"})
    for rid in targets[2:]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        client.Event.create({"WhoId": rid, "Subject": "Intro", "StartDateTime": now,
                             "DurationInMinutes": 30})  # fmt: skip
    before = org.crm()
    report = org.run("incremental")
    assert report.counts["leads"] >= 2
    after = org.crm()
    assert all(after[rid][0] == before[rid][0] + 50 for rid in targets[:2])  # type: ignore[operator]
    org.assert_fresh()


# --- 4: a human edit of a field leadsync owns is put back -----------------------------------


@pytest.mark.parametrize("mode", ["incremental", "backfill"])
def test_hubspot_an_edit_of_the_reasons_or_tier_alone_is_repaired(hub: Hub, mode: str) -> None:
    hub.run("backfill")
    edited = low_scored(hub, 4)
    hub.update([edited[0]], {"lead_score_reasons": "typed by a rep"})
    hub.update([edited[1]], {"lead_score_tier": "mql"})
    hub.update([edited[2]], {"lead_score_model": "someone-else@2"})
    hub.run(mode)
    hub.assert_fresh()
    held = hub.client.crm.contacts.basic_api.get_by_id(
        edited[2], properties=["lead_score_model"]
    ).properties
    assert held["lead_score_model"] == "b2b-saas@1.0"


@pytest.mark.parametrize("mode", ["incremental", "backfill"])
def test_salesforce_an_edit_of_the_reasons_or_tier_alone_is_repaired(org: Org, mode: str) -> None:
    org.run("backfill")
    edited = low_scored(org, 2)
    org.update([edited[0]], {"Lead_Score_Reasons__c": "typed by a rep"})
    org.update([edited[1]], {"Lead_Score_Tier__c": "mql"})
    org.run(mode)
    org.assert_fresh()
