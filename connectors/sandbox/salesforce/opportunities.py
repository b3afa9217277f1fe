"""Opportunities and lead conversion in the Salesforce sandbox: the generated outcomes.

A person with an opportunity (:func:`~leadsync.connectors.sandbox.outcomes.outcome_of`)
gets an ``Opportunity`` created at the day it became sales-qualified: ``Closed Won``
(``IsWon``) or ``Closed Lost`` with ``CloseDate`` the won or lost day, or open
(``Qualification``, ``CloseDate`` expected 60 days on), with its ``Amount``. A Lead
becomes a converted Lead that day (``IsConverted``, ``ConvertedDate``,
``ConvertedOpportunityId``, ``Status`` "Closed - Converted"), as a rep converts a
qualified lead; a Contact's opportunity is on the Contact's Account and linked to it
through an ``OpportunityContactRole``. Declared on the sandbox's schema by :func:`declare`.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from leadsync.connectors.sandbox.data import Person
from leadsync.connectors.sandbox.outcomes import outcome_of
from leadsync.connectors.sandbox.salesforce.schema import _AUDIT, ObjectSpec, _f, _ro, _system
from leadsync.connectors.sandbox.salesforce.store import Store

_STAGES = ("Qualification", "Proposal/Price Quote", "Closed Won", "Closed Lost")


OPPORTUNITY = ObjectSpec(
    "Opportunity",
    "006",
    "Opportunities",
    (
        *_system("Opportunity"),
        *_AUDIT,
        _f("Name", "string", nillable=False, length=120),
        _f("AccountId", "reference", reference_to=("Account",), relationship="Account"),
        _f("StageName", "picklist", nillable=False, length=255, picklist=_STAGES),
        _f("CloseDate", "date", nillable=False),
        _f("Amount", "currency"),
        _ro("IsClosed", "boolean", nillable=False, label="Closed"),
        _ro("IsWon", "boolean", nillable=False, label="Won"),
    ),
)
CONTACT_ROLE = ObjectSpec(
    "OpportunityContactRole",
    "00K",
    "Contact Roles",
    (
        *_system("Contact Role"),
        *_AUDIT,
        _f("OpportunityId", "reference", nillable=False, reference_to=("Opportunity",),
           relationship="Opportunity"),
        _f("ContactId", "reference", nillable=False, reference_to=("Contact",),
           relationship="Contact"),
        _f("Role", "picklist", length=40, picklist=("Decision Maker", "Evaluator", "Other")),
        _f("IsPrimary", "boolean", nillable=False),
    ),
)  # fmt: skip
_CONVERTED_OPPORTUNITY = _ro(
    "ConvertedOpportunityId", "reference", reference_to=("Opportunity",),
    relationship="ConvertedOpportunity",
)  # fmt: skip


def declare(store: Store) -> None:
    """Add Opportunity, OpportunityContactRole and ``Lead.ConvertedOpportunityId``."""
    schema = store.schema
    lead = schema.objects["Lead"]
    if lead.field("ConvertedOpportunityId") is None:
        schema.add(dataclasses.replace(lead, fields=(*lead.fields, _CONVERTED_OPPORTUNITY)))
    for spec in (OPPORTUNITY, CONTACT_ROLE):
        schema.add(spec)
        store.tables.setdefault(spec.name, {})


def load_outcome(store: Store, person: Person, sobject: str, who: str) -> None:
    """The person's opportunity, and its Lead's conversion or its Contact's role."""
    o = outcome_of(person)
    if o.sql_at is None:
        return
    closed = o.won_at or o.lost_at
    stage = "Closed Won" if o.won_at else "Closed Lost" if o.lost_at else "Qualification"
    close_date = (closed or o.sql_at + timedelta(days=60)).date()
    account = store.tables["Contact"][who]["AccountId"] if sobject == "Contact" else None
    opportunity = store.load(
        "Opportunity",
        {
            "AccountId": account,
            "Name": f"{person.company or 'Deal'} — {person.last_name or person.key}",
            "StageName": stage,
            "CloseDate": close_date,
            "Amount": o.amount,
            "IsClosed": closed is not None,
            "IsWon": o.won_at is not None,
        },
        at=o.sql_at,
    )
    if closed is not None:
        record = store.tables["Opportunity"][opportunity]
        record["LastModifiedDate"] = record["SystemModstamp"] = closed
    if sobject == "Lead":
        lead = store.tables["Lead"][who]
        lead.update(
            IsConverted=True,
            ConvertedDate=o.sql_at.date(),
            ConvertedOpportunityId=opportunity,
            Status="Closed - Converted",
        )
        lead["LastModifiedDate"] = lead["SystemModstamp"] = max(lead["SystemModstamp"], o.sql_at)
    else:
        store.load(
            "OpportunityContactRole",
            {"OpportunityId": opportunity, "ContactId": who, "Role": "Decision Maker",
             "IsPrimary": True},
            at=o.sql_at,
        )  # fmt: skip
