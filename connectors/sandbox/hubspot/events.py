"""The Enterprise events API's data: web-analytics and custom events of contacts.

HubSpot's events API (``GET /events/v3/events``, Enterprise only) returns event
occurrences linked to CRM records: standard events such as page views
(``e_visited_page``) and form submissions (``e_submitted_form``), and custom
behavioural events named ``pe{HubID}_{name}``. The sandbox derives them from the
generated activities (the same ones behind the contact rollups), indexes them by
time and renders the ``ExternalUnifiedEvent`` model of hubspot-api-client.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from leadsync.connectors.sandbox.data import Activity
from leadsync.connectors.sandbox.hubspot.props import format_ms
from leadsync.connectors.sandbox.hubspot.rollups import ms

__all__ = ["EVENT_TYPES", "PORTAL_ID", "EventLog", "IndexEntry"]

#: The sandbox account's portal id (custom event names are ``pe{portal}_{name}``).
PORTAL_ID = 4242
#: Enterprise event types (``/events/v3/events``) and the activity kinds behind them:
#: standard web-analytics events, and custom behavioural events for the shop.
EVENT_TYPES: dict[str, str] = {
    "page_view": "e_visited_page",
    "form_submit": "e_submitted_form",
    "webinar_attend": "e_attended_marketing_event",
    "cart_add": f"pe{PORTAL_ID}_cart_add",
    "cart_abandon": f"pe{PORTAL_ID}_cart_abandon",
    "purchase": f"pe{PORTAL_ID}_purchase",
}

#: ``(occurred ms, contact key, activity index, event type)``.
IndexEntry = tuple[int, int, int, str]


class EventLog:
    """Events of every contact: per-contact lists, a global time index (cached), JSON."""

    def __init__(
        self, activities: Callable[[int], list[Activity]], contacts: int, lock: threading.RLock
    ) -> None:
        self._activities = activities
        self._contacts = contacts
        self._lock = lock
        self._index: list[IndexEntry] | None = None

    def invalidate(self) -> None:
        """Forget the global index (activities were added)."""
        with self._lock:
            self._index = None

    def of(self, key: int) -> list[dict[str, Any]]:
        """Every event of one contact as JSON, oldest first."""
        return self.to_json(self.index(key))

    def index(self, key: int | None = None) -> list[IndexEntry]:
        """Events oldest first: one contact's when ``key`` is given, else everyone's (cached)."""
        if key is not None:
            return [
                (ms(a.at), key, idx, EVENT_TYPES[a.kind])
                for idx, a in enumerate(self._activities(key))
                if a.kind in EVENT_TYPES
            ]
        with self._lock:
            if self._index is None:
                entries = [e for k in range(self._contacts) for e in self.index(k)]
                entries.sort()
                self._index = entries
            return self._index

    def to_json(self, entries: list[IndexEntry]) -> list[dict[str, Any]]:
        """The ``ExternalUnifiedEvent`` JSON of index entries (one activity list per contact)."""
        acts: dict[int, list[Activity]] = {}
        out = []
        for _, key, idx, etype in entries:
            if key not in acts:
                acts[key] = self._activities(key)
            out.append(event_json(key, idx, acts[key][idx], etype))
        return out


def event_json(key: int, idx: int, a: Activity, etype: str) -> dict[str, Any]:
    """One event occurrence; its id is stable (derived from contact and activity index)."""
    if etype == "e_visited_page":
        url = a.attrs.get("url", "")
        path = url.split(".com", 1)[-1] or "/"
        props = {"hs_url": url, "hs_title": path.strip("/").replace("-", " ").title() or "Home"}
    elif etype == "e_submitted_form":
        props = {
            "hs_form_title": a.attrs.get("form", ""),
            "hs_url": "https://www.example-saas.com/forms",
        }
    elif etype == "e_attended_marketing_event":
        props = {"hs_marketing_event": a.attrs.get("name", "")}
    else:  # a custom behavioural event carries its own properties
        props = dict(a.attrs)
    return {
        "objectType": "CONTACT",
        "objectId": str(key + 1),
        "eventType": etype,
        "occurredAt": format_ms(ms(a.at)),
        "id": str(uuid.UUID(int=((key + 1) << 64) | idx)),
        "properties": props,
    }
