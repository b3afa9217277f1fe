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


def test_batch_read_and_create_answer_as_hubspot_documents(hubspot_fresh: HubSpotSandbox) -> None:
    """``POST /crm/v3/properties/{type}/batch/read|create`` through the SDK's BatchApi: one
    call for many; unknown names and taken names are error items of a 207, an invalid
    input fails the whole batch (400), and the dated paths serve the same."""
    from hubspot.crm.properties import BatchInputPropertyCreate, BatchReadInputPropertyName

    client = HubSpot(access_token=hubspot_fresh.token, host=hubspot_fresh.url, retry=Retry(0))
    batch = client.crm.properties.batch_api
    read = batch.read(
        "contacts",
        BatchReadInputPropertyName(archived=False, inputs=[{"name": "email"}, {"name": "nope"}]),
    )
    assert [p.name for p in read.results] == ["email"]
    assert read.num_errors == 1 and read.errors[0].category == "OBJECT_NOT_FOUND"
    spec = {
        "label": "L",
        "type": "number",
        "fieldType": "number",
        "groupName": "contactinformation",
    }
    made = batch.create(
        "contacts",
        BatchInputPropertyCreate(inputs=[{**spec, "name": "ls_a"}, {**spec, "name": "email"}]),
    )
    assert [p.name for p in made.results] == ["ls_a"]
    assert made.errors[0].category == "CONFLICT"
    assert hubspot_fresh.store.props["contacts"]["ls_a"].type == "number"
    with pytest.raises(ApiException) as bad:
        batch.create(
            "contacts",
            BatchInputPropertyCreate(inputs=[{**spec, "name": "ls_b"}, {"name": "ls_c"}]),
        )
    assert bad.value.status == 400 and "ls_b" not in hubspot_fresh.store.props["contacts"]
    counts = hubspot_fresh.counters.snapshot()
    assert counts["properties.batch_read"] == {207: 1}
    assert counts["properties.batch_create"] == {207: 1, 400: 1}
    import requests

    dated = requests.post(
        f"{hubspot_fresh.url}/crm/properties/2026-03/contacts/batch/read",
        json={"inputs": [{"name": "ls_a"}]},
        headers={"Authorization": f"Bearer {hubspot_fresh.token}"},
        timeout=10,
    )
    assert dated.status_code == 200 and dated.json()["results"][0]["name"] == "ls_a"
