"""HubSpot behaviour data → canonical events: the mapping table of ``MAPPING.md``."""

from __future__ import annotations

from datetime import UTC, datetime

from leadsync.connectors.hubspot.engagement import (
    api_events,
    engagement_events,
    form_events,
    parse_time,
    rollup_events,
)

LAST = datetime(2026, 10, 30, 9, 0, tzinfo=UTC)
FIRST = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def test_hubspot_dates_parse_as_utc() -> None:
    assert parse_time("2026-10-30T09:00:00.000Z") == LAST
    assert parse_time(str(int(LAST.timestamp() * 1000))) == LAST
    assert parse_time("2026-10-30") == datetime(2026, 10, 30, tzinfo=UTC)
    assert parse_time("") is None and parse_time("soon") is None


def test_page_view_rollups_keep_the_count_and_the_last_visit() -> None:
    props = {
        "hs_analytics_num_page_views": "5",
        "hs_analytics_first_visit_timestamp": "2026-06-01T09:00:00.000Z",
        "hs_analytics_last_visit_timestamp": "2026-10-30T09:00:00.000Z",
        "hs_analytics_last_url": "https://acme.io/pricing",
    }
    views = rollup_events(props, web=True)
    assert [e.type for e in views] == ["page_view"] * 5
    assert views[0].at == FIRST and views[-1].at == LAST
    assert dict(views[-1].attrs) == {"url": "https://acme.io/pricing"}
    assert all(e.attrs.get("estimated") for e in views[:-1])
    assert rollup_events(props, web=False) == []  # the events API has them instead


def test_form_rollups_and_form_names() -> None:
    props = {
        "num_conversion_events": "3",
        "first_conversion_event_name": "Download: CRM buying guide",
        "first_conversion_date": "2026-06-01T09:00:00.000Z",
        "recent_conversion_event_name": "Request a demo",
        "recent_conversion_date": "2026-10-30T09:00:00.000Z",
    }
    events = rollup_events(props, web=True)
    types = sorted(e.type for e in events)
    assert types == ["content_download", "demo_request", "form_submit", "form_submit",
                     "form_submit"]  # fmt: skip
    download = next(e for e in events if e.type == "content_download")
    assert dict(download.attrs) == {"asset": "CRM buying guide", "kind": "buying_guide"}
    assert [e.type for e in form_events("Webinar registration: Scoring 101", LAST)] == [
        "webinar_register"
    ]
    assert [e.type for e in form_events("Newsletter signup", LAST)] == ["newsletter_subscribe"]
    assert [e.type for e in form_events("Request a quote", LAST)] == ["quote_request"]
    assert [e.type for e in form_events("Contact us", LAST)] == ["contact_request"]
    assert form_events("Survey", LAST) == []


def test_email_rollups_and_opt_out() -> None:
    props = {
        "createdate": "2026-01-01T00:00:00.000Z",
        "hs_email_open": "3",
        "hs_email_last_open_date": "2026-10-30T09:00:00.000Z",
        "hs_email_last_email_name": "November newsletter",
        "hs_email_click": "1",
        "hs_email_last_click_date": "2026-10-01T09:00:00.000Z",
        "hs_email_optout": "true",
    }
    events = rollup_events(props, web=False)
    opens = [e for e in events if e.type == "email_open"]
    assert len(opens) == 3 and opens[-1].at == LAST
    assert opens[-1].attrs["campaign"] == "November newsletter"
    assert opens[0].at == datetime(2026, 1, 1, tzinfo=UTC)
    assert [e.type for e in events].count("email_click") == 1
    [unsubscribe] = [e for e in events if e.type == "newsletter_unsubscribe"]
    assert unsubscribe.at == LAST  # no date in HubSpot: the latest email date, stable


def test_events_api_occurrences() -> None:
    results = [
        {"eventType": "e_visited_page", "occurredAt": "2026-10-30T09:00:00.000Z",
         "properties": {"hs_url": "https://acme.io/pricing", "hs_title": "Pricing"}},
        {"eventType": "e_submitted_form", "occurredAt": "2026-10-30T09:00:00.000Z",
         "properties": {"hs_form_title": "Request a demo"}},
        {"eventType": "e_attended_marketing_event", "occurredAt": "2026-10-30T09:00:00.000Z",
         "properties": {"hs_marketing_event": "Scoring 101"}},
        {"eventType": "pe4242_purchase", "occurredAt": "2026-10-30T09:00:00.000Z",
         "properties": {"product": "Yoga mat", "amount": "25.00"}},
        {"eventType": "pe4242_wishlist", "occurredAt": "2026-10-30T09:00:00.000Z"},
    ]  # fmt: skip
    events, unknown = api_events(results)
    assert [e.type for e in events] == [
        "page_view", "form_submit", "demo_request", "webinar_attend", "purchase",
    ]  # fmt: skip
    assert events[0].attrs["url"] == "https://acme.io/pricing"
    assert dict(events[-1].attrs) == {"product": "Yoga mat", "amount": 25.0}
    assert unknown == 1


def test_engagement_objects() -> None:
    emails = [
        {"properties": {"hs_timestamp": "2026-10-30T09:00:00.000Z",
                        "hs_email_direction": "INCOMING_EMAIL"}},
        {"properties": {"hs_timestamp": "2026-10-30T09:00:00.000Z", "hs_email_direction": "EMAIL"}},
    ]  # fmt: skip
    assert [e.type for e in engagement_events("emails", emails)] == ["email_reply"]
    [call] = engagement_events(
        "calls",
        [{"properties": {"hs_timestamp": "2026-10-30T09:00:00.000Z", "hs_call_status": "COMPLETED",
                         "hs_call_duration": "90000"}}],
    )  # fmt: skip
    assert call.type == "call" and dict(call.attrs) == {"status": "COMPLETED", "duration_s": 90}
    [meeting] = engagement_events(
        "meetings",
        [{"properties": {"hs_meeting_start_time": "2026-10-30T09:00:00.000Z",
                         "hs_meeting_title": "Demo"}}],
    )  # fmt: skip
    assert meeting.type == "meeting" and meeting.at == LAST and meeting.attrs["title"] == "Demo"
