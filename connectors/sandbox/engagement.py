"""A generated person's year of engagement: what they did, when, on which page or email.

Split from :mod:`~leadsync.connectors.sandbox.data` (who the people are): the activities
are never stored, only regenerated from ``(seed, key)`` by :func:`activities_of`, with
the person's latent intent and persona driving what they do.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leadsync.connectors.sandbox.data import Person

__all__ = ["DAY", "YEAR", "Activity", "activities_of", "weights"]

DAY = 86_400.0
YEAR = 365 * DAY


@dataclass(frozen=True, slots=True)
class Activity:
    """One thing a person did; ``kind`` is a canonical leadsync event type.

    ``attrs`` by kind: page_view ``url`` (full https URL); form_submit ``form``;
    email_* ``campaign`` and ``campaign_type`` (+ ``url`` for a click); webinar_*
    ``name``; content_download ``asset`` and ``kind`` (white_paper, case_study,
    buying_guide, ebook); meeting ``title``; call ``outcome`` and ``duration_s``;
    cart_add, cart_abandon and purchase ``product`` and ``amount`` (consumers only).
    """

    kind: str
    at: datetime
    attrs: Mapping[str, str]


def weights(items: tuple[tuple[object, ...], ...]) -> tuple[list[object], list[float]]:
    """Split a ``(value, …, weight)`` table into values and cumulative weights."""
    values = [row[0] if len(row) == 2 else row[:-1] for row in items]
    cum: list[float] = []
    total = 0.0
    for row in items:
        total += float(row[-1])  # type: ignore[arg-type]
        cum.append(total)
    return values, cum


# Engagement vocabulary -------------------------------------------------------------

_SITE = "https://www.example-saas.com"
_BLOG = (
    "/blog/what-is-lead-scoring", "/blog/mql-vs-sql", "/blog/crm-hygiene-checklist",
    "/blog/b2b-marketing-trends-2026", "/blog/how-to-run-a-webinar", "/blog/gdpr-and-crm",
)  # fmt: skip
_PAGES: tuple[tuple[str, float], ...] = (
    ("/", 10), ("/product", 6), ("/features", 5), ("/integrations", 3), ("/customers", 2),
    ("/case-studies", 2), ("/new-arrivals", 2), ("/about", 2), ("/contact", 1.5),
)  # fmt: skip
_CAMPAIGNS: tuple[tuple[str, str, float], ...] = (
    ("Monthly newsletter", "newsletter", 6),
    ("Product update", "product", 3),
    ("Black Friday promo", "promotional", 2),
    ("Spring sale: 20% off", "promotional", 2),
    ("Webinar invitation", "event", 2),
    ("Case study: how Acme doubled its pipeline", "content", 2),
    ("Prospecting sequence step 1", "sales", 1.5),
)  # fmt: skip
_WEBINARS = ("Lead scoring 101", "From MQL to SQL", "CRM automation live", "Q3 product tour")
# Every name carries its kind's words ("white paper", "case study", "buying guide",
# "ebook"): the HubSpot connector knows a download's kind only from its form's name.
_ASSETS: tuple[tuple[str, str], ...] = (
    ("White paper: the state of B2B marketing 2026", "white_paper"),
    ("GDPR for marketers white paper", "white_paper"),
    ("Case study: how Globex shortened its sales cycle", "case_study"),
    ("Acme case study", "case_study"),
    ("CRM buying guide", "buying_guide"),
    ("The lead scoring ebook", "ebook"),
)  # fmt: skip
_MEETINGS = ("Discovery call", "Product demo", "Pricing discussion", "Onboarding kick-off")
_CALL_OUTCOMES = ("CONNECTED", "CONNECTED", "NO_ANSWER", "LEFT_VOICEMAIL", "BUSY")

_PAGE_V, _PAGE_W = weights(_PAGES)
_CAMP_V, _CAMP_W = weights(_CAMPAIGNS)


def activities_of(p: Person) -> list[Activity]:
    """Build a person's activities from ``(seed, key)``; see :meth:`Person.activities`."""
    rng = random.Random((p.seed * (1 << 40) + p.key) * 2 + 1)
    rand, choice = rng.random, rng.choice
    end = p.as_of.timestamp()
    start = max(p.created_at.timestamp(), end - YEAR)
    # Recency: a quarter of the people have been silent for more than 90 days.
    if rand() < 0.25:
        end -= rng.uniform(91, 300) * DAY
    else:
        end -= rng.uniform(0, 45) * DAY
    if end <= start:
        return []
    intent = p.intent / 100.0
    n = min(150, int(rng.expovariate(1.0 / (2.0 + 30.0 * intent))) + (1 if rand() < 0.9 else 0))
    rand()  # was the job-seeker draw; kept so that the draws after it stay as they were
    job_seeker = p.job_seeker
    subscribed = False
    acts: list[tuple[float, str, dict[str, str]]] = []
    add = acts.append
    span = end - start

    def at_offset(ts: float, minutes: float) -> float:
        return min(end, ts + minutes * 60.0)

    for _ in range(n):
        ts = start + rand() * span
        r = rand()
        if r < 0.42:  # a visit: one to five page views, minutes apart
            for _page in range(1 + int(rng.expovariate(1.0) * 1.5) % 5):
                add((ts, "page_view", {"url": _SITE + _page_path(rng, intent, job_seeker)}))
                ts = at_offset(ts, rng.uniform(0.5, 6))
        elif r < 0.64:
            camp, ctype = rng.choices(_CAMP_V, cum_weights=_CAMP_W)[0]  # type: ignore[misc]
            add((ts, "email_open", {"campaign": camp, "campaign_type": ctype}))
            if rand() < 0.25 + 0.4 * intent:
                url = _SITE + ("/new-arrivals" if ctype == "promotional" else "/blog/mql-vs-sql")
                add(
                    (
                        at_offset(ts, 2),
                        "email_click",
                        {"campaign": camp, "campaign_type": ctype, "url": url},
                    )
                )
            if ctype == "sales" and rand() < 0.3 + 0.3 * intent:
                add((at_offset(ts, 90), "email_reply", {"campaign": camp, "campaign_type": ctype}))
        elif r < 0.71:
            asset, akind = choice(_ASSETS)
            add((ts, "form_submit", {"form": f"Download: {asset}"}))
            add((at_offset(ts, 0.1), "content_download", {"asset": asset, "kind": akind}))
        elif r < 0.76:
            name = choice(_WEBINARS)
            add((ts, "form_submit", {"form": f"Webinar registration: {name}"}))
            add((at_offset(ts, 0.1), "webinar_register", {"name": name}))
            if rand() < 0.45 + 0.3 * intent:
                add((at_offset(ts, rng.uniform(60, 14 * 1440)), "webinar_attend", {"name": name}))
        elif r < 0.80:
            if not subscribed:
                add((ts, "form_submit", {"form": "Newsletter signup"}))
                add((at_offset(ts, 0.1), "newsletter_subscribe", {"list": "Monthly newsletter"}))
                subscribed = True
            elif rand() < 0.5 - 0.3 * intent:
                add((ts, "newsletter_unsubscribe", {"list": "Monthly newsletter"}))
                subscribed = False
        elif r < 0.80 + 0.05 * (0.3 + intent):
            add((ts, "form_submit", {"form": "Request a demo"}))
            add((at_offset(ts, 0.1), "demo_request", {"form": "Request a demo"}))
        elif r < 0.88:
            if rand() < 0.7:
                add((ts, "form_submit", {"form": "Contact us"}))
                add((at_offset(ts, 0.1), "contact_request", {"form": "Contact us"}))
            else:
                add((ts, "form_submit", {"form": "Request a quote"}))
                add((at_offset(ts, 0.1), "quote_request", {"form": "Request a quote"}))
        elif r < 0.94:
            add(
                (
                    ts,
                    "call",
                    {"outcome": choice(_CALL_OUTCOMES), "duration_s": str(rng.randrange(20, 1800))},
                )
            )
        else:
            add((ts, "meeting", {"title": choice(_MEETINGS)}))
    if p.domain is None:  # a consumer (personal or no email): online-shop behaviour
        acts += _shop(p, start, end)
    acts.sort(key=lambda a: a[0])
    return [
        Activity(kind=kind, at=datetime.fromtimestamp(int(ts), tz=UTC), attrs=attrs)
        for ts, kind, attrs in acts
    ]


_PRODUCTS = (("Wireless earbuds", 59.9), ("Running shoes", 89.0), ("Coffee grinder", 45.5),
             ("Yoga mat", 25.0), ("Desk lamp", 34.9), ("Backpack", 72.0))  # fmt: skip


def _shop(p: Person, start: float, end: float) -> list[tuple[float, str, dict[str, str]]]:
    """A consumer's cart and purchase events, from their own generator.

    Kept apart from the main draws so that adding them left every other activity as it
    was. A cart is bought within hours or abandoned (``cart_abandon`` 24 h later).
    """
    rng = random.Random(f"shop:{p.seed}:{p.key}")
    if rng.random() > 0.6:
        return []
    out: list[tuple[float, str, dict[str, str]]] = []
    for _ in range(1 + int(rng.expovariate(1.0 / (0.5 + 3 * p.intent / 100)))):
        ts = start + rng.random() * (end - start)
        product, price = rng.choice(_PRODUCTS)
        attrs = {"product": product, "amount": f"{price:.2f}"}
        out.append((ts, "cart_add", attrs))
        if rng.random() < 0.3 + 0.4 * p.intent / 100:
            out.append((min(end, ts + rng.uniform(60, 6 * 3600)), "purchase", dict(attrs)))
        elif ts + DAY <= end:
            out.append((ts + DAY, "cart_abandon", dict(attrs)))
    return out


def _page_path(rng: random.Random, intent: float, job_seeker: bool) -> str:
    """Pick a page: pricing more likely with intent; careers pages for job seekers only."""
    r = rng.random()
    if r < 0.08 + 0.25 * intent:
        return "/pricing"
    if r < 0.35 + 0.1 * intent:
        return rng.choice(_BLOG)
    if job_seeker and r < 0.65:
        return rng.choice(("/careers", "/jobs", "/careers/sales-development-rep"))
    return str(rng.choices(_PAGE_V, cum_weights=_PAGE_W)[0])
