"""Parsing canonical leads: every malformed input names its record and field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadsync.errors import LeadError
from leadsync.scoring.lead import lead_json, parse_lead


def test_a_valid_lead():
    lead = parse_lead(
        {
            "id": 7,
            "properties": {"email": "a@b.io", "company_size": 12, "custom_score": 1.5},
            "events": [{"type": "page_view", "at": "2026-11-01T10:00:00+02:00", "url": "/x"}],
        }
    )
    assert lead.id == "7"
    assert lead.events[0].attrs == {"url": "/x"}
    assert lead.events[0].at.utcoffset().total_seconds() == 7200


def test_an_outcome_is_optional_and_typed():
    assert parse_lead({"id": "x"}).outcome is None
    outcome = parse_lead(
        {
            "id": "x",
            "outcome": {
                "converted": True,
                "converted_at": "2026-05-02T10:00:00Z",
                "stage": "customer",
                "amount": 1200,
                "won_at": "2026-05-02",
                "lost_at": None,
            },
        }
    ).outcome
    assert outcome is not None and outcome.converted is True and outcome.stage == "customer"
    assert outcome.amount == 1200.0 and outcome.lost_at is None and outcome.sql_at is None
    assert outcome.converted_at == datetime(2026, 5, 2, 10, tzinfo=UTC)
    assert outcome.won_at == datetime(2026, 5, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "a lead must be a JSON object, not a list"),
        ({"properties": {}}, "the lead has no id"),
        ({"id": ""}, "the lead has no id"),
        ({"id": "x", "event": []}, "unknown key 'event'"),
        ({"id": "x", "properties": []}, "properties must be an object"),
        ({"id": "x", "properties": {"a": {"b": 1}}}, "properties.a: must be a string, number"),
        ({"id": "x", "events": {}}, "events must be a list"),
        ({"id": "x", "events": [{"at": "2026-01-01T00:00:00Z"}]}, "events[0].type: missing"),
        (
            {"id": "x", "events": [{"type": "tweet", "at": "2026-01-01T00:00:00Z"}]},
            "unknown event type 'tweet'",
        ),
        ({"id": "x", "events": [{"type": "call"}]}, "events[0].at: missing"),
        ({"id": "x", "events": [{"type": "call", "at": "yesterday"}]}, "not an ISO 8601 timestamp"),
        ({"id": "x", "events": [{"type": "call", "at": "2026-01-01T10:00:00"}]}, "has no timezone"),
        (
            {
                "id": "x",
                "events": [
                    {"type": "content_download", "at": "2026-01-01T00:00:00Z", "kind": "video"}
                ],
            },
            "events[0].kind: 'video' is not a content kind",
        ),
        ({"id": "x", "outcome": True}, "outcome must be an object, not a boolean"),
        ({"id": "x", "outcome": {"won": True}}, "outcome.won: unknown key"),
        ({"id": "x", "outcome": {"converted": "yes"}}, "outcome.converted: must be true, false"),
        ({"id": "x", "outcome": {"amount": "a lot"}}, "outcome.amount: 'a lot' is not a number"),
        (
            {"id": "x", "outcome": {"won_at": "2026-05-02T10:00:00"}},
            "outcome.won_at: '2026-05-02T10:00:00' has no timezone",
        ),
    ],
)
def test_malformed_leads_say_what_and_where(data, message):
    with pytest.raises(LeadError) as caught:
        parse_lead(data, "leads.jsonl:3")
    assert message in str(caught.value)
    assert str(caught.value).startswith("leads.jsonl:3")


def test_lead_json_is_what_parse_lead_reads_back():
    data = {
        "id": "x",
        "properties": {"email": "a@b.io", "company_size": 12, "consent": True, "note": None},
        "events": [
            {"type": "page_view", "at": "2026-11-01T10:00:00Z", "url": "/pricing"},
            {
                "type": "content_download",
                "at": "2026-11-02T08:30:00+02:00",
                "asset": "Acme case study",
                "kind": "case_study",
            },
        ],
        "outcome": {"converted": False, "lost_at": "2026-05-02", "amount": 10.5, "stage": "lost"},
    }
    lead = parse_lead(data)
    written = lead_json(lead)
    assert parse_lead(written) == lead
    assert written["events"][0]["at"] == "2026-11-01T10:00:00Z"
    assert written["outcome"] == {
        "converted": False,
        "stage": "lost",
        "amount": 10.5,
        "lost_at": "2026-05-02T00:00:00Z",
    }
    assert "outcome" not in lead_json(parse_lead({"id": "y"}))
