"""Compound fields: describes as a real org's (``describe-lead.json``, ``describe-contact.json``)
and their values through SOQL and record GETs, via simple-salesforce."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox

#: Lead's address fields in describe order, and Contact's compound groups, as in the v59
#: describes recorded from a scratch org (shared/salesforce-reference).
LEAD_ADDRESS = ["Street", "City", "State", "PostalCode", "Country", "Latitude", "Longitude",
                "GeocodeAccuracy", "Address"]  # fmt: skip
ADDRESS_KEYS = ["city", "country", "geocodeAccuracy", "latitude", "longitude", "postalCode",
                "state", "street"]  # fmt: skip


@pytest.fixture(scope="module")
def box() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(leads=30, contacts=10, seed=17) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def sf(box: SalesforceSandbox) -> Salesforce:
    return box.client()


def test_lead_and_contact_describes_have_their_compound_fields(sf: Salesforce) -> None:
    fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    names = list(fields)
    start = names.index("Street")
    assert names[start : start + len(LEAD_ADDRESS)] == LEAD_ADDRESS
    address = fields["Address"]
    assert (address["type"], address["soapType"], address["compoundFieldName"]) == (
        "address", "urn:address", None,
    )  # fmt: skip
    assert not address["createable"] and not address["updateable"] and not address["sortable"]
    assert {fields[n]["compoundFieldName"] for n in LEAD_ADDRESS[:-1]} == {"Address"}
    assert (fields["Latitude"]["type"], fields["Latitude"]["scale"]) == ("double", 15)
    assert "NearAddress" in [p["value"] for p in fields["GeocodeAccuracy"]["picklistValues"]]
    assert fields["FirstName"]["compoundFieldName"] == fields["LastName"]["compoundFieldName"]
    assert fields["FirstName"]["compoundFieldName"] == "Name"
    contact = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    for group in ("MailingAddress", "OtherAddress"):
        assert contact[group]["type"] == "address"
        prefix = group.removesuffix("Address")
        assert contact[f"{prefix}PostalCode"]["compoundFieldName"] == group
    account = {f["name"]: f["type"] for f in sf.Account.describe()["fields"]}
    assert account["BillingAddress"] == account["ShippingAddress"] == "address"


def test_a_compound_address_is_composed_from_its_components(sf: Salesforce) -> None:
    lead = sf.query("SELECT Id, Country, Address FROM Lead WHERE Country != null LIMIT 1")
    row = lead["records"][0]
    assert list(row["Address"]) == ADDRESS_KEYS
    assert row["Address"]["country"] == row["Country"] and row["Address"]["city"] is None
    sf.Lead.update(row["Id"], {"City": "Lyon", "PostalCode": "69001"})
    fetched = sf.Lead.get(row["Id"])
    assert (fetched["Address"]["city"], fetched["Address"]["postalCode"]) == ("Lyon", "69001")
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_FIELD_FOR_INSERT_UPDATE"):
        sf.Lead.update(row["Id"], {"Address": {"city": "Paris"}})
    created = sf.Contact.create({"LastName": "Nowhere"})
    assert sf.Contact.get(created["id"])["MailingAddress"] is None
