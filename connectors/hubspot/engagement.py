"""HubSpot behaviour data → canonical leadsync events (pure functions, no HTTP).

HubSpot keeps a contact's behaviour in three places; which ones a portal offers decides
how precise the canonical events are. The connector reads the rollups on every contact,
the engagement objects through associations, and the events API when the account has
it (Enterprise); this module turns each into :class:`~leadsync.scoring.lead.Event`.

=============================================  ==========================  ==================
HubSpot data                                   canonical event             source used when
=============================================  ==========================  ==================
events API ``e_visited_page`` (hs_url,         ``page_view`` (url, title)  events API
hs_title)
events API ``e_submitted_form``                ``form_submit`` (form) +    events API
(hs_form_title)                                form-name events (below)
events API ``e_attended_marketing_event``      ``webinar_attend`` (name)   events API
events API ``pe<portal>_<type>`` custom        ``<type>`` when canonical   events API
events (cart_add, cart_abandon, purchase…)     (product, amount)
``hs_analytics_num_page_views`` N, first/last  N × ``page_view``: last at  no events API
visit timestamps, ``hs_analytics_last_url``    last visit with the URL,
                                               the rest spread evenly back
                                               to the first visit, no URL
``num_conversion_events`` N, first/recent      N × ``form_submit``: first  no events API
conversion name + date                         and recent with their names
                                               and dates, the rest spread
                                               between them, no name
form names (either source): "demo" →           ``demo_request``,           both
``demo_request``, "quote" →                    ``quote_request``,
``quote_request``, "contact" →                 ``contact_request``,
``contact_request``, "download:" / white       ``content_download``,
paper / case study / guide / ebook →           ``webinar_register``,
``content_download`` (asset, kind), "webinar"  ``newsletter_subscribe``
→ ``webinar_register``, "newsletter" /
"subscribe" → ``newsletter_subscribe``
``hs_email_open`` N + last open date + last    N × ``email_open``: last    always
email name                                     dated and named, the rest
                                               spread over the year before
``hs_email_click`` N + last click date         N × ``email_click``, same   always
``hs_email_optout`` = true                     ``newsletter_unsubscribe``  always
                                               at the latest email date
                                               (else the create date)
emails engagement, ``INCOMING_EMAIL``          ``email_reply``             always
calls engagement (hs_timestamp)                ``call`` (status,           always
                                               duration_s)
meetings engagement (start time)               ``meeting`` (title,         always
                                               outcome)
=============================================  ==========================  ==================

What is lost without the events API (Starter/Professional): the dates of every page
view but the first and last, the URL of every page view but the last, page titles; the
names and dates of form submissions other than the first and most recent; webinar
attendance; custom behavioural events (shop carts and purchases). Rollup-derived events
carry ``estimated: true`` when their date or count is spread rather than known.
Always lost: the campaign and URL of email opens/clicks other than the last, and the
exact date of an unsubscribe (HubSpot keeps only the flag without property history).
Outgoing emails logged by reps are the rep's action, not the lead's, and are not events.
Engagement objects are looked up only for contacts whose rollups show such activity
(:data:`ENGAGEMENT_HINTS`). ``connectors/hubspot/MAPPING.md`` has this table in full.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from leadsync.scoring.lead import EVENT_TYPES, Event, Scalar

__all__ = [
    "ENGAGEMENT_HINTS",
    "ENGAGEMENT_PROPERTIES",
    "ROLLUP_PROPERTIES",
    "api_events",
    "engagement_events",
    "parse_time",
    "rollup_events",
]

#: Contact properties the rollup mapping reads (requested with every contact).
ROLLUP_PROPERTIES: tuple[str, ...] = (
    "createdate",
    "hs_analytics_num_page_views",
    "hs_analytics_first_visit_timestamp",
    "hs_analytics_last_visit_timestamp",
    "hs_analytics_last_url",
    "num_conversion_events",
    "first_conversion_event_name",
    "first_conversion_date",
    "recent_conversion_event_name",
    "recent_conversion_date",
    "hs_email_open",
    "hs_email_click",
    "hs_email_last_open_date",
    "hs_email_last_click_date",
    "hs_email_last_email_name",
    "hs_email_optout",
    "hs_sales_email_last_replied",
    "notes_last_contacted",
    "hs_last_sales_activity_date",
)

#: Engagement object types read through associations, with the properties mapped.
ENGAGEMENT_PROPERTIES: Mapping[str, tuple[str, ...]] = {
    "emails": ("hs_timestamp", "hs_email_direction", "hs_email_subject"),
    "calls": ("hs_timestamp", "hs_call_status", "hs_call_duration"),
    "meetings": ("hs_timestamp", "hs_meeting_start_time", "hs_meeting_title", "hs_meeting_outcome"),
}

#: Rollups that say a contact may have engagement objects of a type: contacts with none
#: of them set are not looked up (an email reply sets ``hs_sales_email_last_replied``;
#: a logged call or meeting sets the last-contacted and last-activity dates).
ENGAGEMENT_HINTS: Mapping[str, tuple[str, ...]] = {
    "emails": ("hs_sales_email_last_replied",),
    "calls": ("notes_last_contacted", "hs_last_sales_activity_date"),
    "meetings": ("notes_last_contacted", "hs_last_sales_activity_date"),
}

#: A cap on events made from one rollup count (a bot with 100,000 page views).
MAX_SPREAD = 500
_YEAR = timedelta(days=365)
_CUSTOM_EVENT = re.compile(r"^pe\d+_(?P<name>\w+)$")
_CONTENT_KINDS = (
    ("white paper", "white_paper"),
    ("whitepaper", "white_paper"),
    ("case study", "case_study"),
    ("buying guide", "buying_guide"),
    ("guide", "buying_guide"),
    ("ebook", "ebook"),
    ("e-book", "ebook"),
)


def parse_time(value: Any) -> datetime | None:
    """HubSpot's date values (epoch ms text, ISO 8601 with ``Z``, a date) as aware UTC."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        if text.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _count(value: Any) -> int:
    try:
        return max(0, min(MAX_SPREAD, int(float(str(value)))))
    except (TypeError, ValueError):
        return 0


def _spread(first: datetime, last: datetime, n: int) -> list[datetime]:
    """``n`` instants evenly from ``first`` to ``last`` inclusive (only ``last`` if n == 1)."""
    if n <= 0:
        return []
    if n == 1 or last <= first:
        return [last] * n
    step = (last - first) / (n - 1)
    return [first + step * i for i in range(n)]


def form_events(form: str | None, at: datetime) -> list[Event]:
    """The events a form's name implies besides ``form_submit`` (see the module table)."""
    if not form:
        return []
    name = form.casefold()
    out: list[Event] = []
    if "demo" in name:
        out.append(Event.create("demo_request", at, {"form": form}))
    elif "quote" in name:
        out.append(Event.create("quote_request", at, {"form": form}))
    elif "contact" in name:
        out.append(Event.create("contact_request", at, {"form": form}))
    elif "webinar" in name:
        webinar = form.split(":", 1)[1].strip() if ":" in form else form
        out.append(Event.create("webinar_register", at, {"name": webinar}))
    elif "newsletter" in name or "subscribe" in name:
        out.append(Event.create("newsletter_subscribe", at, {"form": form}))
    elif "download" in name or any(word in name for word, _ in _CONTENT_KINDS):
        asset = form.split(":", 1)[1].strip() if ":" in form else form
        attrs: dict[str, Scalar] = {"asset": asset}
        kind = next((k for word, k in _CONTENT_KINDS if word in asset.casefold()), None)
        if kind:
            attrs["kind"] = kind
        out.append(Event.create("content_download", at, attrs))
    return out


def _form(form: str | None, at: datetime, estimated: bool = False) -> list[Event]:
    attrs: dict[str, Scalar] = {"form": form} if form else {}
    if estimated:
        attrs["estimated"] = True
    return [Event.create("form_submit", at, attrs), *form_events(form, at)]


def rollup_events(props: Mapping[str, Any], *, web: bool) -> list[Event]:
    """Events from a contact's rollup properties; ``web=False`` leaves page views and
    forms to the events API (only email rollups and the opt-out are then mapped)."""
    out: list[Event] = []
    if web:
        out += _page_views(props)
        out += _forms(props)
    out += _emails(props, "email_open", "hs_email_open", "hs_email_last_open_date")
    out += _emails(props, "email_click", "hs_email_click", "hs_email_last_click_date")
    if str(props.get("hs_email_optout") or "").lower() == "true":
        dates = [
            parse_time(props.get(name))
            for name in ("hs_email_last_open_date", "hs_email_last_click_date", "createdate")
        ]
        known = [d for d in dates if d is not None]
        if known:
            out.append(Event.create("newsletter_unsubscribe", max(known), {"estimated": True}))
    return out


def _page_views(props: Mapping[str, Any]) -> list[Event]:
    n = _count(props.get("hs_analytics_num_page_views"))
    last = parse_time(props.get("hs_analytics_last_visit_timestamp"))
    if not n or last is None:
        return []
    first = parse_time(props.get("hs_analytics_first_visit_timestamp")) or last
    url = props.get("hs_analytics_last_url")
    out = [Event.create("page_view", at, {"estimated": True}) for at in _spread(first, last, n)]
    out[-1] = Event.create("page_view", last, {"url": url} if url else {})
    return out


def _forms(props: Mapping[str, Any]) -> list[Event]:
    n = _count(props.get("num_conversion_events"))
    recent = parse_time(props.get("recent_conversion_date"))
    if not n or recent is None:
        return []
    first = parse_time(props.get("first_conversion_date")) or recent
    out = _form(props.get("recent_conversion_event_name"), recent)
    if n >= 2:
        out += _form(props.get("first_conversion_event_name"), first)
        for at in _spread(first, recent, n)[1:-1]:
            out += _form(None, at, estimated=True)
    return out


def _emails(props: Mapping[str, Any], kind: str, count: str, last_date: str) -> list[Event]:
    n = _count(props.get(count))
    last = parse_time(props.get(last_date))
    if not n or last is None:
        return []
    created = parse_time(props.get("createdate"))
    first = max(created, last - _YEAR) if created and created < last else last - _YEAR
    campaign = props.get("hs_email_last_email_name") if kind == "email_open" else None
    out = [Event.create(kind, at, {"estimated": True}) for at in _spread(first, last, n)]
    out[-1] = Event.create(kind, last, {"campaign": campaign} if campaign else {})
    return out


def api_events(results: Iterable[Mapping[str, Any]]) -> tuple[list[Event], int]:
    """Events API occurrences → events, and how many had no canonical meaning."""
    out: list[Event] = []
    unknown = 0
    for item in results:
        at = parse_time(item.get("occurredAt"))
        etype = str(item.get("eventType") or "")
        props: Mapping[str, Any] = item.get("properties") or {}
        if at is None:
            unknown += 1
        elif etype == "e_visited_page":
            attrs = {"url": props.get("hs_url"), "title": props.get("hs_title")}
            out.append(Event.create("page_view", at, {k: v for k, v in attrs.items() if v}))
        elif etype == "e_submitted_form":
            out += _form(props.get("hs_form_title"), at)
        elif etype == "e_attended_marketing_event":
            name = props.get("hs_marketing_event")
            out.append(Event.create("webinar_attend", at, {"name": name} if name else {}))
        elif (found := _CUSTOM_EVENT.match(etype)) and found["name"] in EVENT_TYPES:
            out.append(Event.create(found["name"], at, _scalars(props)))
        else:
            unknown += 1
    return out, unknown


def _scalars(props: Mapping[str, Any]) -> dict[str, Scalar]:
    out: dict[str, Scalar] = {}
    for key, value in props.items():
        if key == "amount":
            try:
                out[key] = float(value)
                continue
            except (TypeError, ValueError):
                pass
        if value is None or isinstance(value, str | int | float | bool):
            out[key] = value
    return out


def engagement_events(object_type: str, objects: Iterable[Mapping[str, Any]]) -> list[Event]:
    """Engagement objects (their ``properties``) of one type → events (see the table)."""
    out: list[Event] = []
    for obj in objects:
        props: Mapping[str, Any] = obj.get("properties") or {}
        at = parse_time(props.get("hs_timestamp")) or parse_time(obj.get("createdAt"))
        if object_type == "emails":
            if props.get("hs_email_direction") == "INCOMING_EMAIL" and at:
                out.append(Event.create("email_reply", at))
        elif object_type == "calls" and at:
            attrs: dict[str, Scalar] = {}
            if props.get("hs_call_status"):
                attrs["status"] = props["hs_call_status"]
            with contextlib.suppress(TypeError, ValueError):
                attrs["duration_s"] = int(float(props.get("hs_call_duration") or 0)) // 1000
            out.append(Event.create("call", at, attrs))
        elif object_type == "meetings":
            start = parse_time(props.get("hs_meeting_start_time")) or at
            if start:
                attrs = {}
                for key, name in (("hs_meeting_title", "title"), ("hs_meeting_outcome", "outcome")):
                    if props.get(key):
                        attrs[name] = props[key]
                out.append(Event.create("meeting", start, attrs))
    return out
