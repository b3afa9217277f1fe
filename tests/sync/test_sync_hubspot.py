"""The whole pipeline on the HubSpot sandbox: backfill, incremental, tasks, faults.

The real connector drives hubspot-api-client over HTTP; the state is a real SQLite
file or PostgreSQL schema (each test runs on both); only the pacing is shrunk so 429s
and retries take milliseconds.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal

import pytest
from crm_support import engine_results
from hubspot import HubSpot

from leadsync.config.accounts import Account
from leadsync.config.templates import resolve_model
from leadsync.connectors.hubspot.connector import HubSpotConnector
from leadsync.connectors.ratelimit import RateLimiter
from leadsync.connectors.retry import RetryPolicy
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.errors import CrmAuthError
from leadsync.sync.pipeline import Sync
from leadsync.sync.state import StateStore

FAST = RetryPolicy(base_s=0.01, cap_s=0.05, window_s=0.05, secondly_s=0.01, max_total_s=30)
_numbers = itertools.count()
MODEL = resolve_model("b2b-saas")
PROPS = ["lead_score", "lead_score_tier", "lead_score_model", "lead_score_reasons"]


class Hub:
    """A sandbox, an account on it, a state file, and runs of the pipeline."""

    def __init__(self, sandbox: HubSpotSandbox, account: Account, store: StateStore) -> None:
        self.sandbox, self.account, self.store = sandbox, account, store
        self.client = HubSpot(access_token=sandbox.token, host=sandbox.url)

    def connector(self) -> HubSpotConnector:
        limiter = RateLimiter.for_hubspot(10**6, window_s=0.2, search_per_s=10_000)
        return HubSpotConnector(self.account, limiter=limiter, policy=FAST)

    def run(self, mode: str, **options):
        connector = self.connector()
        try:
            return Sync(self.account, connector, self.store, MODEL).run(mode, **options)
        finally:
            connector.close()

    def crm_scores(self) -> dict[str, dict[str, str | None]]:
        found: dict[str, dict[str, str | None]] = {}
        after = None
        while True:
            page = self.client.crm.contacts.basic_api.get_page(
                limit=100, after=after, properties=PROPS
            )
            found.update({c.id: c.properties for c in page.results})
            if page.paging is None or page.paging.next is None:
                return found
            after = page.paging.next.after

    def engine_scores(self) -> dict[str, Decimal]:
        """What the engine gives every contact, as the connector reads them now."""
        return {rid: r.score for rid, r in engine_results(self.connector(), MODEL).items()}

    def tasks(self) -> list:
        return self.client.crm.objects.tasks.basic_api.get_page(
            limit=100,
            properties=["hs_task_subject", "hs_task_body", "hubspot_owner_id"],
            associations=["contacts"],
        ).results

    def set_titles(self, titles: dict[str, str]) -> None:
        inputs = [{"id": cid, "properties": {"jobtitle": title}} for cid, title in titles.items()]
        self.client.crm.contacts.batch_api.update({"inputs": inputs})

    def batch_updates(self) -> int:
        return sum(self.sandbox.counters.snapshot().get("contacts.batch_update", {}).values())


@pytest.fixture
def hub(state_url, monkeypatch) -> Iterator[Hub]:
    sandbox = HubSpotSandbox(
        contacts=300, seed=11, search_per_second=10_000, ten_second_limit=10**6, window_s=0.2
    ).start()
    env = f"LEADSYNC_TEST_TOKEN_{next(_numbers)}"
    monkeypatch.setenv(env, sandbox.token)
    account = Account.model_validate(
        {"id": "acme", "crm": "hubspot", "credentials": {"token": env}, "host": sandbox.url}
    )
    store = StateStore(state_url)
    yield Hub(sandbox, account, store)
    store.close()
    sandbox.stop()


def test_backfill_writes_the_engine_score_to_every_contact_then_nothing(hub):
    report = hub.run("backfill")
    assert report.status == "ok"
    assert report.counts["leads"] == 300
    crm = hub.crm_scores()
    expected = hub.engine_scores()
    assert {cid: Decimal(p["lead_score"]) for cid, p in crm.items()} == expected
    assert all(
        p["lead_score_model"] == "b2b-saas@1.0" and p["lead_score_tier"] for p in crm.values()
    )
    tasks_after_backfill = len(hub.tasks())
    assert tasks_after_backfill == report.counts["mql"] == report.counts["tasks"]

    updates = hub.batch_updates()
    again = hub.run("incremental")
    assert again.counts["writes"] == 0
    assert hub.batch_updates() == updates
    assert len(hub.tasks()) == tasks_after_backfill


def test_changing_three_contacts_rewrites_exactly_those(hub):
    hub.run("backfill")
    scores = hub.crm_scores()
    plain = [
        cid
        for cid, p in scores.items()
        if Decimal(p["lead_score"]) < 40
        and "executive title" not in (p["lead_score_reasons"] or "")
    ][:3]
    hub.set_titles(dict.fromkeys(plain, "Chief Executive Officer"))
    changes = []
    report = hub.run("incremental", on_change=changes.append)
    assert sorted(c.lead_id for c in changes) == sorted(plain)
    assert report.counts["writes"] == 3
    after = hub.crm_scores()
    for cid in plain:
        assert Decimal(after[cid]["lead_score"]) == Decimal(scores[cid]["lead_score"]) + 20


def test_a_crossing_creates_exactly_one_task_for_the_owner(hub):
    hub.run("backfill")
    before = {t.id for t in hub.tasks()}
    scores = hub.crm_scores()
    candidates = [
        cid
        for cid, p in scores.items()
        if 51 <= Decimal(p["lead_score"]) < 71
        and "executive title" not in (p["lead_score_reasons"] or "")
    ]
    assert candidates, "the generated data has a warm lead without an executive title"
    cid = candidates[0]
    owner = hub.client.crm.contacts.basic_api.get_by_id(
        cid, properties=["hubspot_owner_id"]
    ).properties["hubspot_owner_id"]
    hub.set_titles({cid: "VP Marketing"})
    report = hub.run("incremental")
    assert report.counts["tasks"] == 1
    new = [t for t in hub.tasks() if t.id not in before]
    assert len(new) == 1
    task = new[0]
    assert task.properties["hs_task_subject"].startswith("MQL: ")
    assert [a.id for a in task.associations["contacts"].results] == [cid]
    if owner:
        assert task.properties["hubspot_owner_id"] == owner
    hub.set_titles({cid: "VP Marketing, EMEA"})
    hub.run("incremental")
    assert len([t for t in hub.tasks() if t.id not in before]) == 1


def test_with_faults_the_end_state_is_the_same(hub):
    hub.sandbox.faults.update(error_rate=0.1, burst_429=3, drop_rate=0.05, partial_failure_rate=0.1)
    first = hub.run("backfill")
    hub.sandbox.faults.clear()
    second = hub.run("incremental")  # retries whatever the CRM refused
    assert first.counts["write_failures"] + first.counts["writes"] >= 1
    crm = hub.crm_scores()
    assert {cid: Decimal(p["lead_score"]) for cid, p in crm.items()} == hub.engine_scores()
    mqls = sum(1 for p in crm.values() if p["lead_score_tier"] == "mql")
    assert len(hub.tasks()) == mqls
    assert hub.store.failed_writes("acme") == []
    assert second.status == "ok"


def test_a_bad_token_is_one_clear_message(hub, monkeypatch):
    monkeypatch.setenv(hub.account.credentials["token"], "pat-wrong")
    with pytest.raises(CrmAuthError) as caught:
        hub.run("backfill")
    message = str(caught.value)
    assert ("pat-wrong" not in message and "401" in message) or "invalid" in message.lower()
    assert hub.store.runs("acme")[0].status == "failed"


def test_every_written_score_is_kept_in_the_history(hub):
    hub.run("backfill")
    crm = hub.crm_scores()
    history = hub.store.history
    first = {cid: history.of("acme", cid) for cid in crm}
    assert all(len(entries) == 1 for entries in first.values())
    assert {cid: e[0].score for cid, e in first.items()} == {
        cid: Decimal(p["lead_score"]) for cid, p in crm.items()
    }
    assert all(e[0].tier == crm[cid]["lead_score_tier"] for cid, e in first.items())
    assert all(
        e[0].mql == (e[0].score >= 71) and e[0].model == "b2b-saas@1.0" for e in first.values()
    )
    plain = [
        cid for cid, p in crm.items() if "executive title" not in (p["lead_score_reasons"] or "")
    ][:2]
    hub.set_titles(dict.fromkeys(plain, "Chief Executive Officer"))
    hub.run("incremental")
    for cid in plain:
        before, after = history.of("acme", cid)
        assert after.score == before.score + 20 and after.scored_at > before.scored_at
        assert after.reasons_digest != before.reasons_digest
        assert (
            history.at("acme", cid, after.scored_at - (after.scored_at - before.scored_at) / 2)
            == before
        )
        assert history.at("acme", cid, after.scored_at) == after
        assert history.at("acme", cid, before.scored_at.replace(year=2000)) is None
    untouched = next(cid for cid in crm if cid not in plain)
    assert len(history.of("acme", untouched)) == 1
    hub.store.forget("acme", plain)
    assert all(history.of("acme", cid) == [] for cid in plain)
    assert len(history.of("acme", untouched)) == 1
