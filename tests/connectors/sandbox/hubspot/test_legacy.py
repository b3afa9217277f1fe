"""The custom object schemas list and the legacy APIs extractors call: properties v1/v2
(the same definitions as v3, in the legacy shape) and retired APIs (404)."""

from __future__ import annotations

import json

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.schemas import ApiException as SchemasApiException
from urllib3.util.retry import Retry

from leadsync.connectors.sandbox.hubspot.server import ALL_SCOPES, HubSpotSandbox


def _get(sb: HubSpotSandbox, path: str, token: str | None = None) -> requests.Response:
    return requests.get(
        f"{sb.url}{path}", headers={"Authorization": f"Bearer {token or sb.token}"}, timeout=30
    )


def test_schemas_list_is_empty_without_custom_objects(hubspot_client: HubSpot) -> None:
    assert hubspot_client.crm.schemas.core_api.get_all().results == []


def test_schemas_need_their_scope() -> None:
    scopes = set(ALL_SCOPES) - {"crm.schemas.custom.read"}
    with HubSpotSandbox(contacts=5, tokens={"t": scopes}) as sb:
        client = HubSpot(access_token="t", host=sb.url, retry=Retry(0))
        with pytest.raises(SchemasApiException) as err:
            client.crm.schemas.core_api.get_all()
        assert err.value.status == 403
        context = json.loads(err.value.body)["errors"][0]["context"]
        assert context == {"requiredGranularScopes": ["crm.schemas.custom.read"]}


@pytest.mark.parametrize(
    ("path", "obj"),
    [("/properties/v1/contacts/properties", "contacts"),
     ("/properties/v2/contacts/properties", "contacts"),
     ("/properties/v1/deals/properties", "deals"),
     ("/properties/v2/companies/properties", "companies"),
     ("/companies/v2/properties", "companies")],
)  # fmt: skip
def test_legacy_properties_are_the_v3_definitions(
    hubspot_sandbox: HubSpotSandbox, hubspot_client: HubSpot, path: str, obj: str
) -> None:
    response = _get(hubspot_sandbox, path)
    assert response.status_code == 200, response.text
    legacy = response.json()
    assert isinstance(legacy, list)
    v3 = {p.name: p for p in hubspot_client.crm.properties.core_api.get_all(obj).results}
    assert {p["name"]: p["type"] for p in legacy} == {n: p.type for n, p in v3.items()}
    assert all(isinstance(p["createdAt"], int) and p["deleted"] is False for p in legacy)


@pytest.mark.parametrize(
    "path", ["/contacts/v1/lists/all/contacts/all", "/contacts/v1/lists", "/owners/v2/owners"]
)
def test_retired_apis_answer_404(hubspot_sandbox: HubSpotSandbox, path: str) -> None:
    response = _get(hubspot_sandbox, path)
    assert response.status_code == 404
    body = response.json()
    assert body["category"] == "OBJECT_NOT_FOUND" and "sunset" in body["message"]
