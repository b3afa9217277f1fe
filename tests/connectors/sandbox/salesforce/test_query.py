"""SOQL over HTTPS through simple-salesforce: paging, queryAll, relationships, operators, errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox


@pytest.fixture(scope="module")
def box() -> Iterator[SalesforceSandbox]:
    """2,100 leads (more than one 2,000-row page) and 40 contacts, read-mostly."""
    with SalesforceSandbox(leads=2100, contacts=40, seed=7) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def sf(box: SalesforceSandbox) -> Salesforce:
    return box.client()


@pytest.fixture(scope="module")
def leads(sf: Salesforce) -> list[dict[str, Any]]:
    """Every lead, fetched once, to check each filter against plain Python."""
    soql = "SELECT Id, Email, Country, NumberOfEmployees, Status, CreatedDate, Title FROM Lead"
    return list(sf.query_all_iter(soql))


def _ids(sf: Salesforce, soql: str) -> set[str]:
    return {r["Id"] for r in sf.query_all_iter(soql)}


def test_first_page_is_2000_rows_and_query_more_finishes(sf: Salesforce) -> None:
    first = sf.query("SELECT Id FROM Lead")
    assert (first["totalSize"], first["done"], len(first["records"])) == (2100, False, 2000)
    url = first["nextRecordsUrl"]
    assert url.startswith("/services/data/v59.0/query/01g") and url.endswith("-2000")
    last = sf.query_more(url, identifier_is_url=True)
    assert (last["totalSize"], last["done"], len(last["records"])) == (2100, True, 100)
    assert "nextRecordsUrl" not in last
    assert first["records"][0]["attributes"]["url"].startswith(
        "/services/data/v59.0/sobjects/Lead/"
    )


def test_batch_size_header_is_honoured_and_clamped(box: SalesforceSandbox, sf: Salesforce) -> None:
    before = box.counters.total("GET query/{id}")
    options = {"Sforce-Query-Options": "batchSize=500"}
    ids = [r["Id"] for r in sf.query_all_iter("SELECT Id FROM Lead", headers=options)]
    assert len(ids) == len(set(ids)) == 2100
    assert box.counters.total("GET query/{id}") - before == 4  # 500 x 4 + 100
    small = sf.query("SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=10"})
    assert len(small["records"]) == 200  # Salesforce's minimum


def test_query_all_includes_deleted_rows(sf: Salesforce) -> None:
    created = sf.Lead.create({"LastName": "Gone", "Company": "Acme"})
    sf.Lead.delete(created["id"])
    soql = f"SELECT Id, IsDeleted FROM Lead WHERE Id = '{created['id']}'"
    assert sf.query(soql)["totalSize"] == 0
    rows = sf.query(soql, include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in rows] == [(created["id"], True)]


def test_relationship_fields_nest_parents(sf: Salesforce) -> None:
    soql = (
        "SELECT Id, Status, HasResponded, FirstRespondedDate, Campaign.Type, Campaign.Name, "
        "Lead.Email FROM CampaignMember WHERE Campaign.Type = 'Webinar' AND Status = 'Attended' "
        "LIMIT 5"
    )
    rows = sf.query(soql)["records"]
    assert rows and all(r["Campaign"]["Type"] == "Webinar" and r["HasResponded"] for r in rows)
    assert rows[0]["Campaign"]["attributes"]["type"] == "Campaign"
    assert date.fromisoformat(rows[0]["FirstRespondedDate"]) <= date(2026, 11, 1)
    contact = sf.query("SELECT Id, Account.Industry, Account.NumberOfEmployees FROM Contact")
    assert contact["totalSize"] == 40 and "Industry" in contact["records"][0]["Account"]


def test_polymorphic_owner_queue_and_inactive_users(sf: Salesforce) -> None:
    rows = sf.query("SELECT Id, OwnerId, Owner.IsActive FROM Lead WHERE Owner.IsActive = true")
    owner = rows["records"][0]["Owner"]
    assert owner["attributes"]["type"] == "Name"  # Salesforce's polymorphic Owner
    assert owner["attributes"]["url"].split("/")[-2] == "User"
    queued = sf.query("SELECT COUNT() FROM Lead WHERE Owner.Type = 'Queue'")["totalSize"]
    by_prefix = sum(
        1 for r in sf.query_all_iter("SELECT OwnerId FROM Lead") if r["OwnerId"][:3] == "00G"
    )
    assert queued == by_prefix > 0
    assert sf.query("SELECT Id FROM User WHERE IsActive = false")["totalSize"] >= 1


CASES: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
    ("NumberOfEmployees = 50", lambda r: r["NumberOfEmployees"] == 50),
    ("NumberOfEmployees != 50", lambda r: r["NumberOfEmployees"] != 50),
    ("NumberOfEmployees <> null", lambda r: r["NumberOfEmployees"] is not None),
    ("NumberOfEmployees > 200", lambda r: (r["NumberOfEmployees"] or -1) > 200),
    ("NumberOfEmployees >= 200", lambda r: (r["NumberOfEmployees"] or -1) >= 200),
    ("NumberOfEmployees < 50", lambda r: (r["NumberOfEmployees"] or 10**9) < 50),
    ("NumberOfEmployees <= 50", lambda r: (r["NumberOfEmployees"] or 10**9) <= 50),
    ("Country IN ('FR', 'DE')", lambda r: r["Country"] in ("FR", "DE")),
    ("Country NOT IN ('FR', 'DE')", lambda r: r["Country"] not in ("FR", "DE")),
    ("Email LIKE '%@gmail.com'", lambda r: (r["Email"] or "").lower().endswith("@gmail.com")),
    ("Title LIKE 'VP_%'", lambda r: (r["Title"] or "").lower()[:2] == "vp" and len(r["Title"]) > 3),
    ("Email = null", lambda r: r["Email"] is None),
    ("NOT Country = 'FR'", lambda r: r["Country"] != "FR"),
    ("(Country = 'FR' OR Country = 'DE') AND NumberOfEmployees > 100",
     lambda r: r["Country"] in ("FR", "DE") and (r["NumberOfEmployees"] or 0) > 100),
    ("CreatedDate >= 2026-01-01T00:00:00Z", lambda r: r["CreatedDate"] >= "2026-01-01T00:00:00"),
    ("CreatedDate < 2026-01-01T01:00:00+01:00", lambda r: r["CreatedDate"] < "2026-01-01T00:00:00"),
    ("Status = 'working - contacted'", lambda r: r["Status"] == "Working - Contacted"),
]  # fmt: skip


@pytest.mark.parametrize(("condition", "expected"), CASES, ids=[c for c, _ in CASES])
def test_every_where_operator(
    sf: Salesforce,
    leads: list[dict[str, Any]],
    condition: str,
    expected: Callable[[dict[str, Any]], bool],
) -> None:
    got = _ids(sf, f"SELECT Id FROM Lead WHERE {condition}")
    want = {r["Id"] for r in leads if expected(r)}
    assert got == want and 0 < len(want) < len(leads)


def test_date_literal_on_a_date_field(sf: Salesforce) -> None:
    rows = list(sf.query_all_iter("SELECT ActivityDate FROM Task WHERE ActivityDate >= 2026-06-01"))
    assert rows and all(r["ActivityDate"] >= "2026-06-01" for r in rows)


def test_relative_date_literal(sf: Salesforce, leads: list[dict[str, Any]]) -> None:
    start = (datetime.now(UTC) - timedelta(days=120)).strftime("%Y-%m-%d")
    got = _ids(sf, "SELECT Id FROM Lead WHERE CreatedDate = LAST_N_DAYS:120")
    assert got == {r["Id"] for r in leads if r["CreatedDate"][:10] >= start} != set()


def test_order_by_several_keys_limit_and_offset(
    sf: Salesforce, leads: list[dict[str, Any]]
) -> None:
    soql = (
        "SELECT Id FROM Lead ORDER BY Country ASC NULLS LAST, NumberOfEmployees DESC, Id "
        "LIMIT 300 OFFSET 5"
    )
    got = [r["Id"] for r in sf.query(soql)["records"]]

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        n = r["NumberOfEmployees"]
        return (
            r["Country"] is None,
            (r["Country"] or "").casefold(),
            n is None,
            -(n or 0),
            r["Id"],
        )

    assert got == [r["Id"] for r in sorted(leads, key=key)][5:305]


def test_count_and_modstamp_cursor(sf: Salesforce) -> None:
    assert sf.query("SELECT COUNT() FROM Lead WHERE IsConverted = false")["totalSize"] >= 2100
    since = datetime(2026, 10, 1, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = sf.query(
        f"SELECT Id, SystemModstamp FROM Lead WHERE SystemModstamp > {since} "
        "ORDER BY SystemModstamp, Id"
    )
    stamps = [r["SystemModstamp"] for r in rows["records"]]
    assert stamps == sorted(stamps) and all(s > "2026-10-01" for s in stamps)


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        ("SELEKT Name FROM Lead", "MALFORMED_QUERY", "unexpected token: SELEKT"),
        ("SELECT Id FROM Lead WHERE", "MALFORMED_QUERY", "unexpected token: '<EOF>'"),
        (
            "SELECT Bacon__c FROM Lead",
            "INVALID_FIELD",
            "No such column 'Bacon__c' on entity 'Lead'",
        ),
        (
            "SELECT Id FROM Lead WHERE CreatedDate > '2026'",
            "INVALID_FIELD",
            "must be of type dateTime",
        ),
        (
            "SELECT Id FROM Spaceship__c",
            "INVALID_TYPE",
            "sObject type 'Spaceship__c' is not supported",
        ),
    ],
)
def test_bad_queries_answer_400_like_salesforce(
    sf: Salesforce, soql: str, code: str, fragment: str
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query(soql)
    assert err.value.status == 400
    assert err.value.content[0]["errorCode"] == code
    assert fragment in err.value.content[0]["message"]


def test_unknown_query_locator(sf: Salesforce) -> None:
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query_more("/services/data/v59.0/query/01g5g0000000999AAA-2000", identifier_is_url=True)
    assert err.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"


CONNECTOR_QUERIES = [
    "SELECT Id, Email, Title, NumberOfEmployees, Industry, Country, LeadSource, "
    "HasOptedOutOfEmail, OwnerId, IsConverted, Status, SystemModstamp FROM Lead "
    "WHERE SystemModstamp > 2026-01-01T00:00:00Z ORDER BY SystemModstamp, Id",
    "SELECT Id, Email, Title, LeadSource, HasOptedOutOfEmail, OwnerId, MailingCountry, "
    "Account.Industry, Account.NumberOfEmployees FROM Contact ORDER BY SystemModstamp, Id",
    "SELECT Id, WhoId, WhatId, Subject, Type, TaskSubtype, Status, ActivityDate, OwnerId, "
    "Priority, IsClosed, CallDurationInSeconds, CallDisposition FROM Task WHERE IsClosed = true",
    "SELECT Id, WhoId, Subject, Type, StartDateTime, ActivityDateTime FROM Event",
    "SELECT Id, CampaignId, LeadId, ContactId, Status, HasResponded, FirstRespondedDate, "
    "Campaign.Type, Campaign.Name FROM CampaignMember WHERE HasResponded = true",
    "SELECT Id, Name, Email, IsActive FROM User",
    "SELECT Id, Name, Type FROM Group WHERE Type = 'Queue'",
]


@pytest.mark.parametrize("soql", CONNECTOR_QUERIES, ids=lambda q: q.split(" FROM ")[1][:20])
def test_queries_from_the_facts_sheet_return_rows(sf: Salesforce, soql: str) -> None:
    first = next(iter(sf.query_all_iter(soql)))
    assert first["attributes"]["type"] == soql.split(" FROM ")[1].split()[0]


def test_eleventh_open_cursor_releases_the_oldest(sf: Salesforce) -> None:
    options = {"Sforce-Query-Options": "batchSize=200"}
    urls = [sf.query("SELECT Id FROM Lead", headers=options)["nextRecordsUrl"] for _ in range(11)]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.query_more(urls[0], identifier_is_url=True)
    assert err.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    assert len(sf.query_more(urls[-1], identifier_is_url=True)["records"]) == 200
