"""Bulk API 1.0 query jobs: simple-salesforce's ``sf.bulk`` (JSON) and the CSV/XML flow
tap-salesforce uses, over real HTTPS."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceGeneralError

from leadsync.connectors.sandbox.salesforce.bulk1 import NS
from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox

WAIT = 0.01  # simple-salesforce sleeps this long between polls
X = f"{{{NS}}}"


@pytest.fixture(scope="module")
def box() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(leads=60, contacts=20, seed=21) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def sf(box: SalesforceSandbox) -> Salesforce:
    return box.client()


def _async(
    box: SalesforceSandbox, path: str, method: str = "GET", content: str = "application/json",
    session: str | None = None, **kw: Any,
) -> requests.Response:  # fmt: skip
    url = f"{box.instance_url}/services/async/59.0/{path}"
    headers = {"X-SFDC-Session": session or box.session_id, "Content-Type": content}
    return box.session().request(method, url, headers=headers, timeout=10, **kw)


def _xml(response: requests.Response) -> dict[str, str]:
    assert response.headers["Content-Type"].startswith("application/xml"), response.text
    root = ElementTree.fromstring(response.content)
    return {child.tag.removeprefix(X): child.text or "" for child in root}


def _csv_job(box: SalesforceSandbox, soql: str, operation: str = "queryAll") -> tuple[str, str]:
    """tap-salesforce's calls: JSON job, SOQL batch as text/csv, close; (job id, batch id)."""
    body = {"operation": operation, "object": soql.split(" FROM ")[1].split()[0]}
    created = _async(box, "job", "POST", data=json.dumps(body | {"contentType": "CSV"}))
    assert created.status_code == 201 and created.json()["state"] == "Open"
    job = created.json()["id"]
    batch = _async(box, f"job/{job}/batch", "POST", content="text/csv", data=soql)
    assert batch.status_code == 201
    info = _xml(batch)
    assert info["jobId"] == job and info["state"] == "Queued"
    closed = _async(box, f"job/{job}", "POST", data=json.dumps({"state": "Closed"}))
    assert closed.status_code == 200 and closed.json()["state"] == "Closed"
    return job, info["id"]


def test_simple_salesforce_bulk_query_reads_json_records(
    box: SalesforceSandbox, sf: Salesforce
) -> None:
    rows = sf.bulk.Lead.query("SELECT Id, Email, CreatedDate, Owner.Name FROM Lead", wait=WAIT)
    assert len(rows) == 60
    first = rows[0]
    assert first["attributes"]["type"] == "Lead" and first["Id"].startswith("00Q")
    assert isinstance(first["CreatedDate"], int)  # Bulk 1.0 JSON: epoch milliseconds
    assert "Name" in first["Owner"]
    everything = sf.bulk.Contact.query_all("SELECT Id FROM Contact", wait=WAIT)
    assert {r["Id"] for r in everything} == {
        r["Id"] for r in sf.query_all("SELECT Id FROM Contact")["records"]
    }


def test_csv_job_polls_then_serves_a_result_list_and_quoted_csv(box: SalesforceSandbox) -> None:
    soql = "SELECT Id, Email, IsConverted, SystemModstamp FROM Lead ORDER BY SystemModstamp ASC"
    job, batch = _csv_job(box, soql)
    states = [_xml(_async(box, f"job/{job}/batch/{batch}"))["state"] for _ in range(2)]
    assert states == ["InProgress", "Completed"]
    listing = ElementTree.fromstring(_async(box, f"job/{job}/batch").content)
    assert [b.find(f"{X}state").text for b in listing] == ["Completed"]  # type: ignore[union-attr]
    results = ElementTree.fromstring(_async(box, f"job/{job}/batch/{batch}/result").content)
    assert results.tag == f"{X}result-list" and len(results) == 1
    text = _async(box, f"job/{job}/batch/{batch}/result/{results[0].text}").text
    assert text.startswith('"Id","Email","IsConverted","SystemModstamp"\n')
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 60 and {r["IsConverted"] for r in rows} == {"false"}
    assert rows[0]["SystemModstamp"].endswith(".000Z")
    job_info = _async(box, f"job/{job}").json()
    assert job_info["numberBatchesCompleted"] == 1 and job_info["numberRecordsProcessed"] == 60
    batches = box.client().limits()["DailyBulkApiBatches"]
    assert batches["Remaining"] <= batches["Max"] - 1  # each batch counts


def test_an_empty_result_and_a_compound_field_are_answered_as_an_org_does(
    box: SalesforceSandbox,
) -> None:
    job, batch = _csv_job(box, "SELECT Id FROM Lead WHERE Email = 'nobody@nowhere.example'")
    _async(box, f"job/{job}/batch/{batch}")
    assert _xml(_async(box, f"job/{job}/batch/{batch}"))["state"] == "Completed"
    listing = ElementTree.fromstring(_async(box, f"job/{job}/batch/{batch}/result").content)
    result = _async(box, f"job/{job}/batch/{batch}/result/{listing[0].text}")
    assert result.text == "Records not found for this query"

    job, batch = _csv_job(box, "SELECT Id, Address FROM Lead")
    _async(box, f"job/{job}/batch/{batch}")
    failed = _xml(_async(box, f"job/{job}/batch/{batch}"))
    assert failed["state"] == "Failed"
    assert failed["stateMessage"] == (
        "InvalidBatch : Failed to process query: FUNCTIONALITY_NOT_ENABLED: "
        "Selecting compound data not supported in Bulk Query"
    )
    assert _async(box, f"job/{job}/batch/{batch}/result").status_code == 400


def test_a_wrong_query_fails_its_batch_and_simple_salesforce_raises(sf: Salesforce) -> None:
    with pytest.raises(SalesforceGeneralError, match="No such column 'Nope'"):
        sf.bulk.Lead.query("SELECT Id, Nope FROM Lead", wait=WAIT)


def test_xml_job_and_xml_results(box: SalesforceSandbox) -> None:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><jobInfo xmlns="{NS}"><operation>query'
        "</operation><object>Lead</object><contentType>XML</contentType></jobInfo>"
    )
    created = _async(box, "job", "POST", content="application/xml; charset=UTF-8", data=body)
    assert created.status_code == 201
    job = _xml(created)
    assert (job["state"], job["contentType"], job["concurrencyMode"]) == ("Open", "XML", "Parallel")
    soql = "SELECT Id, Title FROM Lead ORDER BY Id LIMIT 3"
    batch = _xml(
        _async(box, f"job/{job['id']}/batch", "POST", content="application/xml", data=soql)
    )
    for _ in range(2):
        _async(box, f"job/{job['id']}/batch/{batch['id']}")
    listing = ElementTree.fromstring(
        _async(box, f"job/{job['id']}/batch/{batch['id']}/result").content
    )
    result = _async(box, f"job/{job['id']}/batch/{batch['id']}/result/{listing[0].text}")
    records = ElementTree.fromstring(result.content)
    assert [r.find(f"{X}type").text for r in records] == ["Lead"] * 3  # type: ignore[union-attr]
    assert all(r.find(f"{X}Id") is not None for r in records)


def test_session_job_and_operation_errors(box: SalesforceSandbox) -> None:
    bad = _async(box, "job", "POST", content="application/xml", session="nope", data="<jobInfo/>")
    assert bad.status_code == 400
    assert _xml(bad) == {
        "exceptionCode": "InvalidSessionId",
        "exceptionMessage": "Invalid session id",
    }
    missing = _async(box, "job/750000000000000AAA")
    assert missing.status_code == 400 and missing.json()["exceptionCode"] == "InvalidJob"
    insert = {"operation": "insert", "object": "Lead", "contentType": "CSV"}
    refused = _async(box, "job", "POST", data=json.dumps(insert))
    assert refused.status_code == 400 and refused.json()["exceptionCode"] == "InvalidJob"
    job, _ = _csv_job(box, "SELECT Id FROM Lead")
    late = _async(box, f"job/{job}/batch", "POST", content="text/csv", data="SELECT Id FROM Lead")
    assert late.status_code == 400 and _xml(late)["exceptionCode"] == "InvalidJobState"
    counts = box.counters.snapshot()
    assert counts["async POST job"][201] >= 1 and counts["async GET job/{id}"][400] == 1
