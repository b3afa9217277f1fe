"""The HubSpot sandbox's records: contacts, engagements, tasks, events and properties.

Generated people (:mod:`leadsync.connectors.sandbox.data`) become contacts whose id
is ``key + 1``. Nothing derived from a person's activities is stored up front: the
rollup properties (page views, conversions, email opens…), the engagement objects
(calls, meetings, emails, notes) and the Enterprise events are all computed from the
same activity list, so they always agree with one another. Only what the API
changes is stored: written property values, ``lastmodifieddate`` bumps, tasks and
activities added by :meth:`HubSpotStore.touch`.

Engagement ids encode their source: ``(contact key + 1) * 10_000 + activity index``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from leadsync.connectors.sandbox.data import Activity, Dataset, Person
from leadsync.connectors.sandbox.hubspot.companies import COMPANY_ASSOC_TYPES, CompanyBook
from leadsync.connectors.sandbox.hubspot.deals import DealBook
from leadsync.connectors.sandbox.hubspot.events import EventLog
from leadsync.connectors.sandbox.hubspot.objectprops import DEFAULT_NAMES, object_properties
from leadsync.connectors.sandbox.hubspot.props import (
    PropertyDef,
    PropertyGroupDef,
    default_groups,
    default_properties,
    format_ms,
    normalize_value,
    parse_time_ms,
)
from leadsync.connectors.sandbox.hubspot.rollups import derive_contact, ms

__all__ = ["ENGAGEMENT_KINDS", "HubSpotStore", "TaskRecord"]

#: Which activity kinds become which engagement object type.
ENGAGEMENT_KINDS: dict[str, tuple[str, ...]] = {
    "calls": ("call",),
    "meetings": ("meeting",),
    "emails": ("email_open", "email_click", "email_reply"),
    "notes": ("contact_request", "quote_request"),
}
#: HUBSPOT_DEFINED association type ids contact → object and object → contact.
ASSOC_TYPES: dict[str, tuple[int, int]] = {
    "emails": (197, 198),
    "calls": (193, 194),
    "meetings": (199, 200),
    "notes": (201, 202),
    "tasks": (203, 204),
    "deals": (4, 3),
    "companies": COMPANY_ASSOC_TYPES,
}
CONTACT_DEFAULT_PROPS = (
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
)
_SLOT = 10_000
_CALL_STATUS = {
    "CONNECTED": "COMPLETED",
    "LEFT_VOICEMAIL": "COMPLETED",
    "NO_ANSWER": "NO_ANSWER",
    "BUSY": "BUSY",
}


def _ms(dt: datetime) -> int:
    return ms(dt)


@dataclass
class TaskRecord:
    """A task created through the API, with its associations ``(to_type, to_id, type_id)``."""

    id: int
    properties: dict[str, str]
    created_ms: int
    updated_ms: int
    associations: list[tuple[str, int, int]] = field(default_factory=list)


class HubSpotStore:
    """Thread-safe records of one sandbox account (see the module docstring)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.lock = threading.RLock()
        self.events = EventLog(self.activities, len(dataset.people), self.lock)
        self.owner_ids = [o.id for o in dataset.owners]
        self.props: dict[str, dict[str, PropertyDef]] = {}
        self.groups: dict[str, dict[str, PropertyGroupDef]] = {}
        created = _ms(dataset.as_of) - 400 * 86_400_000
        for obj in ("contacts", "tasks", "emails", "calls", "meetings", "notes", *DEFAULT_NAMES):
            groups, defs = (
                object_properties(obj)
                if obj in DEFAULT_NAMES
                else (default_groups(obj), default_properties(obj, self.owner_ids))
            )
            for i, d in enumerate(defs):
                d.created_ms = d.updated_ms = created
                d.display_order = i
            self.props[obj] = {d.name: d for d in defs}
            self.groups[obj] = {g.name: g for g in groups}
        self.companies = CompanyBook(dataset)
        self.deals = DealBook(dataset)
        self._written: dict[int, dict[str, str]] = {}
        self._modified: dict[int, int] = {}
        self._extra: dict[int, list[Activity]] = {}
        self._derived: dict[int, dict[str, str | None]] = {}
        self._last_write_ms = 0
        self.tasks: dict[int, TaskRecord] = {}
        self._tasks_by_contact: dict[int, list[int]] = {}
        self._next_task = 90_000_000_001
        self._touches = 0
        self._by_email: dict[str, int] | None = None
        #: Seconds before a change shows in search (HubSpot: "a few moments"); 0 = at once.
        self.search_lag_s = 0.0
        self._history: dict[int, list[tuple[float, dict[str, str | None]]]] = {}

    # ------------------------------------------------------------------ clock

    def now_ms(self) -> int:
        """A write timestamp: the wall clock, but never before ``as_of`` and strictly rising."""
        with self.lock:
            ms = max(int(time.time() * 1000), _ms(self.dataset.as_of) + 1, self._last_write_ms + 1)
            self._last_write_ms = ms
            return ms

    # --------------------------------------------------------------- contacts

    @property
    def contact_count(self) -> int:
        """How many contacts the account holds."""
        return len(self.dataset.people)

    def person(self, contact_id: str | int) -> Person | None:
        """The person behind a contact id, or None for an unknown id."""
        try:
            key = int(contact_id) - 1
        except (TypeError, ValueError):
            return None
        if 0 <= key < len(self.dataset.people):
            return self.dataset.people[key]
        return None

    def activities(self, key: int) -> list[Activity]:
        """Generated plus added activities of one person, in time order."""
        acts = self.dataset.people[key].activities()
        extra = self._extra.get(key)
        return acts + extra if extra else acts

    def contact_props(self, key: int) -> dict[str, str | None]:
        """Every property value of a contact (derived, then written values on top)."""
        with self.lock:
            derived = self._derived.get(key)
            if derived is None:
                derived = self._derive(key)
                self._derived[key] = derived
            props = dict(derived)
            written = self._written.get(key)
            if written:
                props.update(written)
            if key in self._modified:
                props["lastmodifieddate"] = format_ms(self._modified[key])
            return props

    def _remember(self, key: int) -> None:
        """Keep the values before a change while search may still serve them."""
        if self.search_lag_s <= 0:
            return
        now = time.monotonic()
        kept = [h for h in self._history.get(key, []) if h[0] > now - self.search_lag_s]
        kept.append((now, self.contact_props(key)))
        self._history[key] = kept

    def searchable_props(self, key: int) -> dict[str, str | None]:
        """A contact as the search index sees it: changes younger than the lag are not in yet."""
        with self.lock:
            history = self._history.get(key)
            if history:
                cutoff = time.monotonic() - self.search_lag_s
                for changed_at, before in history:
                    if changed_at > cutoff:
                        return before
            return self.contact_props(key)

    def contact_json(
        self, key: int, names: list[str] | None, props: dict[str, str | None] | None = None
    ) -> dict[str, Any]:
        """A contact as the ``SimplePublicObject`` model: requested properties only.

        ``props`` overrides the current values (search serves its index's view).
        """
        props = self.contact_props(key) if props is None else props
        wanted = names or list(CONTACT_DEFAULT_PROPS)
        created = _ms(self.dataset.people[key].created_at)
        updated = parse_time_ms(props.get("lastmodifieddate")) or created
        return {
            "id": str(key + 1),
            "properties": {n: props.get(n) for n in wanted if n in self.props["contacts"]},
            "createdAt": format_ms(created),
            "updatedAt": format_ms(updated),
            "archived": False,
        }

    def key_by_email(self, email: str) -> int | None:
        """The contact key holding ``email`` (case-insensitive), or None."""
        with self.lock:
            if self._by_email is None:
                index: dict[str, int] = {}
                for p in self.dataset.people:
                    if p.email:
                        index.setdefault(p.email.lower(), p.key)
                for key, written in self._written.items():
                    if written.get("email"):
                        index[str(written["email"]).lower()] = key
                self._by_email = index
            return self._by_email.get(email.lower())

    def write_contact(self, key: int, values: dict[str, Any]) -> None:
        """Store validated values and bump ``lastmodifieddate`` (as every HubSpot write does)."""
        defs = self.props["contacts"]
        with self.lock:
            self._remember(key)
            if "email" in values:
                self._by_email = None
            written = self._written.setdefault(key, {})
            for name, raw in values.items():
                written[name] = normalize_value(defs[name], raw)  # type: ignore[assignment]
            self._modified[key] = self.now_ms()

    def _derive(self, key: int) -> dict[str, str | None]:
        """Base and rollup properties of a contact (see :mod:`.hubspot_rollups`)."""
        return derive_contact(self.dataset.people[key], key, self.activities(key))

    def touch(self, count: int, *, seed: int | None = None) -> list[str]:
        """Simulate new activity on ``count`` contacts: a pricing-page visit or a form fill now.

        The contacts' rollups, events and ``lastmodifieddate`` move, so an
        incremental sync has something to see. Returns the touched contact ids.
        """
        with self.lock:
            self._touches += 1
            rng = random.Random(
                (seed if seed is not None else self.dataset.seed) * 7_777 + self._touches
            )
            n = self.contact_count
            keys = rng.sample(range(n), min(count, n)) if n else []
            for key in keys:
                self._remember(key)
                at = datetime.fromtimestamp(self.now_ms() // 1000, tz=UTC)
                if rng.random() < 0.6:
                    act = Activity("page_view", at, {"url": "https://www.example-saas.com/pricing"})
                    self._extra.setdefault(key, []).append(act)
                else:
                    form = rng.choice(("Request a demo", "Contact us"))
                    kind = "demo_request" if form == "Request a demo" else "contact_request"
                    self._extra.setdefault(key, []).extend(
                        [
                            Activity("form_submit", at, {"form": form}),
                            Activity(kind, at, {"form": form}),
                        ]
                    )
                self._derived.pop(key, None)
                self._modified[key] = self.now_ms()
            self.events.invalidate()
            return [str(k + 1) for k in sorted(keys)]

    def preload(self) -> None:
        """Compute every contact's derived properties now (instead of on first use)."""
        for key in range(self.contact_count):
            self.contact_props(key)

    # ------------------------------------------------------------- engagements

    def engagements_of(self, key: int, object_type: str) -> Iterator[tuple[int, Activity]]:
        """``(engagement id, activity)`` of one contact for an engagement object type."""
        kinds = ENGAGEMENT_KINDS[object_type]
        base = (key + 1) * _SLOT
        for idx, a in enumerate(self.activities(key)):
            if a.kind in kinds:
                yield base + idx, a

    def engagement(self, object_type: str, eid: int) -> tuple[int, Activity] | None:
        """Decode an engagement id into ``(contact key, activity)``, or None."""
        key, idx = eid // _SLOT - 1, eid % _SLOT
        if not 0 <= key < self.contact_count:
            return None
        acts = self.activities(key)
        if idx < len(acts) and acts[idx].kind in ENGAGEMENT_KINDS[object_type]:
            return key, acts[idx]
        return None

    def engagement_json(
        self, object_type: str, eid: int, key: int, a: Activity, names: list[str] | None
    ) -> dict[str, Any]:
        """An engagement as the ``SimplePublicObject`` model."""
        at = _ms(a.at)
        owner = self.dataset.people[key].owner_id or self.owner_ids[0]
        props: dict[str, str | None] = {
            "hs_object_id": str(eid),
            "hs_createdate": format_ms(at),
            "hs_lastmodifieddate": format_ms(at),
            "hs_timestamp": format_ms(at),
            "hubspot_owner_id": owner,
        }
        if object_type == "calls":
            outcome = a.attrs.get("outcome", "CONNECTED")
            props |= {
                "hs_call_title": "Call with contact",
                "hs_call_body": f"Outcome: {outcome}",
                "hs_call_direction": "OUTBOUND",
                "hs_call_status": _CALL_STATUS.get(outcome, "COMPLETED"),
                "hs_call_duration": str(int(a.attrs.get("duration_s", "0")) * 1000),
            }
        elif object_type == "meetings":
            props |= {
                "hs_meeting_title": a.attrs.get("title", "Meeting"),
                "hs_meeting_body": None,
                "hs_meeting_start_time": format_ms(at),
                "hs_meeting_end_time": format_ms(at + 1_800_000),
                "hs_meeting_outcome": "COMPLETED",
            }
        elif object_type == "emails":
            incoming = a.kind == "email_reply"
            props |= {
                "hs_email_subject": ("Re: " if incoming else "") + a.attrs.get("campaign", ""),
                "hs_email_text": None,
                "hs_email_direction": "INCOMING_EMAIL" if incoming else "EMAIL",
                "hs_email_status": "SENT",
            }
        else:
            props["hs_note_body"] = (
                f"{a.attrs.get('form', 'Contact us')} form: please get in touch."
            )
        wanted = names or ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"]
        return {
            "id": str(eid),
            "properties": {n: props.get(n) for n in wanted if n in self.props[object_type]},
            "createdAt": format_ms(at),
            "updatedAt": format_ms(at),
            "archived": False,
        }

    # ------------------------------------------------------------------ tasks

    def create_task(
        self, properties: dict[str, Any], assoc: list[tuple[str, int, int]]
    ) -> TaskRecord:
        """Store a validated task and its associations."""
        defs = self.props["tasks"]
        with self.lock:
            now = self.now_ms()
            tid = self._next_task
            self._next_task += 1
            props = {n: normalize_value(defs[n], v) for n, v in properties.items()}
            props = {n: v for n, v in props.items() if v is not None}
            props.setdefault("hs_task_status", "NOT_STARTED")
            props |= {
                "hs_object_id": str(tid),
                "hs_createdate": format_ms(now),
                "hs_lastmodifieddate": format_ms(now),
            }
            rec = TaskRecord(tid, props, now, now, list(assoc))
            self.tasks[tid] = rec
            for to_type, to_id, _ in assoc:
                if to_type == "contacts":
                    self._tasks_by_contact.setdefault(to_id - 1, []).append(tid)
            return rec

    def task_json(self, rec: TaskRecord, names: list[str] | None) -> dict[str, Any]:
        """A task as the ``SimplePublicObject`` model: requested properties only."""
        wanted = names or ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"]
        return {
            "id": str(rec.id),
            "properties": {n: rec.properties.get(n) for n in wanted if n in self.props["tasks"]},
            "createdAt": format_ms(rec.created_ms),
            "updatedAt": format_ms(rec.updated_ms),
            "archived": False,
        }

    def task_ids_of(self, key: int) -> list[int]:
        """Ids of the tasks associated with a contact."""
        with self.lock:
            return list(self._tasks_by_contact.get(key, ()))
