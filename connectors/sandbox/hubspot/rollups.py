"""Contact properties derived from a generated person and its activities.

HubSpot keeps rollup properties on every contact (page views, sessions, form
submissions, email opens and clicks, opt-out, last contacted…) on every tier; the
sandbox computes them from the same activity list that feeds the engagements and
the Enterprise events API, so the three always agree. Property names: the facts
sheet § Behaviour data on HubSpot.
"""

from __future__ import annotations

import random
from datetime import datetime

from leadsync.connectors.sandbox.data import Activity, Person
from leadsync.connectors.sandbox.hubspot.deals import lifecycle_props
from leadsync.connectors.sandbox.hubspot.props import NUMEMPLOYEES_OPTIONS, format_ms

__all__ = ["derive_contact", "ms"]

_SOURCES = (
    "ORGANIC_SEARCH",
    "DIRECT_TRAFFIC",
    "EMAIL_MARKETING",
    "SOCIAL_MEDIA",
    "REFERRALS",
    "PAID_SEARCH",
)


def ms(dt: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return int(dt.timestamp() * 1000)


def _size_band(size: int | None) -> str | None:
    """A company size → HubSpot's ``numemployees`` picklist value."""
    if size is None:
        return None
    for bound, band in zip((5, 25, 50, 100, 500, 1000), NUMEMPLOYEES_OPTIONS, strict=False):
        if size <= bound:
            return band
    return NUMEMPLOYEES_OPTIONS[-1]


def derive_contact(p: Person, key: int, acts: list[Activity]) -> dict[str, str | None]:
    """Base and rollup properties of a contact, computed from its person and activities."""
    rng = random.Random(key * 31 + p.seed)
    fmt = format_ms
    last_ms = ms(p.created_at)
    views = visits = forms = opens = clicks = sales = 0
    last_view = first_view = None
    last_url: str | None = None
    form_names: set[str] = set()
    first_conv = recent_conv = None
    first_conv_ms = recent_conv_ms = None
    last_open = last_click = last_reply = last_contacted = last_sales = None
    last_email: str | None = None
    optout = not p.marketing_consent
    for a in acts:
        at = ms(a.at)
        last_ms = max(last_ms, at)
        k = a.kind
        if k == "page_view":
            if last_view is None or at - last_view > 30 * 60_000:
                visits += 1
            views += 1
            first_view = at if first_view is None else first_view
            last_view, last_url = at, a.attrs.get("url")
        elif k == "form_submit":
            forms += 1
            name = a.attrs.get("form", "")
            form_names.add(name)
            if first_conv is None:
                first_conv, first_conv_ms = name, at
            recent_conv, recent_conv_ms = name, at
        elif k == "email_open":
            opens += 1
            last_open, last_email = at, a.attrs.get("campaign")
        elif k == "email_click":
            clicks += 1
            last_click = at
        elif k == "email_reply":
            last_reply = last_sales = at
            sales += 1
        elif k in ("call", "meeting"):
            last_contacted = last_sales = at
            sales += 1
        elif k == "newsletter_unsubscribe":
            optout = True
        elif k == "newsletter_subscribe":
            optout = not p.marketing_consent
    lifecycle = "subscriber" if forms and form_names <= {"Newsletter signup"} else "lead"
    if p.owner_id is None:
        status = "NEW"
    else:
        status = rng.choice(
            ("OPEN", "IN_PROGRESS", "ATTEMPTED_TO_CONTACT", "CONNECTED", "UNQUALIFIED")
        )
    return {
        "firstname": p.first_name,
        "lastname": p.last_name,
        "email": p.email,
        "jobtitle": p.title,
        "company": p.company,
        "numemployees": _size_band(p.company_size),
        "industry": p.industry,
        "country": p.country,
        "hubspot_owner_id": p.owner_id,
        "createdate": fmt(ms(p.created_at)),
        "lastmodifieddate": fmt(last_ms),
        "hs_object_id": str(key + 1),
        "lifecyclestage": lifecycle,
        "hs_lead_status": status,
        "uses_competitor": "true" if p.uses_competitor else "false",
        "age": str(p.age) if p.age is not None else None,
        "trading_area": p.trading_area,
        **lifecycle_props(p),
        "hs_analytics_num_page_views": str(views),
        "hs_analytics_num_visits": str(visits),
        "hs_analytics_first_visit_timestamp": fmt(first_view) if first_view else None,
        "hs_analytics_last_visit_timestamp": fmt(last_view) if last_view else None,
        "hs_analytics_last_url": last_url,
        "hs_analytics_source": rng.choice(_SOURCES),
        "num_conversion_events": str(forms),
        "num_unique_conversion_events": str(len(form_names)),
        "first_conversion_event_name": first_conv,
        "first_conversion_date": fmt(first_conv_ms) if first_conv_ms else None,
        "recent_conversion_event_name": recent_conv,
        "recent_conversion_date": fmt(recent_conv_ms) if recent_conv_ms else None,
        "hs_email_open": str(opens),
        "hs_email_click": str(clicks),
        "hs_email_last_open_date": fmt(last_open) if last_open else None,
        "hs_email_last_click_date": fmt(last_click) if last_click else None,
        "hs_email_last_email_name": last_email,
        "hs_email_optout": "true" if optout else "false",
        "notes_last_contacted": fmt(last_contacted) if last_contacted else None,
        "hs_last_sales_activity_date": fmt(last_sales) if last_sales else None,
        "hs_sales_email_last_replied": fmt(last_reply) if last_reply else None,
        "num_contacted_notes": str(sales),
    }
