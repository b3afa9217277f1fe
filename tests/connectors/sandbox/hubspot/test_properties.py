"""Properties and property groups through hubspot-api-client."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.properties import ApiException, PropertyCreate, PropertyGroupCreate
from urllib3.util.retry import Retry

from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox


def test_list_and_get_are_lossless(
    hubspot_client: HubSpot, hubspot_call: Callable[..., Any]
) -> None:
    api = hubspot_client.crm.properties.core_api
    props = hubspot_call(api, "get_all", "CollectionResponsePropertyNoPaging", "contacts")
    names = {p.name for p in props.results}
    assert {
        "email",
        "jobtitle",
        "numemployees",
        "hubspot_owner_id",
        "lastmodifieddate",
        "hs_analytics_num_page_views",
        "recent_conversion_event_name",
    } <= names
    size = hubspot_call(api, "get_by_name", "ModelProperty", "contacts", "numemployees")
    assert size.type == "enumeration" and [o.value for o in size.options][:2] == ["1-5", "5-25"]
    tasks = api.get_all("tasks")
    assert "hs_task_priority" in {p.name for p in tasks.results}
    groups = hubspot_call(
        hubspot_client.crm.properties.groups_api,
        "get_all",
        "CollectionResponsePropertyGroupNoPaging",
        "contacts",
    )
    assert "contactinformation" in {g.name for g in groups.results}
    with pytest.raises(ApiException) as err:
        api.get_by_name("contacts", "leadsync_nope")
    assert err.value.status == 404


def test_create_group_and_properties_then_409_on_duplicates(hubspot_fresh: HubSpotSandbox) -> None:
    client = HubSpot(access_token=hubspot_fresh.token, host=hubspot_fresh.url, retry=Retry(0))
    groups, core = client.crm.properties.groups_api, client.crm.properties.core_api
    group = groups.create(
        "contacts", PropertyGroupCreate(name="leadsync", label="leadsync", display_order=5)
    )
    assert (
        group.name == "leadsync" and groups.get_by_name("contacts", "leadsync").label == "leadsync"
    )
    with pytest.raises(ApiException) as dup_group:
        groups.create("contacts", PropertyGroupCreate(name="leadsync", label="again"))
    assert dup_group.value.status == 409
    score = core.create(
        "contacts",
        PropertyCreate(
            name="leadsync_score",
            label="Lead score",
            type="number",
            field_type="number",
            group_name="leadsync",
            description="Score computed by leadsync",
        ),
    )
    assert score.name == "leadsync_score" and score.type == "number" and not score.hubspot_defined
    tier = core.create(
        "contacts",
        PropertyCreate(
            name="leadsync_tier",
            label="Lead tier",
            type="enumeration",
            field_type="select",
            group_name="leadsync",
            options=[
                {"label": "Cold", "value": "cold", "hidden": False},
                {"label": "MQL", "value": "mql", "hidden": False},
            ],
        ),
    )
    assert [o.value for o in tier.options] == ["cold", "mql"]
    with pytest.raises(ApiException) as dup:
        core.create(
            "contacts",
            PropertyCreate(
                name="leadsync_score",
                label="x",
                type="number",
                field_type="number",
                group_name="leadsync",
            ),
        )
    assert dup.value.status == 409 and json.loads(dup.value.body)["category"] == "CONFLICT"
    with pytest.raises(ApiException) as bad_group:
        core.create(
            "contacts",
            PropertyCreate(
                name="x1", label="x", type="string", field_type="text", group_name="nope"
            ),
        )
    assert bad_group.value.status == 400
    updated = core.update(
        "contacts",
        "leadsync_tier",
        {
            "options": [
                {"label": "Cold", "value": "cold", "hidden": False},
                {"label": "Warm", "value": "warm", "hidden": False},
            ]
        },
    )
    assert [o.value for o in updated.options] == ["cold", "warm"]
    names = {p.name for p in core.get_all("contacts").results}
    assert {"leadsync_score", "leadsync_tier"} <= names
    core.archive("contacts", "leadsync_tier")
    with pytest.raises(ApiException):
        core.get_by_name("contacts", "leadsync_tier")
