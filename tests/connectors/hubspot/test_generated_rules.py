"""The shipped templates on generated data read through the HubSpot connector over HTTP.

What the data generator must give the HubSpot connector for the templates to be fair:
downloads named so the connector knows their kind, a trading area, and careers-page
visits from job seekers only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from leadsync.config.templates import resolve_model
from leadsync.scoring.engine import score

if TYPE_CHECKING:
    from tests.connectors.conftest import HubFactory


def test_downloads_trading_area_and_careers_pages_reach_the_templates(
    make_hub: HubFactory,
) -> None:
    hub = make_hub(contacts=600)
    leads = [crm.lead for page in hub.connector.all_leads(None) for crm in page.leads]
    as_of = hub.sandbox.store.dataset.as_of
    fired: dict[str, set[str]] = {}
    tiers: dict[str, set[str]] = {}
    for name in ("b2b-saas", "lifecycle-phases", "weighted-sme"):
        model = resolve_model(name)
        results = [score(lead, model, as_of) for lead in leads]
        fired[name] = {r.rule for result in results for r in result.reasons}
        tiers[name] = {result.tier for result in results}
    assert "case-study" in fired["b2b-saas"]
    assert "white-paper" in fired["lifecycle-phases"]
    assert {"main", "secondary", "outside"} <= {
        lead.properties.get("trading_area") for lead in leads
    }
    assert "location" in fired["weighted-sme"] and "high" in tiers["weighted-sme"]
    store = hub.sandbox.store
    for lead in leads:
        careers = any(
            e.type == "page_view" and "/careers" in str(e.attrs.get("url", "")) for e in lead.events
        )
        if careers:
            assert store.person(lead.id).job_seeker
