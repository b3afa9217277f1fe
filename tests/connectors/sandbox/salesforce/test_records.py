"""Describe, records, sObject Collections, SystemModstamp and API limits via simple-salesforce."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox

SCORE = {"Lead_Score__c", "Lead_Score_Tier__c", "Lead_Score_Reasons__c"}


@pytest.fixture(scope="module")
def box() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(leads=120, contacts=20, seed=11) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def sf(box: SalesforceSandbox) -> Salesforce:
    return box.client()


def _lead_ids(sf: Salesforce, n: int) -> list[str]:
    return [r["Id"] for r in sf.query(f"SELECT Id FROM Lead ORDER BY Id LIMIT {n}")["records"]]


def _patch(sf: Salesforce, records: list[dict[str, Any]], all_or_none: bool = False) -> Any:
    body = {"allOrNone": all_or_none, "records": records}
    return sf.restful("composite/sobjects", method="PATCH", json=body)


def test_describe_with_score_fields(sf: Salesforce) -> None:
    lead = sf.Lead.describe()
    assert (lead["name"], lead["keyPrefix"]) == ("Lead", "00Q")
    fields = {f["name"]: f for f in lead["fields"]}
    assert fields.keys() >= SCORE
    assert {f["name"] for f in sf.Contact.describe()["fields"]} >= SCORE
    assert fields["Lead_Score__c"]["type"] == "double" and fields["Lead_Score__c"]["custom"]
    assert fields["OwnerId"]["referenceTo"] == ["Group", "User"]
    assert fields["OwnerId"]["relationshipName"] == "Owner"
    assert len(fields["Id"]) == 57  # the keys of a real v59.0 field describe
    task = {f["name"]: f for f in sf.Task.describe()["fields"]}
    assert task["WhoId"]["referenceTo"] == ["Contact", "Lead"]
    assert "Email" in [v["value"] for v in task["TaskSubtype"]["picklistValues"]]
    everything = sf.describe()
    assert everything["maxBatchSize"] == 200
    assert {"Lead", "Contact", "Task", "Event", "CampaignMember"} <= {
        o["name"] for o in everything["sobjects"]
    }


def test_describe_without_score_fields() -> None:
    with SalesforceSandbox(leads=5, score_fields=False) as bare:
        sf = bare.client()
        assert not SCORE & {f["name"] for f in sf.Lead.describe()["fields"]}
        lead_id = _lead_ids(sf, 1)[0]
        result = _patch(sf, [{"attributes": {"type": "Lead"}, "Id": lead_id, "Lead_Score__c": 1}])
        assert result[0]["errors"][0]["statusCode"] == "INVALID_FIELD"
        with pytest.raises(SalesforceResourceNotFound):
            sf.Opportunity.describe()


def test_single_record_create_get_update_delete(sf: Salesforce) -> None:
    created = sf.Lead.create({"LastName": "Lovelace", "Company": "Analytical", "Email": "a@b.io"})
    assert created["success"] and created["errors"] == [] and created["id"].startswith("00Q")
    record = sf.Lead.get(created["id"])
    assert record["attributes"]["type"] == "Lead" and record["Status"] == "Open - Not Contacted"
    assert record["Name"] == "Lovelace" and record["Lead_Score__c"] is None
    assert sf.Lead.update(created["id"], {"Lead_Score__c": 91, "FirstName": "Ada"}) == 204
    again = sf.Lead.get(created["id"])
    assert (again["Lead_Score__c"], again["Name"]) == (91.0, "Ada Lovelace")
    assert sf.Lead.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound) as err:
        sf.Lead.get(created["id"])
    assert err.value.content == [
        {"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED", "fields": []}
    ]


def test_single_record_errors(sf: Salesforce) -> None:
    lead_id = _lead_ids(sf, 1)[0]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(lead_id, {"FavoritePet__c": "Dog"})
    assert err.value.content == [
        {
            "message": "No such column 'FavoritePet__c' on sobject of type Lead",
            "errorCode": "INVALID_FIELD",
        }
    ]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.create({"FirstName": "No last name"})
    assert err.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert err.value.content[0]["fields"] == ["LastName", "Company"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update(lead_id, {"Email": "not an email"})
    assert err.value.content[0]["message"] == "Email: invalid email address: not an email"
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Lead.update("a00B000000FSjVUIB1", {"Title": "x"})
    assert err.value.content[0]["errorCode"] == "MALFORMED_ID"
    with pytest.raises(SalesforceResourceNotFound):
        sf.Lead.get("00Q5g0000000zzzAAA")


def test_composite_patch_partial_failures_in_request_order(sf: Salesforce) -> None:
    ids = _lead_ids(sf, 3)
    deleted = sf.Lead.create({"LastName": "Tmp", "Company": "Tmp"})["id"]
    sf.Lead.delete(deleted)
    records = [
        {
            "attributes": {"type": "Lead"},
            "Id": ids[0],
            "Lead_Score__c": 87,
            "Lead_Score_Tier__c": "A",
        },
        {"attributes": {"type": "Lead"}, "Id": ids[1], "Bogus__c": 1},
        {"attributes": {"type": "Lead"}, "Id": ids[2], "Lead_Score__c": "abc"},
        {"attributes": {"type": "Lead"}, "Id": deleted, "Lead_Score__c": 3},
        {"attributes": {"type": "Lead"}, "Lead_Score__c": 3},
        {"attributes": {"type": "Lead"}, "Id": ids[2], "Lead_Score_Tier__c": "x" * 41},
    ]
    results = _patch(sf, records)
    assert [r["success"] for r in results] == [True, False, False, False, False, False]
    codes = [r["errors"][0]["statusCode"] for r in results[1:]]
    assert codes == [
        "INVALID_FIELD",
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "ENTITY_IS_DELETED",
        "MISSING_ARGUMENT",
        "STRING_TOO_LONG",
    ]
    assert results[0] == {"id": ids[0], "success": True, "errors": []}
    assert results[2]["errors"][0]["fields"] == ["Lead_Score__c"]
    assert sf.Lead.get(ids[0])["Lead_Score__c"] == 87.0


def test_composite_all_or_none_rolls_back(sf: Salesforce) -> None:
    ids = _lead_ids(sf, 2)
    before = sf.Lead.get(ids[0])["SystemModstamp"]
    results = _patch(
        sf,
        [
            {"attributes": {"type": "Lead"}, "Id": ids[0], "Lead_Score__c": 5},
            {"attributes": {"type": "Lead"}, "Id": ids[1], "Nope__c": 5},
        ],
        all_or_none=True,
    )
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "INVALID_FIELD"
    assert sf.Lead.get(ids[0])["SystemModstamp"] == before


def test_composite_post_creates_and_limit_of_200(sf: Salesforce) -> None:
    body = {
        "allOrNone": False,
        "records": [
            {
                "attributes": {"type": "Task"},
                "Subject": "Call",
                "TaskSubtype": "Call",
                "Status": "Completed",
            },
            {"attributes": {"type": "Lead"}, "LastName": "Only"},
        ],
    }
    results = sf.restful("composite/sobjects", method="POST", json=body)
    assert results[0]["success"] and results[0]["id"].startswith("00T")
    assert results[1]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    task = sf.Task.get(results[0]["id"])
    assert task["IsClosed"] is True and task["TaskSubtype"] == "Call"
    too_many = [{"attributes": {"type": "Lead"}, "Id": _lead_ids(sf, 1)[0]}] * 201
    with pytest.raises(SalesforceMalformedRequest) as err:
        _patch(sf, too_many)
    assert err.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


def test_every_write_moves_system_modstamp(box: SalesforceSandbox, sf: Salesforce) -> None:
    lead_id = _lead_ids(sf, 1)[0]
    first = sf.Lead.get(lead_id)
    _patch(sf, [{"attributes": {"type": "Lead"}, "Id": lead_id, "Lead_Score__c": 12}])
    second = sf.Lead.get(lead_id)
    assert second["SystemModstamp"] > first["SystemModstamp"]
    assert second["LastModifiedDate"] == second["SystemModstamp"]
    cursor = second["SystemModstamp"].replace("+0000", "Z")
    changed = sf.query(f"SELECT Id FROM Lead WHERE SystemModstamp >= {cursor}")["records"]
    assert lead_id in {r["Id"] for r in changed}
    touched = box.touch("Lead", 3)
    newer = sf.query(f"SELECT Id FROM Lead WHERE SystemModstamp > {cursor}")["records"]
    assert set(touched) <= {r["Id"] for r in newer}


def test_limit_header_and_limits_resource(box: SalesforceSandbox, sf: Salesforce) -> None:
    sf.query("SELECT Id FROM Lead LIMIT 1")
    usage = sf.api_usage["api-usage"]
    assert (usage.used, usage.total) == (box.api_usage, 100_000)
    limits = sf.limits()
    assert limits["DailyApiRequests"] == {"Max": 100_000, "Remaining": 100_000 - box.api_usage}
    assert "DailyBulkV2QueryJobs" in limits


def test_request_limit_exceeded_when_allocation_spent() -> None:
    with SalesforceSandbox(leads=5, daily_limit=3) as small:
        sf = small.client()
        for _ in range(3):
            sf.query("SELECT Id FROM Lead")
        with pytest.raises(SalesforceRefusedRequest) as err:
            sf.query("SELECT Id FROM Lead")
        assert err.value.status == 403
        assert err.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
        assert small.counters.snapshot()["GET query"] == {200: 3, 403: 1}
        assert sf.api_usage["api-usage"].used == 3
        small.reset_usage()
        assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 5
