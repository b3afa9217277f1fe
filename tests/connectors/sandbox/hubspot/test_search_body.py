"""The search request body as HubSpot reads it: a top-level ``filters`` list is ANDed with
the filter groups, and a key HubSpot does not know is a 400, never silently ignored.

Sent with ``requests``, as third-party extractors do (Airbyte's HubSpot source sends a
top-level ``filters``); hubspot-api-client's model cannot send either body.
"""

from __future__ import annotations

from typing import Any

import requests

from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox


def _search(sb: HubSpotSandbox, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        f"{sb.url}/crm/v3/objects/contacts/search",
        json=body,
        headers={"Authorization": f"Bearer {sb.token}"},
        timeout=30,
    )


def _ids(response: requests.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {r["id"] for r in response.json()["results"]}


def _gt(name: str, value: str) -> dict[str, str]:
    return {"propertyName": name, "operator": "GT", "value": value}


def test_top_level_filters_are_applied_and_anded(hubspot_sandbox: HubSpotSandbox) -> None:
    store = hubspot_sandbox.store
    views = {
        k: int(store.contact_props(k)["hs_analytics_num_page_views"] or 0)
        for k in range(store.contact_count)
    }
    owner = store.contact_props(0)["hubspot_owner_id"]
    eq_owner = {"propertyName": "hubspot_owner_id", "operator": "EQ", "value": owner}
    expected = {
        str(k + 1)
        for k, n in views.items()
        if n > 3 and store.contact_props(k)["hubspot_owner_id"] == owner
    }
    assert 0 < len(expected) < store.contact_count
    got = _ids(
        _search(
            hubspot_sandbox,
            {"filters": [_gt("hs_analytics_num_page_views", "3"), eq_owner], "limit": 200},
        )
    )
    assert got == expected
    grouped = _search(
        hubspot_sandbox,
        {
            "filters": [eq_owner],
            "filterGroups": [{"filters": [_gt("hs_analytics_num_page_views", "3")]}],
            "limit": 200,
        },
    )
    assert _ids(grouped) == expected


def test_an_unknown_key_is_a_400_validation_error(hubspot_sandbox: HubSpotSandbox) -> None:
    response = _search(hubspot_sandbox, {"filtergroups": [], "limit": 10})
    assert response.status_code == 400
    body = response.json()
    assert body["category"] == "VALIDATION_ERROR" and body["status"] == "error"
    assert 'Unrecognized field "filtergroups"' in body["message"]
