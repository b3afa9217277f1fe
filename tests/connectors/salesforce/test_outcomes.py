"""Outcomes from Salesforce over HTTPS: conversion, opportunities, contact roles, export."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from sf_support import account, connector

from leadsync.connectors.salesforce.outcomes import lead_outcome, opportunity_outcome
from leadsync.connectors.sandbox.data import generate
from leadsync.connectors.sandbox.outcomes import outcome_of
from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox
from leadsync.scoring.lead import parse_lead
from leadsync.sync.export import export_leads


@pytest.fixture(scope="module")
def box():
    with SalesforceSandbox(leads=300, contacts=200, seed=6, outcomes=True) as sandbox:
        yield sandbox


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_an_export_with_outcomes_reads_converted_leads_and_contact_roles(box, monkeypatch):
    acct = account(box, monkeypatch, salesforce={"objects": ["Lead", "Contact"]})
    sf = connector(box, acct)
    try:
        out = io.StringIO()
        count = export_leads(sf, out, with_outcomes=True)
    finally:
        sf.close()
    leads = [parse_lead(json.loads(line)) for line in out.getvalue().splitlines()]
    assert count == len(leads) == 500  # the 300 leads (converted ones included) and 200 contacts
    who: dict[tuple, list] = {}
    for p in generate(500, seed=6).people:
        who.setdefault(
            (p.email, p.first_name, p.last_name or "[not provided]", p.title), []
        ).append(p)
    seen = {"won": 0, "lost": 0, "open": 0, "none": 0, "converted_leads": 0}
    for lead in leads:
        props = lead.properties
        found = who[
            (
                props.get("email"),
                props.get("first_name"),
                props.get("last_name"),
                props.get("title"),
            )
        ]
        if len(found) > 1:
            continue  # the same name, title and email twice: no way to tell them apart
        person = found[0]
        assert person is not None and lead.outcome is not None
        truth, got = outcome_of(person), lead.outcome
        assert got.converted == truth.converted, lead.id
        if truth.won_at:
            seen["won"] += 1
            assert got.won_at == truth.won_at.replace(hour=0, minute=0, second=0)
            assert got.amount == truth.amount
        elif truth.lost_at:
            seen["lost"] += 1
            assert got.lost_at == truth.lost_at.replace(hour=0, minute=0, second=0)
        elif truth.sql_at:
            seen["open"] += 1
        else:
            seen["none"] += 1
            assert got.sql_at is None
        if lead.id.startswith("00Q") and truth.sql_at:
            seen["converted_leads"] += 1
            assert got.sql_at == truth.sql_at.replace(hour=0, minute=0, second=0)
    assert all(seen.values()), seen
    assert sum(seen.values()) - seen["converted_leads"] > 450


def test_outcome_rules():
    won = {
        "IsWon": True,
        "IsClosed": True,
        "CloseDate": "2026-03-01",
        "Amount": 120.0,
        "CreatedDate": "2026-01-02T10:00:00.000+0000",
        "StageName": "Closed Won",
    }
    lost = {
        "IsWon": False,
        "IsClosed": True,
        "CloseDate": "2026-04-01",
        "Amount": 80.0,
        "CreatedDate": "2026-02-02T10:00:00.000+0000",
        "StageName": "Closed Lost",
    }
    still = {
        "IsWon": False,
        "IsClosed": False,
        "CloseDate": "2026-12-01",
        "Amount": 50.0,
        "CreatedDate": "2026-05-02T10:00:00.000+0000",
        "StageName": "Qualification",
    }
    both = opportunity_outcome([lost, won], None, None)
    assert (both.converted, both.won_at, both.lost_at, both.amount) == (
        True,
        day("2026-03-01"),
        None,
        120.0,
    )
    assert both.sql_at == datetime(2026, 1, 2, 10, tzinfo=UTC) and both.stage == "Closed Lost"
    assert opportunity_outcome([lost, still], None, None).converted is None
    assert opportunity_outcome([lost], None, None).lost_at == day("2026-04-01")
    assert opportunity_outcome([], None, None).converted is False
    unconverted = lead_outcome({"IsConverted": False, "Status": "Working - Contacted"}, None)
    assert (unconverted.converted, unconverted.stage) == (False, "Working - Contacted")
    no_opportunity = lead_outcome(
        {"IsConverted": "true", "ConvertedDate": "2026-02-03", "Status": "Closed - Converted"}, None
    )
    assert no_opportunity.converted is True and no_opportunity.converted_at == day("2026-02-03")
    converted = lead_outcome(
        {"IsConverted": True, "ConvertedDate": "2026-01-05", "Status": "Closed - Converted"}, lost
    )
    assert converted.converted is False and converted.sql_at == day("2026-01-05")


def test_sales_feedback_on_leads_and_contacts_comes_with_the_outcome(monkeypatch):
    with SalesforceSandbox(leads=20, contacts=10, seed=3, outcomes=True) as box:
        acct = account(box, monkeypatch, salesforce={"objects": ["Lead", "Contact"]})
        lead = next(r["Id"] for r in box.store.rows("Lead") if not r.get("IsConverted"))
        contact = next(r["Id"] for r in box.store.rows("Contact"))
        client = box.client(box.sessions.new_access_token())
        client.Lead.update(lead, {"Lead_Score_Feedback__c": "rejected_bad_timing"})
        client.Contact.update(contact, {"Lead_Score_Feedback__c": "accepted"})
        sf = connector(box, acct)
        try:
            found = sf.outcomes([lead, contact])
        finally:
            sf.close()
    assert found[lead].feedback == "rejected_bad_timing"
    assert found[contact].feedback == "accepted"
