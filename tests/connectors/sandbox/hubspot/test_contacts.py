"""Contacts through hubspot-api-client: list, get, batch read/update, write validation."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
)
from urllib3.util.retry import Retry

from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox


def _client(sb: HubSpotSandbox) -> HubSpot:
    return HubSpot(access_token=sb.token, host=sb.url, retry=Retry(0))


def _update(ident: str, **props: Any) -> dict[str, Any]:
    return {"id": ident, "properties": props}


def test_list_pages_through_every_contact(
    hubspot_client: HubSpot, hubspot_call: Callable[..., Any]
) -> None:
    api = hubspot_client.crm.contacts.basic_api
    seen: list[str] = []
    after = None
    while True:
        page = hubspot_call(
            api,
            "get_page",
            "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging",
            limit=100,
            after=after,
            properties=["email", "jobtitle"],
        )
        seen += [c.id for c in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert seen == [str(i) for i in range(1, 301)]
    first = api.get_page(limit=1).results[0]
    assert set(first.properties) == {
        "createdate",
        "email",
        "firstname",
        "hs_object_id",
        "lastmodifieddate",
        "lastname",
    }
    with pytest.raises(ApiException) as err:
        api.get_page(limit=101)
    assert err.value.status == 400
    assert api.get_page(archived=True).results == []


def test_get_by_id_and_email_with_associations(
    hubspot_client: HubSpot, hubspot_sandbox: HubSpotSandbox, hubspot_call: Callable[..., Any]
) -> None:
    api = hubspot_client.crm.contacts.basic_api
    contact = hubspot_call(
        api,
        "get_by_id",
        "SimplePublicObjectWithAssociations",
        "7",
        properties=["email", "numemployees", "hs_analytics_num_page_views"],
        associations=["calls", "meetings"],
    )
    person = hubspot_sandbox.store.dataset.people[6]
    assert contact.properties["email"] == person.email
    calls = [a for a in person.activities() if a.kind == "call"]
    got = (
        contact.associations["calls"].results
        if contact.associations and "calls" in contact.associations
        else []
    )
    assert len(got) == len(calls)
    email = next(
        p.email for p in hubspot_sandbox.store.dataset.people if p.email and "@" in p.email
    )
    by_email = api.get_by_id(email.upper(), id_property="email")
    assert by_email.properties["email"] == email
    with pytest.raises(ApiException) as err:
        api.get_by_id("99999")
    assert err.value.status == 404
    assert json.loads(err.value.body)["category"] == "OBJECT_NOT_FOUND"


def test_batch_read_reports_unknown_ids_with_207(
    hubspot_client: HubSpot, hubspot_call: Callable[..., Any]
) -> None:
    api = hubspot_client.crm.contacts.batch_api
    ok = api.read(
        BatchReadInputSimplePublicObjectId(inputs=[{"id": "1"}, {"id": "2"}], properties=["email"])
    )
    assert isinstance(ok, BatchResponseSimplePublicObject) and len(ok.results) == 2
    body = BatchReadInputSimplePublicObjectId(
        inputs=[{"id": "3"}, {"id": "424242"}], properties=["email"]
    )
    partial = hubspot_call(api, "read", "BatchResponseSimplePublicObjectWithErrors", body)
    assert [r.id for r in partial.results] == ["3"]
    assert partial.num_errors == 1 and partial.errors[0].category == "OBJECT_NOT_FOUND"
    assert partial.errors[0].context == {"ids": ["424242"]}
    typed = api.read(body)
    assert isinstance(typed, BatchResponseSimplePublicObjectWithErrors)
    with pytest.raises(ApiException) as err:
        api.read(
            BatchReadInputSimplePublicObjectId(
                inputs=[{"id": str(i)} for i in range(1, 102)], properties=[]
            )
        )
    assert err.value.status == 400


def test_batch_update_writes_and_bumps_lastmodifieddate(hubspot_fresh: HubSpotSandbox) -> None:
    client = _client(hubspot_fresh)
    basic, batch = client.crm.contacts.basic_api, client.crm.contacts.batch_api
    before = basic.get_by_id("5", properties=["lastmodifieddate", "jobtitle"])
    result = batch.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                _update("5", jobtitle="VP Sales", hs_lead_status="CONNECTED"),
                _update("6", jobtitle="CEO"),
            ]
        )
    )
    assert isinstance(result, BatchResponseSimplePublicObject) and len(result.results) == 2
    after = basic.get_by_id("5", properties=["lastmodifieddate", "jobtitle", "hs_lead_status"])
    assert after.properties["jobtitle"] == "VP Sales"
    assert after.properties["hs_lead_status"] == "CONNECTED"
    assert after.properties["lastmodifieddate"] > before.properties["lastmodifieddate"]
    assert after.updated_at > before.updated_at
    again = batch.update(
        BatchInputSimplePublicObjectBatchInput(inputs=[_update("5", jobtitle="CTO")])
    )
    assert again.results[0].properties["lastmodifieddate"] > after.properties["lastmodifieddate"]


def test_batch_update_unknown_id_is_a_207(hubspot_fresh: HubSpotSandbox) -> None:
    batch = _client(hubspot_fresh).crm.contacts.batch_api
    result = batch.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                _update("1", jobtitle="CEO"),
                _update("77777", jobtitle="CEO"),
            ]
        )
    )
    assert isinstance(result, BatchResponseSimplePublicObjectWithErrors)
    assert [r.id for r in result.results] == ["1"]
    assert result.errors[0].context["ids"] == ["77777"]


@pytest.mark.parametrize(
    ("props", "code"),
    [
        ({"leadsync_score": "12"}, "PROPERTY_DOESNT_EXIST"),
        ({"hs_analytics_num_page_views": "3"}, "READ_ONLY_VALUE"),
        ({"lifecyclestage": "hot"}, "INVALID_OPTION"),
        ({"uses_competitor": "maybe"}, "INVALID_BOOLEAN"),
    ],
)
def test_invalid_writes_are_400_validation_errors(
    hubspot_fresh: HubSpotSandbox, props: dict[str, str], code: str
) -> None:
    batch = _client(hubspot_fresh).crm.contacts.batch_api
    with pytest.raises(ApiException) as err:
        batch.update(BatchInputSimplePublicObjectBatchInput(inputs=[_update("1", **props)]))
    body = json.loads(err.value.body)
    assert err.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: ")
    assert json.loads(body["message"].split(": ", 1)[1])[0]["error"] == code


def test_wrong_type_for_a_number_is_a_400(hubspot_fresh: HubSpotSandbox) -> None:
    client = _client(hubspot_fresh)
    client.crm.properties.core_api.create(
        "contacts",
        {
            "name": "leadsync_score",
            "label": "Lead score",
            "type": "number",
            "fieldType": "number",
            "groupName": "contactinformation",
        },
    )
    batch = client.crm.contacts.batch_api
    with pytest.raises(ApiException) as err:
        batch.update(
            BatchInputSimplePublicObjectBatchInput(inputs=[_update("2", leadsync_score="abc")])
        )
    assert err.value.status == 400
    assert "abc was not a valid number" in json.loads(err.value.body)["message"]
    done = batch.update(
        BatchInputSimplePublicObjectBatchInput(inputs=[_update("2", leadsync_score=87)])
    )
    assert done.results[0].properties["leadsync_score"] == "87"
    read = client.crm.contacts.basic_api.get_by_id("2", properties=["leadsync_score"])
    assert read.properties["leadsync_score"] == "87"
    with pytest.raises(ApiException) as dup:
        batch.update(
            BatchInputSimplePublicObjectBatchInput(
                inputs=[_update("2", jobtitle="x"), _update("2", jobtitle="y")]
            )
        )
    assert "Duplicate IDs" in json.loads(dup.value.body)["message"]


def test_a_cleared_property_reads_back_as_empty_string_and_an_unset_one_as_null(
    hubspot_fresh: HubSpotSandbox,
) -> None:
    """HubSpot: a value written as "" is cleared and reads back as ""; null means never set."""
    api = _client(hubspot_fresh).crm.contacts
    page = api.basic_api.get_page(limit=100, properties=["jobtitle", "age"]).results
    titled = next(c.id for c in page if c.properties["jobtitle"])
    assert any(c.properties["age"] is None for c in page), "some contact never had an age"
    body = BatchInputSimplePublicObjectBatchInput(inputs=[_update(titled, jobtitle="", age="")])
    api.batch_api.update(body)
    after = api.basic_api.get_by_id(titled, properties=["jobtitle", "age"])
    assert after.properties == {"jobtitle": "", "age": ""}
