"""Object type ids (``0-1``…) and singular names (``contact``) wherever HubSpot takes an
object type: objects, properties and associations paths."""

from __future__ import annotations

import pytest
import requests
from hubspot import HubSpot

from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox


@pytest.mark.parametrize("name", ["0-1", "contact", "CONTACTS"])
def test_contacts_by_type_id_or_singular_name(hubspot_client: HubSpot, name: str) -> None:
    page = hubspot_client.crm.objects.basic_api.get_page(name, limit=3, properties=["email"])
    assert [c.id for c in page.results] == ["1", "2", "3"]
    one = hubspot_client.crm.objects.basic_api.get_by_id(name, "2", properties=["email"])
    assert one.id == "2" and "email" in one.properties


@pytest.mark.parametrize(
    ("alias", "plural"),
    [("0-2", "companies"), ("company", "companies"), ("0-3", "deals"), ("deal", "deals"),
     ("0-48", "calls"), ("call", "calls"), ("0-27", "tasks")],
)  # fmt: skip
def test_other_objects_and_their_properties_by_alias(
    hubspot_client: HubSpot, alias: str, plural: str
) -> None:
    objects = hubspot_client.crm.objects.basic_api
    assert objects.get_page(alias, limit=5).to_dict() == objects.get_page(plural, limit=5).to_dict()
    core = hubspot_client.crm.properties.core_api
    names = {p.name for p in core.get_all(alias).results}
    assert names == {p.name for p in core.get_all(plural).results} and names


def test_associations_by_type_id(hubspot_client: HubSpot) -> None:
    api = hubspot_client.crm.associations.v4.batch_api
    inputs = {"inputs": [{"id": str(i)} for i in range(1, 31)]}
    by_id = api.get_page("0-1", "0-48", inputs).to_dict()["results"]
    assert by_id == api.get_page("contacts", "calls", inputs).to_dict()["results"]
    assert by_id


def test_an_unknown_object_type_is_still_a_404(hubspot_sandbox: HubSpotSandbox) -> None:
    response = requests.get(
        f"{hubspot_sandbox.url}/crm/v3/objects/0-999",
        headers={"Authorization": f"Bearer {hubspot_sandbox.token}"},
        timeout=30,
    )
    assert response.status_code == 404
