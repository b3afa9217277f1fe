"""Reading a sandbox CRM back for the benchmarks' oracles: the scores it holds, through its
own API, and what the engine gives each record as the connector reads it now."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from leadsync.connectors.base import Connector
from leadsync.scoring.engine import ScoreResult, score
from leadsync.scoring.model import ScoringModel
from leadsync.sync.pipeline import scoring_moment

#: Record id → (score, tier, reasons) as the CRM holds them.
Held = dict[str, tuple[Decimal | None, str | None, str | None]]


def engine_results(connector: Connector, model: ScoringModel) -> dict[str, ScoreResult]:
    """The engine's result for every record, as of the moment a run would score it; the
    connector is closed afterwards."""
    try:
        now = datetime.now(UTC)
        return {
            c.lead.id: score(c.lead, model, scoring_moment(c.lead, now))
            for page in connector.all_leads(None)
            for c in page.leads
        }
    finally:
        connector.close()


def hubspot_held(client: Any) -> Held:
    """Every contact's leadsync fields, paged through hubspot-api-client."""
    out: Held = {}
    after = None
    names = ["lead_score", "lead_score_tier", "lead_score_reasons"]
    while True:
        page = client.crm.contacts.basic_api.get_page(limit=100, after=after, properties=names)
        for c in page.results:
            p = c.properties
            value = p.get("lead_score")
            out[c.id] = (None if value in (None, "") else Decimal(value),
                         p.get("lead_score_tier"), p.get("lead_score_reasons"))  # fmt: skip
        if page.paging is None or page.paging.next is None:
            return out
        after = page.paging.next.after


def hubspot_tasks(client: Any) -> Iterator[tuple[str, list[str]]]:
    """Every task's body and the ids of the contacts it is associated with, paged through
    hubspot-api-client."""
    after = None
    while True:
        page = client.crm.objects.tasks.basic_api.get_page(
            limit=100, after=after, properties=["hs_task_body"], associations=["contacts"]
        )
        for task in page.results:
            linked = task.associations["contacts"].results if task.associations else []
            yield task.properties.get("hs_task_body") or "", [a.id for a in linked]
        if page.paging is None or page.paging.next is None:
            return
        after = page.paging.next.after


def salesforce_held(sf: Any) -> Held:
    """Every unconverted Lead's leadsync fields, through simple-salesforce."""
    text = ("SELECT Id, Lead_Score__c, Lead_Score_Tier__c, Lead_Score_Reasons__c FROM Lead"
            " WHERE IsConverted = false")  # fmt: skip
    return {
        r["Id"]: (
            None if r["Lead_Score__c"] is None else Decimal(str(r["Lead_Score__c"])),
            r["Lead_Score_Tier__c"],
            r["Lead_Score_Reasons__c"],
        )
        for r in sf.query_all(text)["records"]
    }
