"""The sandbox's Metadata API (SOAP via zeep on simple-salesforce's WSDL) and what it changes.

Every call goes over HTTPS to ``metadata_url`` as simple-salesforce computes it; created fields
must then show in describe, SOQL and writes, and permission sets in SOQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import simple_salesforce.metadata
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest
from zeep import Client, Settings
from zeep.exceptions import Fault
from zeep.transports import Transport

from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox

NS = "http://soap.sforce.com/2006/04/metadata"
WSDL = str(Path(simple_salesforce.metadata.__file__).with_name("metadata.wsdl"))


class Mdapi:
    """zeep on simple-salesforce's metadata WSDL, pointed at one sandbox with one session id."""

    def __init__(self, box: SalesforceSandbox, session_id: str | None = None) -> None:
        self.sf = box.client(session_id)
        self.client = Client(WSDL, transport=Transport(session=box.session()),
                             settings=Settings(strict=False, xsd_ignore_sequence_order=True))  # fmt: skip
        self.service = self.client.create_service(f"{{{NS}}}MetadataBinding", self.sf.metadata_url)
        self.header = self.client.get_element(f"{{{NS}}}SessionHeader")(
            sessionId=session_id or box.session_id
        )

    def type(self, name: str, **values: Any) -> Any:
        return self.client.get_type(f"{{{NS}}}{name}")(**values)

    def __getattr__(self, operation: str) -> Any:
        method = getattr(self.service, operation)
        return lambda **kw: method(**kw, _soapheaders=[self.header])


@pytest.fixture
def box() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(leads=6, seed=3, score_fields=False) as sandbox:
        yield sandbox


@pytest.fixture
def md(box: SalesforceSandbox) -> Mdapi:
    return Mdapi(box)


def _field(md: Mdapi, name: str, kind: str, **settings: Any) -> Any:
    return md.type("CustomField", fullName=name, label=name.split(".")[1], type=kind, **settings)


def test_created_fields_show_in_describe_soql_and_writes(box: SalesforceSandbox, md: Mdapi) -> None:
    results = md.createMetadata(metadata=[
        _field(md, "Lead.Score__c", "Number", precision=18, scale=2),
        _field(md, "Lead.Tier__c", "Text", length=40),
        _field(md, "Lead.Why__c", "LongTextArea", length=32768, visibleLines=5),
        _field(md, "Lead.Band__c", "Picklist", valueSet=md.type("ValueSet", restricted=True,
               valueSetDefinition=md.type("ValueSetValuesDefinition", sorted=False, value=[
                   md.type("CustomValue", fullName=v, default=False) for v in ("A", "B")]))),
    ])  # fmt: skip
    assert [(r.fullName, r.success, r.errors) for r in results] == [
        ("Lead.Score__c", True, []), ("Lead.Tier__c", True, []),
        ("Lead.Why__c", True, []), ("Lead.Band__c", True, []),
    ]  # fmt: skip
    sf: Salesforce = md.sf
    fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    assert (fields["Score__c"]["type"], fields["Score__c"]["custom"]) == ("double", True)
    assert (fields["Tier__c"]["type"], fields["Tier__c"]["length"]) == ("string", 40)
    assert (fields["Why__c"]["type"], fields["Why__c"]["length"]) == ("textarea", 32768)
    assert fields["Band__c"]["restrictedPicklist"] is True
    assert [v["value"] for v in fields["Band__c"]["picklistValues"]] == ["A", "B"]
    lead = sf.query("SELECT Id, Score__c FROM Lead LIMIT 1")["records"][0]
    assert lead["Score__c"] is None
    sf.Lead.update(lead["Id"], {"Score__c": 12.5, "Tier__c": "warm", "Band__c": "A"})
    assert sf.Lead.get(lead["Id"])["Score__c"] == 12.5
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"):
        sf.Lead.update(lead["Id"], {"Band__c": "C"})


def test_each_component_succeeds_or_fails_on_its_own(md: Mdapi) -> None:
    md.createMetadata(metadata=[_field(md, "Lead.Score__c", "Number", precision=18, scale=2)])
    results = md.createMetadata(metadata=[
        _field(md, "Lead.Score__c", "Number", precision=18, scale=2),
        _field(md, "Lead.Why__c", "LongTextArea", length=32768),
        _field(md, "Nothing.X__c", "Text", length=10),
        _field(md, "Lead.NoSuffix", "Text", length=10),
        _field(md, "Lead.Ok__c", "Text", length=10),
    ])  # fmt: skip
    codes = [(r.success, r.errors[0].statusCode if r.errors else None) for r in results]
    assert codes == [
        (False, "DUPLICATE_DEVELOPER_NAME"), (False, "FIELD_INTEGRITY_EXCEPTION"),
        (False, "INVALID_CROSS_REFERENCE_KEY"), (False, "FIELD_INTEGRITY_EXCEPTION"),
        (True, None),
    ]  # fmt: skip
    assert results[0].errors[0].message == "There is already a field named Score__c on Lead."
    assert "visibleLines" in results[1].errors[0].message


def test_permission_sets_are_stored_read_back_updated_and_queryable(md: Mdapi) -> None:
    md.createMetadata(metadata=[_field(md, "Lead.Score__c", "Number", precision=18, scale=2)])
    grant = md.type("PermissionSetFieldPermissions", field="Lead.Score__c", readable=True,
                    editable=True)  # fmt: skip
    (saved,) = md.createMetadata(metadata=[
        md.type("PermissionSet", fullName="Scoring", label="Scoring", fieldPermissions=[grant])
    ])  # fmt: skip
    assert saved.success
    (again,) = md.createMetadata(metadata=[md.type("PermissionSet", fullName="Scoring", label="S")])
    assert again.errors[0].statusCode == "DUPLICATE_DEVELOPER_NAME"
    (stored, absent) = md.readMetadata(type="PermissionSet", fullNames=["Scoring", "Nope"])
    assert absent.fullName is None
    assert [(g.field, g.readable, g.editable) for g in stored.fieldPermissions] == [
        ("Lead.Score__c", True, True)
    ]
    stored.label = "Lead scoring"
    (updated,) = md.updateMetadata(metadata=[stored])
    assert updated.success
    rows = md.sf.query("SELECT Id, Label FROM PermissionSet WHERE Name = 'Scoring'")["records"]
    assert [r["Label"] for r in rows] == ["Lead scoring"]
    bad = md.type("PermissionSetFieldPermissions", field="Lead.Nope__c", readable=True,
                  editable=True)  # fmt: skip
    (refused,) = md.createMetadata(metadata=[
        md.type("PermissionSet", fullName="Other", label="Other", fieldPermissions=[bad])
    ])  # fmt: skip
    assert refused.errors[0].message == "In field: field - no CustomField named Lead.Nope__c found"


def test_permission_set_assignments_over_rest(box: SalesforceSandbox, md: Mdapi) -> None:
    md.createMetadata(metadata=[md.type("PermissionSet", fullName="Scoring", label="Scoring")])
    sf: Salesforce = md.sf
    ps = sf.query("SELECT Id FROM PermissionSet WHERE Name = 'Scoring'")["records"][0]["Id"]
    me = sf.oauth2("userinfo")["user_id"]
    assert me == box.store.api_user_id
    created = sf.PermissionSetAssignment.create({"AssigneeId": me, "PermissionSetId": ps})
    assert created["success"] and created["id"].startswith("0Pa")
    text = f"SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = '{me}' AND PermissionSetId = '{ps}'"
    assert sf.query(text)["totalSize"] == 1


def test_request_level_failures_are_soap_faults(box: SalesforceSandbox, md: Mdapi) -> None:
    field = _field(md, "Lead.Score__c", "Number", precision=18, scale=2)
    expired = Mdapi(box, session_id="00D5g000004SBXE!not-a-session")
    with pytest.raises(Fault) as caught:
        expired.createMetadata(metadata=[field])
    assert caught.value.code == "sf:INVALID_SESSION_ID"
    assert caught.value.message.startswith("INVALID_SESSION_ID: Invalid Session ID")

    box.metadata.allowed = False
    with pytest.raises(Fault) as caught:
        md.createMetadata(metadata=[field])
    assert caught.value.code == "sf:INSUFFICIENT_ACCESS"
    assert caught.value.message == (
        "INSUFFICIENT_ACCESS: use of the Metadata API requires a user with the ModifyAllData "
        "or ModifyMetadata permissions"
    )
    box.metadata.allowed = True

    with pytest.raises(Fault, match="LIMIT_EXCEEDED"):
        md.createMetadata(metadata=[field] * 11)
    with pytest.raises(Fault) as caught:
        md.listMetadata(queries=[md.type("ListMetadataQuery", type="CustomField")], asOfVersion=59)
    assert caught.value.code == "soapenv:Client"

    box.reset_usage(box.daily_limit)
    with pytest.raises(Fault, match="REQUEST_LIMIT_EXCEEDED"):
        md.createMetadata(metadata=[field])
    box.reset_usage()

    raw = box.session().post(md.sf.metadata_url, data=b"<not-xml", timeout=10)
    assert raw.status_code == 500 and b"<faultcode>soapenv:Client</faultcode>" in raw.content
    counts = box.counters.snapshot()
    assert counts["POST Soap/m/createMetadata"] == {500: 4}


def test_userinfo_names_the_api_user_and_refuses_a_bad_token(box: SalesforceSandbox) -> None:
    session = box.session()
    url = f"{box.instance_url}/services/oauth2/userinfo"
    good = session.get(url, headers={"Authorization": f"Bearer {box.session_id}"}, timeout=10)
    assert good.status_code == 200 and good.json()["user_id"] == box.store.api_user_id
    bad = session.get(url, headers={"Authorization": "Bearer nope"}, timeout=10)
    assert (bad.status_code, bad.text) == (403, "Bad_OAuth_Token")
