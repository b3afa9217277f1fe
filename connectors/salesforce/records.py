"""Salesforce Leads and Contacts as canonical leads, and scores as Salesforce field values.

Default mapping (canonical property → field), overridable per account with ``mapping``:

=================  ====================  ==============================
canonical          Lead                  Contact
=================  ====================  ==============================
email              Email                 Email
first_name         FirstName             FirstName
last_name          LastName              LastName
title              Title                 Title
company            Company               Account.Name
company_size       NumberOfEmployees     Account.NumberOfEmployees
industry           Industry              Account.Industry
country            Country               MailingCountry
owner_id           OwnerId               OwnerId
email_opt_out      HasOptedOutOfEmail    HasOptedOutOfEmail
lead_source        LeadSource            LeadSource
lead_status        Status                (none)
=================  ====================  ==============================

Score fields: ``Lead_Score__c`` (Number), ``Lead_Score_Tier__c`` (Text or Picklist),
``Lead_Score_Reasons__c`` (Long Text Area). An account's ``fields`` names are used when
they are not the HubSpot-style defaults (``lead_score``…), which mean "the Salesforce
defaults" here. Salesforce keeps no model field, so the model (``name@version``) is the
last line of the reasons, ``[model b2b-saas@1.0]``: the sync compares it to decide that a
score is unchanged, and a rep sees which model spoke.

The owner is active unless ``OwnerId`` is a queue (prefix ``00G``) or ``Owner.IsActive``
is false: then tasks go round-robin.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from leadsync.config.accounts import FieldNames
from leadsync.connectors.base import CrmLead, ScoreWrite, WrittenScore, fingerprint
from leadsync.connectors.salesforce.soql import (
    Row,
    chunk_ids,
    field_name,
    normal_stamp,
    parse_stamp,
    select,
    soql,
)
from leadsync.scoring.lead import Event, Lead

if TYPE_CHECKING:
    from leadsync.config.accounts import Account
    from leadsync.connectors.salesforce.api import SalesforceApi

__all__ = [
    "ObjectMap",
    "ScoreFields",
    "object_maps",
    "parse_model",
    "rows_by_id",
    "score_values",
    "strip_model",
]

LEAD_MAPPING: dict[str, str] = {
    "email": "Email",
    "first_name": "FirstName",
    "last_name": "LastName",
    "title": "Title",
    "company": "Company",
    "company_size": "NumberOfEmployees",
    "industry": "Industry",
    "country": "Country",
    "owner_id": "OwnerId",
    "email_opt_out": "HasOptedOutOfEmail",
    "lead_source": "LeadSource",
    "lead_status": "Status",
}
CONTACT_MAPPING: dict[str, str] = {
    **{k: v for k, v in LEAD_MAPPING.items() if k != "lead_status"},
    "company": "Account.Name",
    "company_size": "Account.NumberOfEmployees",
    "industry": "Account.Industry",
    "country": "MailingCountry",
}
QUEUE_PREFIX = "00G"
#: Fields that move on any write, leadsync's included: never a scoring input.
STAMPS = frozenset({"SystemModstamp", "LastModifiedDate", "LastModifiedById", "attributes"})
PREFIXES = {"Lead": "00Q", "Contact": "003"}
#: Salesforce's Long Text Area maximum; longer reasons are cut.
REASONS_MAX = 32_768
_MODEL_LINE = re.compile(r"\n?\[model ([^\]\n]+)\]\s*$")


@dataclass(frozen=True, slots=True)
class ScoreFields:
    """The names of leadsync's fields on Lead and Contact: the three it writes, and the
    feedback sales sets."""

    score: str = "Lead_Score__c"
    tier: str = "Lead_Score_Tier__c"
    reasons: str = "Lead_Score_Reasons__c"
    feedback: str = "Lead_Score_Feedback__c"
    """Sales' word on an MQL (a picklist ``setup --create`` adds): read by the review only."""

    @classmethod
    def for_account(cls, names: FieldNames) -> ScoreFields:
        """The account's names, except HubSpot-style defaults, which mean ours."""
        hub = FieldNames()
        ours = cls()
        return cls(
            score=ours.score if names.score == hub.score else field_name(names.score, "fields"),
            tier=ours.tier if names.tier == hub.tier else field_name(names.tier, "fields"),
            reasons=ours.reasons
            if names.reasons == hub.reasons
            else field_name(names.reasons, "fields"),
            feedback=ours.feedback
            if names.feedback == hub.feedback
            else field_name(names.feedback, "fields"),
        )


@dataclass(frozen=True, slots=True)
class ObjectMap:
    """How one object (Lead or Contact) is read: fields, filter, and the mapping."""

    sobject: str
    properties: dict[str, str]
    fields: ScoreFields
    with_scores: bool = True
    """False: leadsync's score fields are not read (``sample_leads``, before they exist)."""

    @property
    def select(self) -> list[str]:
        """Every field a lead read needs (a de-duplicated order is kept by ``soql.select``)."""
        base = ["Id", "Name", "OwnerId", "Owner.IsActive", "SystemModstamp", "LastModifiedById"]
        scores = [self.fields.score, self.fields.tier, self.fields.reasons]
        scores = scores if self.with_scores else []
        return [*base, *self.properties.values(), *scores]

    @property
    def live(self) -> str:
        """The filter for records leadsync scores: unconverted leads, every contact."""
        return "IsConverted = false" if self.sobject == "Lead" else "IsDeleted = false"

    def query(self, where: str, order: str | None) -> str:
        """The lead query (``where`` starts with `` AND``); Bulk jobs get no ORDER BY (it
        disables Salesforce's PK chunking)."""
        text = f"SELECT {select(self.select)} FROM {self.sobject} WHERE {self.live}{where}"
        return f"{text} ORDER BY {order}" if order else text

    def crm_lead(self, row: Row, events: list[Event]) -> CrmLead:
        """One row (REST or Bulk) and its events as a :class:`CrmLead`."""
        props: dict[str, Any] = {}
        for canonical, name in self.properties.items():
            value = row.get(name)
            if isinstance(value, str) and canonical == "company_size":
                value = _number(value)
            props[canonical] = value
        owner = row.get("OwnerId") or None
        active = bool(owner) and not str(owner).startswith(QUEUE_PREFIX)
        if active and _bool(row.get("Owner.IsActive")) is False:
            active = False
        reasons = row.get(self.fields.reasons)
        text = reasons if isinstance(reasons, str) else None
        tier = row.get(self.fields.tier)
        written = WrittenScore(
            score=_decimal(row.get(self.fields.score)),
            tier=str(tier) if tier not in (None, "") else None,
            model=parse_model(text),
            updated_at=None,
            reasons=strip_model(text),
        )
        events.sort(key=lambda e: e.ts)
        return CrmLead(
            lead=Lead(str(row["Id"]), props, tuple(events)),
            object_type=self.sobject,
            name=row.get("Name") or None,
            owner_id=str(owner) if owner else None,
            owner_active=active,
            written=written,
            modified_at=parse_stamp(row.get("SystemModstamp")),
            inputs=self.inputs(row),
        )

    def inputs(self, row: Row) -> str:
        """The :func:`fingerprint` of a row as read: every field but leadsync's and the
        stamps, in one text form whether the row came from REST (JSON) or Bulk (CSV)."""
        own = {self.fields.score, self.fields.tier, self.fields.reasons}
        return fingerprint(
            {k: _plain(v) for k, v in row.items() if k not in own and k not in STAMPS}
        )


def object_maps(account: Account) -> dict[str, ObjectMap]:
    """The account's objects (``salesforce.objects``) with their mappings."""
    fields = ScoreFields.for_account(account.fields)
    overrides = {k: field_name(v, f"mapping.{k}") for k, v in account.mapping.items()}
    maps: dict[str, ObjectMap] = {}
    for sobject in account.salesforce.objects:
        base = LEAD_MAPPING if sobject == "Lead" else CONTACT_MAPPING
        maps[sobject] = ObjectMap(sobject, {**base, **overrides}, fields)
    return maps


def rows_by_id(api: SalesforceApi, om: ObjectMap, ids: Sequence[str]) -> list[Row]:
    """Live records of one object by id (one query per ``IN`` chunk)."""
    rows: list[Row] = []
    for chunk in chunk_ids(ids):
        rows += api.query_rows(om.query(soql(" AND Id IN {ids}", ids=chunk), None))
    return rows


def object_of(lead_id: str, maps: dict[str, ObjectMap]) -> ObjectMap | None:
    """The object a record id belongs to, by its key prefix."""
    for sobject, prefix in PREFIXES.items():
        if lead_id.startswith(prefix) and sobject in maps:
            return maps[sobject]
    return None


def reasons_with_model(reasons: str, model: str) -> str:
    """The reasons text as stored: the explanation, then ``[model name@version]``."""
    trailer = f"\n[model {model}]"
    return reasons[: REASONS_MAX - len(trailer)] + trailer


def strip_model(reasons: str | None) -> str:
    """The explanation of a stored reasons text, without its ``[model …]`` trailer."""
    return _MODEL_LINE.sub("", reasons or "")


def parse_model(reasons: str | None) -> str | None:
    """The model a stored reasons text names (None when leadsync never wrote it)."""
    if not reasons:
        return None
    found = _MODEL_LINE.search(reasons)
    return found.group(1).strip() if found else None


def score_values(write: ScoreWrite, fields: ScoreFields) -> dict[str, Any]:
    """The field values of one score write (plus ``OwnerId`` when reassigning)."""
    values: dict[str, Any] = {
        fields.score: float(write.score),
        fields.tier: write.tier,
        fields.reasons: reasons_with_model(write.reasons, write.model),
    }
    if write.owner_id:
        values["OwnerId"] = write.owner_id
    return values


def _number(text: str) -> int | float | str:
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def _plain(value: Any) -> str | None:
    """A field value as text: the same for JSON's ``250`` or ``true`` and CSV's ``"250"``."""
    if value is None or value == "":
        return None
    text = str(value)
    if text.lower() in ("true", "false"):
        return text.lower()
    try:
        return repr(float(text))
    except ValueError:
        return text


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def stamp_of(row: Row) -> str | None:
    """The row's SystemModstamp in the canonical text form."""
    return normal_stamp(row.get("SystemModstamp"))


def as_datetime(value: Any) -> datetime | None:
    return parse_stamp(value)
