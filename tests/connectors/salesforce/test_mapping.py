"""The Salesforce connector's pure parts: SOQL quoting, stamps, chunks, event mapping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leadsync.config.accounts import FieldNames, WebActivityObject
from leadsync.connectors.salesforce.activity import (
    calendar_events,
    member_events,
    sources_for,
    task_events,
)
from leadsync.connectors.salesforce.bulk import within_window
from leadsync.connectors.salesforce.records import (
    ScoreFields,
    parse_model,
    reasons_with_model,
)
from leadsync.connectors.salesforce.soql import (
    IN_CHUNK_CHARS,
    chunk_ids,
    field_name,
    flatten,
    format_stamp,
    normal_stamp,
    soql,
)
from leadsync.errors import ConfigError


def test_values_are_quoted_and_escaped_never_spliced() -> None:
    text = soql("SELECT Id FROM Lead WHERE Email = {e} AND Id IN {ids}",
                e="o'hara\\x@y.io", ids=["a", "b'c"])  # fmt: skip
    assert text == (
        "SELECT Id FROM Lead WHERE Email = 'o\\'hara\\\\x@y.io' AND Id IN ('a','b\\'c')"
    )
    assert soql("Description LIKE '%{m:like}%'", m="50%_off") == "Description LIKE '%50\\%\\_off%'"
    when = datetime(2026, 11, 23, 12, 0, 1, 999000, tzinfo=UTC)
    assert soql("SystemModstamp >= {t}", t=when) == "SystemModstamp >= 2026-11-23T12:00:01+00:00"


@pytest.mark.parametrize("bad", ["Email; DELETE", "Title'", "a b", "1Field", "x..y", ""])
def test_field_names_from_config_are_checked(bad: str) -> None:
    with pytest.raises(ConfigError, match="not a Salesforce field name"):
        field_name(bad, "mapping.title")
    assert field_name("Account.Industry", "x") == "Account.Industry"


def test_stamps_have_one_text_form() -> None:
    rest, bulk = "2026-11-23T12:00:01.250+0000", "2026-11-23T12:00:01.250Z"
    assert normal_stamp(rest) == normal_stamp(bulk) == "2026-11-23T12:00:01.250Z"
    assert normal_stamp("2026-11-23T13:00:01.250+0100") == "2026-11-23T12:00:01.250Z"
    assert format_stamp(datetime(2026, 1, 2, tzinfo=UTC)) == "2026-01-02T00:00:00.000Z"
    assert normal_stamp(None) is None and normal_stamp("soon") is None


def test_id_chunks_fit_one_statement() -> None:
    ids = [f"00Q5g{n:013d}" for n in range(9000)]
    chunks = list(chunk_ids(ids))
    assert [len(c) for c in chunks] == [2000, 2000, 2000, 2000, 1000]
    assert all(sum(len(i) + 3 for i in c) <= IN_CHUNK_CHARS for c in chunks)
    assert list(chunk_ids([])) == []


def test_rest_records_flatten_like_bulk_columns() -> None:
    record = {"attributes": {"type": "Lead"}, "Id": "1",
              "Owner": {"attributes": {"type": "Name"}, "IsActive": True}}  # fmt: skip
    assert flatten(record) == {"Id": "1", "Owner.IsActive": True}


def test_model_travels_in_the_reasons() -> None:
    text = reasons_with_model("+20 executive title\n+50 demo request", "b2b-saas@1.0")
    assert parse_model(text) == "b2b-saas@1.0" and text.startswith("+20")
    assert parse_model("written by hand") is None and parse_model(None) is None
    assert len(reasons_with_model("x" * 40_000, "m@1")) == 32_768


def test_hubspot_style_field_names_mean_the_salesforce_defaults() -> None:
    assert ScoreFields.for_account(FieldNames()) == ScoreFields()
    custom = ScoreFields.for_account(FieldNames(score="Score__c"))
    assert custom == ScoreFields(score="Score__c")


AT = "2026-10-01T10:00:00.000+0000"
LATER = "2026-10-03T10:00:00.000+0000"


@pytest.mark.parametrize(
    ("row", "types"),
    [
        ({"TaskSubtype": "Call", "CompletedDateTime": AT}, ["call"]),
        ({"Type": "Email", "Subject": "Email: Re: pricing", "CreatedDate": AT}, ["email_reply"]),
        ({"TaskSubtype": "Email", "Subject": "Email: step 1", "CreatedDate": AT}, []),
        ({"Type": "Meeting", "CreatedDate": AT}, ["meeting"]),
        ({"TaskSubtype": "Task", "Subject": "MQL: x", "CreatedDate": AT}, []),
    ],
)
def test_tasks_become_calls_replies_and_meetings(row: dict[str, str], types: list[str]) -> None:
    assert [e.type for e in task_events(row)] == types


def test_events_are_meetings() -> None:
    [meeting] = calendar_events({"StartDateTime": AT})
    assert meeting.type == "meeting" and meeting.at.day == 1


@pytest.mark.parametrize(
    ("kind", "status", "description", "expected"),
    [
        ("Email", "Opened", None, [("email_open", 1)]),
        ("Email", "Responded", None, [("email_open", 1), ("email_click", 3)]),
        ("Email", "Subscribed", None, [("newsletter_subscribe", 1)]),
        ("Email", "Sent", None, []),
        ("Webinar", "Registered", None, [("webinar_register", 1)]),
        ("Webinar", "Attended", None, [("webinar_register", 1), ("webinar_attend", 3)]),
        ("Conference", "Attended", None, [("webinar_register", 1), ("webinar_attend", 3)]),
        ("Content", "Downloaded", "case_study", [("content_download", 1)]),
        ("Web", "Responded", "demo_request", [("demo_request", 1)]),
        ("Web", "Responded", "Spring landing page", [("form_submit", 1)]),
        ("Advertisement", "Responded", None, []),
    ],
)
def test_campaign_members_by_campaign_type(
    kind: str, status: str, description: str | None, expected: list[tuple[str, int]]
) -> None:
    row = {"Status": status, "CreatedDate": AT, "LastModifiedDate": LATER,
           "HasResponded": status in ("Responded", "Attended", "Downloaded"),
           "Campaign.Type": kind, "Campaign.Name": "Q4 thing",
           "Campaign.Description": description}  # fmt: skip
    events = member_events(row)
    assert [(e.type, e.at.day) for e in events] == expected
    if kind == "Content":
        assert dict(events[0].attrs) == {"asset": "Q4 thing", "kind": "case_study"}


def test_web_activity_objects_map_types_and_attributes() -> None:
    spec = WebActivityObject(object="Web_Visit__c", lead_field="Lead__c", at_field="Visited__c",
                             type_field="Kind__c", types={"view": "page_view"},
                             event_type="form_submit", attributes={"url": "Url__c"})  # fmt: skip
    source = sources_for("Lead", [spec])[-1]
    assert source.soql("Lead__c != null") == (
        "SELECT Lead__c, Visited__c, Kind__c, Url__c FROM Web_Visit__c WHERE Lead__c != null"
    )
    [view] = source.to_events({"Visited__c": AT, "Kind__c": "view", "Url__c": "/pricing"})
    assert (view.type, dict(view.attrs)) == ("page_view", {"url": "/pricing"})
    bad = WebActivityObject(object="X__c; DELETE", lead_field="Lead__c")
    with pytest.raises(ConfigError):
        sources_for("Lead", [bad])


def test_bulk_write_windows() -> None:
    stamp = "bulk:2026-11-23T12:00:00.000Z|2026-11-23T12:00:09.000Z|005A"
    assert within_window(stamp, "2026-11-23T12:00:05.000Z", "005A")
    assert not within_window(stamp, "2026-11-23T12:00:05.000Z", "005B")  # someone else
    assert not within_window(stamp, "2026-11-23T12:00:10.000Z", "005A")  # after the job
    assert not within_window("2026-11-23T12:00:05.000Z", "2026-11-23T12:00:05.000Z", "005A")
