"""A sandbox CRM, an account on it and its state, for end-to-end pipeline tests.

``Crm.run`` runs the real pipeline and connector, optionally changing the CRM from a hook
on the connector's write (the exact moment between leadsync's read and its write);
``Crm.assert_fresh`` checks the end state against the engine: every record's score, tier
and reasons are what the engine gives its current data, with one MQL task per MQL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from hubspot import HubSpot
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
from leadsync.scoring.engine import ScoreResult, score
from leadsync.scoring.model import ScoringModel
from leadsync.sync.pipeline import Sync, scoring_moment
from leadsync.sync.state import StateStore

FAST = RetryPolicy(max_attempts=10, base_s=0.01, cap_s=0.05, window_s=0.05, max_total_s=30)
MODEL = resolve_model("b2b-saas")
Hook = Callable[[Sequence[ScoreWrite]], None]


def engine_results(connector: Connector, model: ScoringModel = MODEL) -> dict[str, ScoreResult]:
    """The engine's result for every record the connector reads now, as of the moment a
    run would score it: the sync tests' oracle. The connector is closed afterwards."""
    try:
        now = datetime.now(UTC)
        return {
            c.lead.id: score(c.lead, model, scoring_moment(c.lead, now))
            for page in connector.all_leads(None)
            for c in page.leads
        }
    finally:
        connector.close()


class Crm:
    """One sandbox account and its state: runs of the pipeline, and the CRM read back."""

    def __init__(self, account: Account, store: StateStore) -> None:
        self.account, self.store = account, store

    def connector(self) -> Connector:
        raise NotImplementedError

    def run(
        self,
        mode: str,
        before_write: Hook | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> Any:
        """A pipeline run; ``before_write`` sees each batch of writes just before it is sent;
        ``clock`` is leadsync's (the CRM keeps its own)."""
        connector = self.connector()
        if before_write is not None:
            send = connector.write_scores

            def write_scores(writes: Sequence[ScoreWrite]) -> BatchResult:
                before_write(writes)
                return send(writes)

            connector.write_scores = write_scores  # type: ignore[method-assign]
        try:
            return Sync(self.account, connector, self.store, MODEL, clock).run(mode)  # type: ignore[arg-type]
        finally:
            connector.close()

    def engine(self) -> dict[str, ScoreResult]:
        """The engine's result for every record as the CRM holds it now."""
        return engine_results(self.connector())

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


def low_scored(crm: Crm, count: int) -> list[str]:
    """Records scored under 40 whose title is not an executive's (a CEO title adds 20)."""
    held = crm.crm()
    return sorted(
        rid
        for rid, (value, _, reasons) in held.items()
        if value is not None and value < 40 and "executive title" not in (reasons or "")
    )[:count]
