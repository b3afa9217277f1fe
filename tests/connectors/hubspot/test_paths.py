"""Which HubSpot API family the connector speaks: 2026-03 by default, legacy on request.

The sandbox of ``make_hub`` serves only the family the account asks for and answers 404
on the other one's paths, so a connector run that succeeds proves which paths it used.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from leadsync.connectors.base import ScoreWrite, TaskRequest
from leadsync.connectors.hubspot.paths import ApiPaths
from leadsync.errors import CrmError

if TYPE_CHECKING:
    from tests.connectors.conftest import Hub, HubFactory


def _every_call(hub: Hub) -> None:
    """Each endpoint the connector calls once: list, search, engagement, events,
    owners, properties, batch update, task create."""
    connector = hub.connector
    pages = list(connector.all_leads(None))
    assert sum(len(p.leads) for p in pages) == 30
    list(connector.changed_leads(None, lambda ids: {}))
    connector.ensure_score_fields(["cold", "warm", "mql"])
    at = datetime(2026, 11, 1, tzinfo=UTC)
    written = connector.write_scores(
        [ScoreWrite("3", "contact", Decimal(42), "warm", "r", "m", at)]
    )
    assert list(written.done) == ["3"] and not written.failed
    task = TaskRequest("leadsync:acme:3:1", "3", "contact", None, "MQL", "body", at)
    assert list(connector.create_tasks([task]).done) == ["leadsync:acme:3:1"]
    assert connector.owners()


def test_the_connector_speaks_the_dated_api_by_default(make_hub: HubFactory) -> None:
    hub = make_hub(contacts=30, profile="enterprise")  # the sandbox serves 2026-03 only
    assert hub.account.api_version == "2026-03"
    _every_call(hub)
    assert hub.calls("unknown") == 0
    assert hub.calls("events.list") >= 1
    assert hub.calls("contacts.batch_update") == 1


def test_the_legacy_api_stays_selectable(make_hub: HubFactory) -> None:
    hub = make_hub(contacts=30, profile="enterprise", api_version="legacy")  # legacy only
    _every_call(hub)
    assert hub.calls("unknown") == 0


def test_a_sandbox_serving_legacy_only_refuses_the_dated_connector(make_hub: HubFactory) -> None:
    hub = make_hub(contacts=5, api="legacy")
    with pytest.raises(CrmError, match="serves the legacy API only"):
        list(hub.connector.all_leads(None))


def test_dated_paths_follow_the_2026_03_reference() -> None:
    dated, legacy = ApiPaths("2026-03"), ApiPaths("legacy")
    assert dated.objects("contacts", "batch", "update") == (
        "/crm/objects/2026-03/contacts/batch/update"
    )
    assert legacy.objects("contacts", "batch", "update") == "/crm/v3/objects/contacts/batch/update"
    assert dated.associations("contacts", "emails") == (
        "/crm/associations/2026-03/contacts/emails/batch/read"
    )
    assert legacy.associations("contacts", "emails") == (
        "/crm/v4/associations/contacts/emails/batch/read"
    )
    assert dated.groups("contacts", "lead_scoring") == (
        "/crm/properties/2026-03/contacts/groups/lead_scoring"
    )
    assert dated.events() == "/events/event-occurrences/2026-03"
    assert dated.owners() == "/crm/owners/2026-03"
    assert ApiPaths("2026-09").oauth_token() == "/oauth/2026-03/token"
    assert legacy.oauth_token() == "/oauth/2026-03/token"  # v1 goes before legacy REST
