"""Bulk API 2.0 query and ingest jobs through simple-salesforce's ``bulk2`` client."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceOperationError

from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox

WAIT = 0.01  # simple-salesforce sleeps this long between polls


@pytest.fixture(scope="module")
def box() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(leads=150, contacts=10, seed=13) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def sf(box: SalesforceSandbox) -> Salesforce:
    return box.client()


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _jobs(box: SalesforceSandbox, path: str, method: str = "GET", **kw: Any) -> requests.Response:
    url = f"{box.instance_url}/services/data/v59.0/jobs/{path}"
    headers = {"Authorization": f"Bearer {box.session_id}", "Content-Type": "application/json"}
    return box.session().request(method, url, headers=headers, timeout=10, **kw)


def test_query_job_pages_with_locator(box: SalesforceSandbox, sf: Salesforce) -> None:
    pages = list(
        sf.bulk2.Lead.query(
            "SELECT Id, Email, Owner.Name, CreatedDate FROM Lead ORDER BY Id",
            max_records=40,
            wait=WAIT,
        )
    )
    assert len(pages) == 4  # 40 + 40 + 40 + 30
    rows = [row for page in pages for row in _rows(page)]
    assert len(rows) == 150 and list(rows[0]) == ["Id", "Email", "Owner.Name", "CreatedDate"]
    assert rows[0]["CreatedDate"].endswith(".000Z")
    assert [r["Id"] for r in rows] == sorted(r["Id"] for r in rows)
    counts = box.counters.snapshot()
    assert counts["GET jobs/query/{id}/results"] == {200: 4}


def test_query_job_lifecycle_and_headers(box: SalesforceSandbox) -> None:
    body = {"operation": "query", "query": "SELECT Id, Name FROM Lead LIMIT 10"}
    created = _jobs(box, "query", "POST", json=body).json()
    assert created["state"] == "UploadComplete" and created["object"] == "Lead"
    early = _jobs(box, f"query/{created['id']}/results")
    assert early.status_code == 412 and early.json()[0]["errorCode"] == "JOB_NOT_COMPLETE"
    states = [_jobs(box, f"query/{created['id']}").json()["state"] for _ in range(3)]
    assert states == ["InProgress", "JobComplete", "JobComplete"]
    info = _jobs(box, f"query/{created['id']}").json()
    assert (info["jobType"], info["numberRecordsProcessed"]) == ("V2Query", 10)
    page = _jobs(box, f"query/{created['id']}/results", params={"maxRecords": 4})
    assert page.headers["Sforce-NumberOfRecords"] == "4" and page.headers["Sforce-Locator"] == "NA"
    assert page.headers["Content-Type"].startswith("text/csv")
    last = _jobs(box, f"query/{created['id']}/results", params={"locator": "OA"})
    assert last.headers["Sforce-Locator"] == "null" and len(_rows(last.text)) == 2
    assert _jobs(box, f"query/{created['id']}", "DELETE").status_code == 204
    missing = _jobs(box, f"query/{created['id']}")
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
    bad = _jobs(box, "query", "POST", json={"operation": "query", "query": "SELECT Nope FROM Lead"})
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALID_FIELD"


def test_query_all_job_includes_deleted(sf: Salesforce) -> None:
    gone = sf.Lead.create({"LastName": "Bulk", "Company": "Gone"})["id"]
    sf.Lead.delete(gone)
    soql = f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{gone}'"
    assert _rows("".join(sf.bulk2.Lead.query(soql, wait=WAIT))) == []
    rows = _rows("".join(sf.bulk2.Lead.query_all(soql, wait=WAIT)))
    assert rows == [{"Id": gone, "IsDeleted": "true"}]


def test_ingest_update_with_failed_and_successful_records(sf: Salesforce) -> None:
    ids = [r["Id"] for r in sf.query("SELECT Id FROM Lead ORDER BY Id LIMIT 3")["records"]]
    records = [
        {"Id": ids[0], "Lead_Score__c": "77", "Lead_Score_Tier__c": "A"},
        {"Id": ids[1], "Lead_Score__c": "not a number", "Lead_Score_Tier__c": "B"},
        {"Id": "00Q5g0000000zzzAAA", "Lead_Score__c": "5", "Lead_Score_Tier__c": "C"},
        {"Id": ids[2], "Lead_Score__c": "12", "Lead_Score_Tier__c": ""},
    ]
    [result] = sf.bulk2.Lead.update(records=records, wait=WAIT)
    assert (result["numberRecordsProcessed"], result["numberRecordsFailed"]) == (4, 2)
    failed = _rows(sf.bulk2.Lead.get_failed_records(result["job_id"]))
    assert [r["sf__Id"] for r in failed] == [ids[1], "00Q5g0000000zzzAAA"]
    assert failed[0]["sf__Error"] == (
        "INVALID_TYPE_ON_FIELD_IN_RECORD:Lead Score: value not of required type: not a number:"
        "Lead_Score__c --"
    )
    assert failed[0]["Lead_Score__c"] == "not a number"
    ok = _rows(sf.bulk2.Lead.get_successful_records(result["job_id"]))
    assert [(r["sf__Id"], r["sf__Created"]) for r in ok] == [(ids[0], "false"), (ids[2], "false")]
    assert sf.Lead.get(ids[0])["Lead_Score__c"] == 77.0
    assert sf.Lead.get(ids[2])["Lead_Score_Tier__c"] is None  # empty cell: left alone


def test_ingest_insert_and_unknown_column_fails_the_job(
    box: SalesforceSandbox, sf: Salesforce
) -> None:
    [result] = sf.bulk2.Contact.insert(
        records=[
            {"LastName": "Bulk One", "Email": "one@example.com"},
            {"Email": "no-name@example.com"},
        ],
        wait=WAIT,
    )
    ok = _rows(sf.bulk2.Contact.get_successful_records(result["job_id"]))
    assert ok[0]["sf__Created"] == "true" and ok[0]["sf__Id"].startswith("003")
    failed = _rows(sf.bulk2.Contact.get_failed_records(result["job_id"]))
    assert failed[0]["sf__Error"].startswith(
        "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]"
    )
    with pytest.raises(SalesforceOperationError, match="Field name not found : Employees"):
        sf.bulk2.Lead.update(records=[{"Id": "00Q5g0000000zzzAAA", "Employees": "3"}], wait=WAIT)
    failed_job = next(j for j in box.bulk.jobs.values() if j.error)
    unprocessed = _jobs(box, f"ingest/{failed_job.id}/unprocessedrecords")
    assert _rows(unprocessed.text) == [{"Id": "00Q5g0000000zzzAAA", "Employees": "3"}]


def test_ingest_job_raw_lifecycle_and_abort(box: SalesforceSandbox) -> None:
    created = _jobs(box, "ingest", "POST", json={"object": "Lead", "operation": "update"}).json()
    assert created["state"] == "Open"
    assert created["contentUrl"] == f"services/data/v59.0/jobs/ingest/{created['id']}/batches"
    upload = box.session().put(
        f"{box.instance_url}/{created['contentUrl']}",
        data=b"Id,Lead_Score__c\n00Q5g0000000zzzAAA,4\n",
        headers={"Authorization": f"Bearer {box.session_id}", "Content-Type": "text/csv"},
    )
    assert (upload.status_code, upload.content) == (201, b"")
    aborted = _jobs(box, f"ingest/{created['id']}", "PATCH", json={"state": "Aborted"}).json()
    assert aborted["state"] == "Aborted"
    again = _jobs(box, f"ingest/{created['id']}", "PATCH", json={"state": "Aborted"})
    assert again.status_code == 400 and again.json()[0]["errorCode"] == "INVALIDJOBSTATE"
    rows = _rows(_jobs(box, f"ingest/{created['id']}/unprocessedrecords").text)
    assert rows == [{"Id": "00Q5g0000000zzzAAA", "Lead_Score__c": "4"}]
    assert _jobs(box, "ingest/7505g0000000zzzAAA").status_code == 404


def test_a_query_job_selecting_a_compound_address_is_refused(box: SalesforceSandbox) -> None:
    refused = _jobs(
        box, "query", "POST", json={"operation": "query", "query": "SELECT Id, Address FROM Lead"}
    )
    assert refused.status_code == 400
    assert refused.json()[0]["message"] == "Selecting compound data not supported in Bulk Query"
    fine = _jobs(
        box, "query", "POST", json={"operation": "query", "query": "SELECT Id, City FROM Lead"}
    )
    assert fine.status_code == 200
