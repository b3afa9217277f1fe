"""The Salesforce sandbox's schema: objects and their fields (``describe.py`` renders them).

Field names, types, key prefixes and relationship names follow the v59.0 describes in
``shared/salesforce-reference/describe-*.json`` (Lead, Contact, Event in full; Task reduced).
Only the fields a lead-scoring connector reads or writes are declared, plus the compound
address fields with their components (``Address``, ``MailingAddress``, ``OtherAddress``,
``BillingAddress``, ``ShippingAddress``) that a real org's describe has. The three score fields
(``Lead_Score__c``, ``Lead_Score_Tier__c``, ``Lead_Score_Reasons__c``) exist on Lead and Contact
only when the sandbox is built with ``score_fields=True``, as in an org where leadsync's package
was (or was not) installed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ADDRESS_PARTS", "SCORE_FIELDS", "FieldSpec", "ObjectSpec", "Schema"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field: its describe ``type`` and the few properties that differ between fields."""

    name: str
    type: str
    createable: bool = True
    updateable: bool = True
    nillable: bool = True
    length: int = 0
    reference_to: tuple[str, ...] = ()
    relationship: str | None = None
    picklist: tuple[str, ...] = ()
    restricted: bool = False
    default: Any = None
    label: str = ""
    compound: str | None = None  # the compound field this one is a component of
    scale: int | None = None


@dataclass(frozen=True, slots=True)
class ObjectSpec:
    """One sObject: name, 3-character key prefix, label and fields in describe order."""

    name: str
    prefix: str
    label_plural: str
    fields: tuple[FieldSpec, ...] = field(default_factory=tuple)

    def field(self, name: str) -> FieldSpec | None:
        """The field called ``name`` (case-insensitive), or None."""
        lowered = name.casefold()
        for spec in self.fields:
            if spec.name.casefold() == lowered:
                return spec
        return None


def _f(name: str, type_: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name, type_, **kw)


def _ro(name: str, type_: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name, type_, createable=False, updateable=False, **kw)


def _system(prefix_label: str) -> tuple[FieldSpec, ...]:
    return (
        _ro("Id", "id", nillable=False, length=18, label=f"{prefix_label} ID"),
        _ro("IsDeleted", "boolean", nillable=False, label="Deleted"),
    )


_AUDIT = (
    _ro("CreatedDate", "datetime", nillable=False),
    _ro(
        "CreatedById", "reference", nillable=False, reference_to=("User",), relationship="CreatedBy"
    ),
    _ro("LastModifiedDate", "datetime", nillable=False),
    _ro(
        "LastModifiedById",
        "reference",
        nillable=False,
        reference_to=("User",),
        relationship="LastModifiedBy",
    ),
    _ro("SystemModstamp", "datetime", nillable=False),
)
_INDUSTRIES = (
    "Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications",
    "Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering",
    "Entertainment", "Environmental", "Finance", "Food & Beverage", "Government", "Healthcare",
    "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media", "Not For Profit",
    "Recreation", "Retail", "Shipping", "Technology", "Telecommunications", "Transportation",
    "Utilities", "Other",
)  # fmt: skip
_LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
LEAD_STATUSES = (
    "Open - Not Contacted",
    "Working - Contacted",
    "Closed - Converted",
    "Closed - Not Converted",
)

#: The fields leadsync writes back (and the feedback sales sets); present only when
#: ``score_fields=True``.
SCORE_FIELDS = (
    _f("Lead_Score__c", "double", label="Lead Score"),
    _f("Lead_Score_Tier__c", "string", length=40, label="Lead Score Tier"),
    _f("Lead_Score_Reasons__c", "textarea", length=32768, label="Lead Score Reasons"),
    _f(
        "Lead_Score_Feedback__c",
        "picklist",
        length=255,
        label="Lead Score Feedback",
        picklist=("accepted", "rejected_not_a_buyer", "rejected_bad_timing", "rejected_bad_data"),
        restricted=True,
    ),
)
_GEOCODE = ("Address", "NearAddress", "Block", "Street", "ExtendedZip", "Zip", "Neighborhood",
            "City", "County", "State", "Unknown")  # fmt: skip
#: The components of an address compound field, after its prefix ("Mailing"…), in describe order.
ADDRESS_PARTS = ("Street", "City", "State", "PostalCode", "Country", "Latitude", "Longitude",
                 "GeocodeAccuracy")  # fmt: skip


def _address(prefix: str) -> tuple[FieldSpec, ...]:
    """A compound address as the describes show it: eight components, then the read-only
    ``address`` field they make up (``Address``, ``MailingAddress``, ``BillingAddress``…)."""
    whole = f"{prefix}Address"
    part = {"compound": whole}
    return (
        _f(f"{prefix}Street", "textarea", length=255, **part),
        _f(f"{prefix}City", "string", length=40, **part),
        _f(f"{prefix}State", "string", length=80, **part),
        _f(f"{prefix}PostalCode", "string", length=20, **part),
        _f(f"{prefix}Country", "string", length=80, **part),
        _f(f"{prefix}Latitude", "double", scale=15, **part),
        _f(f"{prefix}Longitude", "double", scale=15, **part),
        _f(f"{prefix}GeocodeAccuracy", "picklist", length=40, picklist=_GEOCODE, **part),
        _ro(whole, "address", label=f"{prefix} Address".strip()),
    )


_OWNER_ANY = dict(reference_to=("Group", "User"), relationship="Owner", nillable=False)
_OWNER_USER = dict(reference_to=("User",), relationship="Owner", nillable=False)
_WHO = dict(reference_to=("Contact", "Lead"), relationship="Who")
_WHAT = dict(reference_to=("Account", "Campaign"), relationship="What")

_LEAD = (
    *_system("Lead"),
    _f("LastName", "string", nillable=False, length=80, compound="Name"),
    _f("FirstName", "string", length=40, compound="Name"),
    _ro("Name", "string", length=121, label="Full Name"),
    _f("Title", "string", length=128),
    _f("Company", "string", nillable=False, length=255),
    *_address(""),
    _f("Phone", "phone", length=40),
    _f("Email", "email", length=80),
    _f("Website", "url", length=255),
    _f("Description", "textarea", length=32000),
    _f("LeadSource", "picklist", length=255, picklist=_LEAD_SOURCES),
    _f("Status", "picklist", nillable=False, length=255, picklist=LEAD_STATUSES, restricted=True),
    _f("Industry", "picklist", length=255, picklist=_INDUSTRIES),
    _f("Rating", "picklist", length=255, picklist=("Hot", "Warm", "Cold")),
    _f("AnnualRevenue", "currency"),
    _f("NumberOfEmployees", "int"),
    _f("OwnerId", "reference", **_OWNER_ANY),
    _ro("IsConverted", "boolean", nillable=False, label="Converted"),
    _ro("ConvertedDate", "date"),
    _f("HasOptedOutOfEmail", "boolean", nillable=False, label="Email Opt Out"),
    *_AUDIT,
    _ro("LastActivityDate", "date"),
)
_CONTACT = (
    *_system("Contact"),
    _f("AccountId", "reference", reference_to=("Account",), relationship="Account"),
    _f("LastName", "string", nillable=False, length=80, compound="Name"),
    _f("FirstName", "string", length=40, compound="Name"),
    _ro("Name", "string", length=121, label="Full Name"),
    *_address("Other"),
    *_address("Mailing"),
    _f("Title", "string", length=128),
    _f("Phone", "phone", length=40),
    _f("Email", "email", length=80),
    _f("Description", "textarea", length=32000),
    _f("LeadSource", "picklist", length=255, picklist=_LEAD_SOURCES),
    _f("HasOptedOutOfEmail", "boolean", nillable=False, label="Email Opt Out"),
    _f("OwnerId", "reference", **_OWNER_USER),
    *_AUDIT,
    _ro("LastActivityDate", "date"),
)
_ACCOUNT = (
    *_system("Account"),
    _f("Name", "string", nillable=False, length=255),
    _f("Type", "picklist", length=255, picklist=("Prospect", "Customer - Direct", "Other")),
    _f("Industry", "picklist", length=255, picklist=_INDUSTRIES),
    _f("NumberOfEmployees", "int"),
    *_address("Billing"),
    *_address("Shipping"),
    _f("Website", "url", length=255),
    _f("OwnerId", "reference", **_OWNER_USER),
    *_AUDIT,
)
_ACTIVITY_COMMON = (
    _f("WhoId", "reference", **_WHO),
    _f("WhatId", "reference", **_WHAT),
    _f("Subject", "combobox", length=255),
    _f("ActivityDate", "date", label="Due Date Only"),
    _f("OwnerId", "reference", **_OWNER_ANY),
    _f("Description", "textarea", length=32000),
    _f("Type", "picklist", length=255, picklist=("Call", "Email", "Meeting", "Other")),
)
_TASK = (
    *_system("Activity"),
    *_ACTIVITY_COMMON,
    _f("Status", "picklist", nillable=False, length=255, restricted=True,
       picklist=("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred")),
    _f("Priority", "picklist", nillable=False, length=40, picklist=("High", "Normal", "Low")),
    _ro("IsClosed", "boolean", nillable=False, label="Closed"),
    _f("TaskSubtype", "picklist", createable=True, updateable=False, length=40,
       picklist=("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn")),
    _f("CallDurationInSeconds", "int"),
    _f("CallType", "picklist", length=40, picklist=("Internal", "Inbound", "Outbound")),
    _f("CallDisposition", "string", length=255),
    _ro("CompletedDateTime", "datetime"),
    _ro("IsArchived", "boolean", nillable=False, label="Archived"),
    *_AUDIT,
)  # fmt: skip
_EVENT = (
    *_system("Activity"),
    *_ACTIVITY_COMMON,
    _f("ActivityDateTime", "datetime", label="Due Date Time"),
    _f("StartDateTime", "datetime"),
    _f("EndDateTime", "datetime"),
    _f("DurationInMinutes", "int"),
    _f("IsAllDayEvent", "boolean", nillable=False),
    _f("EventSubtype", "picklist", updateable=False, length=40, picklist=("Event",)),
    _ro("IsArchived", "boolean", nillable=False, label="Archived"),
    *_AUDIT,
)
_CAMPAIGN = (
    *_system("Campaign"),
    _f("Name", "string", nillable=False, length=80),
    _f("Type", "picklist", length=255, picklist=("Webinar", "Content", "Email", "Event", "Web",
                                                   "Conference", "Advertisement", "Other")),
    _f("Status", "picklist", length=255, picklist=("Planned", "In Progress", "Completed")),
    _f("StartDate", "date"),
    _f("EndDate", "date"),
    _f("IsActive", "boolean", nillable=False, label="Active"),
    _f("Description", "textarea", length=32000),
    _f("OwnerId", "reference", **_OWNER_USER),
    *_AUDIT,
)  # fmt: skip
_CAMPAIGN_MEMBER = (
    *_system("Campaign Member"),
    _f("CampaignId", "reference", nillable=False, reference_to=("Campaign",),
       relationship="Campaign", updateable=False),
    _f("LeadId", "reference", reference_to=("Lead",), relationship="Lead", updateable=False),
    _f("ContactId", "reference", reference_to=("Contact",), relationship="Contact",
       updateable=False),
    _f("Status", "picklist", length=40, picklist=("Sent", "Opened", "Responded", "Registered",
                                                  "Attended", "Downloaded", "Subscribed")),
    _ro("HasResponded", "boolean", nillable=False, label="Responded"),
    _ro("FirstRespondedDate", "date"),
    _ro("Type", "string", length=40),
    *_AUDIT,
)  # fmt: skip
_USER = (
    *_system("User"),
    _f("Username", "string", nillable=False, length=80),
    _f("LastName", "string", nillable=False, length=80),
    _f("FirstName", "string", length=40),
    _ro("Name", "string", length=121, label="Full Name"),
    _f("Email", "email", nillable=False, length=128),
    _f("Alias", "string", nillable=False, length=8),
    _f("IsActive", "boolean", nillable=False, label="Active"),
    _f("UserType", "picklist", updateable=False, length=40, picklist=("Standard",)),
    *_AUDIT,
)
_GROUP = (
    *_system("Group"),
    _f("Name", "string", nillable=False, length=40),
    _f("DeveloperName", "string", length=80),
    _f("Type", "picklist", nillable=False, length=40, picklist=("Queue", "Regular")),
    _f("Email", "email", length=255),
    *_AUDIT,
)


class Schema:
    """The sandbox's objects, answering the ``Catalog`` questions the SOQL binder asks."""

    def __init__(self, *, score_fields: bool = True) -> None:
        score = SCORE_FIELDS if score_fields else ()
        specs = [
            ObjectSpec("Lead", "00Q", "Leads", (*_LEAD, *score)),
            ObjectSpec("Contact", "003", "Contacts", (*_CONTACT, *score)),
            ObjectSpec("Account", "001", "Accounts", _ACCOUNT),
            ObjectSpec("Task", "00T", "Tasks", _TASK),
            ObjectSpec("Event", "00U", "Events", _EVENT),
            ObjectSpec("Campaign", "701", "Campaigns", _CAMPAIGN),
            ObjectSpec("CampaignMember", "00v", "Campaign Members", _CAMPAIGN_MEMBER),
            ObjectSpec("User", "005", "Users", _USER),
            ObjectSpec("Group", "00G", "Groups", _GROUP),
        ]
        self.objects: dict[str, ObjectSpec] = {s.name: s for s in specs}
        self._by_lower = {s.name.casefold(): s for s in specs}
        self.by_prefix: dict[str, ObjectSpec] = {s.prefix: s for s in specs}

    def get(self, name: str) -> ObjectSpec | None:
        """The object called ``name`` (case-insensitive), or None."""
        return self._by_lower.get(name.casefold())

    def add(self, spec: ObjectSpec) -> None:
        """Declare ``spec``, or replace the object of that name (the Metadata API adds fields)."""
        self.objects[spec.name] = spec
        self._by_lower[spec.name.casefold()] = spec
        self.by_prefix[spec.prefix] = spec

    # -- soql Catalog protocol --------------------------------------------------------------
    def object_name(self, name: str) -> str | None:
        spec = self.get(name)
        return spec.name if spec else None

    def field_type(self, sobject: str, name: str) -> tuple[str, str] | None:
        spec = self.objects[sobject].field(name)
        return (spec.name, spec.type) if spec else None

    def relationship(self, sobject: str, name: str) -> tuple[str, str, tuple[str, ...]] | None:
        lowered = name.casefold()
        for spec in self.objects[sobject].fields:
            if spec.relationship and spec.relationship.casefold() == lowered:
                return spec.relationship, spec.name, spec.reference_to
        return None
