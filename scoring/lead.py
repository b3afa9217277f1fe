"""The canonical lead: what every connector produces and the engine scores.

The format (one JSON object per line in a ``.jsonl`` file) is documented in
``docs/lead-format.md``; this module is its single implementation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple

from leadsync.errors import LeadError

#: Canonical property names. Any other key is a custom property models may use.
CANONICAL_PROPERTIES: frozenset[str] = frozenset(
    {
        "email",
        "first_name",
        "last_name",
        "title",
        "company",
        "company_size",
        "industry",
        "country",
        "lifecycle_stage",
        "owner_id",
        "marketing_consent",
        "uses_competitor",
        "trading_area",
        "engagement_level",
    }
)

#: Every event type a lead may carry, with the attributes it usually has.
EVENT_TYPES: Mapping[str, tuple[str, ...]] = {
    "page_view": ("url",),
    "form_submit": ("form",),
    "email_open": ("campaign",),
    "email_click": ("campaign", "url"),
    "email_reply": (),
    "webinar_register": ("name",),
    "webinar_attend": ("name",),
    "meeting": (),
    "call": (),
    "content_download": ("asset", "kind"),
    "newsletter_subscribe": (),
    "newsletter_unsubscribe": (),
    "demo_request": (),
    "quote_request": (),
    "contact_request": (),
    "cart_add": (),
    "cart_abandon": (),
    "purchase": (),
}

CONTENT_KINDS: frozenset[str] = frozenset({"white_paper", "case_study", "buying_guide", "ebook"})

Scalar = str | int | float | bool | None
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})


class Event(NamedTuple):
    """One thing a lead did, at a timezone-aware moment (a tuple: leads carry many).

    Build one with :meth:`create`; ``ts`` is ``at`` in epoch seconds, kept for the
    engine's age arithmetic.
    """

    type: str
    at: datetime
    attrs: Mapping[str, Scalar]
    ts: float

    @classmethod
    def create(cls, type_: str, at: datetime, attrs: Mapping[str, Scalar] | None = None) -> Event:
        return cls(type_, at, MappingProxyType({}) if attrs is None else attrs, at.timestamp())


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a lead, when known: what a backtest checks scores against.

    Every field is optional; ``converted`` is what a backtest predicts. The engine
    never reads an outcome.
    """

    converted: bool | None = None
    converted_at: datetime | None = None
    stage: str | None = None
    amount: float | None = None
    sql_at: datetime | None = None
    won_at: datetime | None = None
    lost_at: datetime | None = None
    feedback: str | None = None
    """What sales said of the lead as an MQL (one of :data:`FEEDBACK`), when it said."""


#: The keys of an outcome object, in the order the format documents them.
OUTCOME_KEYS: tuple[str, ...] = (
    "converted",
    "converted_at",
    "stage",
    "amount",
    "sql_at",
    "won_at",
    "lost_at",
    "feedback",
)
#: Sales feedback on an MQL (the ``lead_score_feedback`` field): value → label.
FEEDBACK: dict[str, str] = {
    "accepted": "Accepted",
    "rejected_not_a_buyer": "Rejected – not a buyer",
    "rejected_bad_timing": "Rejected – bad timing",
    "rejected_bad_data": "Rejected – bad data",
}
_OUTCOME_DATES = frozenset({"converted_at", "sql_at", "won_at", "lost_at"})


@dataclass(frozen=True, slots=True)
class Lead:
    """A person to score: who they are (``properties``), what they did (``events``)
    and, for evaluating models only, what became of them (``outcome``)."""

    id: str
    properties: Mapping[str, Scalar] = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    outcome: Outcome | None = None


_LEAD_KEYS = frozenset({"id", "properties", "events", "outcome"})


def parse_lead(data: Any, where: str | None = None) -> Lead:
    """Build a :class:`Lead` from decoded JSON, or raise :class:`LeadError` naming the fault.

    ``where`` (e.g. ``"leads.jsonl:12"``) prefixes every message so a user can find the record.
    """
    if not isinstance(data, dict):
        raise LeadError(f"a lead must be a JSON object, not {_kind(data)}", where)
    if not _LEAD_KEYS.issuperset(data):
        unknown = sorted(set(data) - _LEAD_KEYS)
        raise LeadError(
            f"unknown key {unknown[0]!r} (a lead has only id, properties, events and outcome)",
            where,
        )
    lead_id = data.get("id")
    if isinstance(lead_id, bool) or not isinstance(lead_id, str | int) or str(lead_id) == "":
        raise LeadError("the lead has no id (a non-empty string is required)", where)
    lead_id = str(lead_id)
    here = f"{where} (lead {lead_id})" if where else f"lead {lead_id}"

    properties = data.get("properties", {})
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise LeadError(f"properties must be an object, not {_kind(properties)}", here)
    if not _SCALAR_TYPES.issuperset(map(type, properties.values())):
        name, value = next((n, v) for n, v in properties.items() if not _is_scalar(v))
        raise LeadError(
            f"properties.{name}: must be a string, number, boolean or null, not {_kind(value)}",
            here,
        )

    raw_events = data.get("events", [])
    if raw_events is None:
        raw_events = []
    if not isinstance(raw_events, list):
        raise LeadError(f"events must be a list, not {_kind(raw_events)}", here)
    return Lead(
        lead_id, properties, _events(raw_events, here), _parse_outcome(data.get("outcome"), here)
    )


def lead_json(lead: Lead) -> dict[str, Any]:
    """The lead in the canonical format, JSON-ready: what :func:`parse_lead` reads back."""
    data: dict[str, Any] = {
        "id": lead.id,
        "properties": dict(lead.properties),
        "events": [{"type": e.type, "at": _iso(e.at), **e.attrs} for e in lead.events],
    }
    if lead.outcome is not None:
        data["outcome"] = {
            key: _iso(value) if isinstance(value, datetime) else value
            for key in OUTCOME_KEYS
            if (value := getattr(lead.outcome, key)) is not None
        }
    return data


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _parse_outcome(raw: Any, where: str) -> Outcome | None:
    if raw is None:
        return None
    if type(raw) is not dict:
        raise LeadError(f"outcome must be an object, not {_kind(raw)}", where)
    unknown = sorted(set(raw) - set(OUTCOME_KEYS))
    if unknown:
        raise LeadError(
            f"outcome.{unknown[0]}: unknown key (an outcome has {', '.join(OUTCOME_KEYS)})", where
        )
    values: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            values[key] = outcome_value(key, value)
        except ValueError as error:
            raise LeadError(f"outcome.{key}: {error}", where) from None
    return Outcome(**values)


def outcome_value(key: str, value: Any) -> Any:
    """Check one outcome value (``key`` one of :data:`OUTCOME_KEYS`) and return it typed.

    Dates are ISO 8601 timestamps with a timezone, or plain dates (``2026-05-02``,
    midnight UTC), since CRMs keep close dates as dates. Raises :class:`ValueError`
    with the reason; the caller names the field or column.
    """
    if value is None:
        return None
    if key == "converted":
        if type(value) is not bool:
            raise ValueError(f"must be true, false or null, not {_kind(value)}")
        return value
    if key == "stage":
        if type(value) is not str:
            raise ValueError(f"must be a string, not {_kind(value)}")
        return value or None
    if key == "amount":
        if type(value) is str:
            try:
                return float(value.replace(",", "")) if value.strip() else None
            except ValueError:
                raise ValueError(f"{value!r} is not a number") from None
        if type(value) not in (int, float):
            raise ValueError(f"must be a number, not {_kind(value)}")
        return float(value)
    if key in _OUTCOME_DATES:
        return _outcome_moment(value)
    if key == "feedback":
        if value not in FEEDBACK:
            raise ValueError(f"{value!r} is not one of {', '.join(FEEDBACK)}")
        return value
    raise ValueError("unknown key")


def _outcome_moment(value: Any) -> datetime | None:
    if type(value) is not str:
        raise ValueError(f"must be an ISO 8601 date or timestamp, not {_kind(value)}")
    if not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date or timestamp") from None
    if len(value.strip()) == 10:
        return moment.replace(tzinfo=UTC)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no timezone (add 'Z' or an offset like +00:00)")
    return moment


_KINDS_OR_NONE = CONTENT_KINDS | {None}
_new_tuple = tuple.__new__
_fromisoformat = datetime.fromisoformat


def _events(raw_events: list[Any], where: str) -> tuple[Event, ...]:
    """The events of a lead: the one loop a backtest spends most of its time in, so it
    accepts exactly what :func:`_parse_event` does, more cheaply, and leaves describing
    a fault to it."""
    events: list[Event] = []
    append = events.append
    for raw in raw_events:
        if type(raw) is dict:
            attrs = raw.copy()
            event_type = attrs.pop("type", None)
            at_text = attrs.pop("at", None)
            if type(event_type) is str and event_type in EVENT_TYPES and type(at_text) is str:
                try:
                    at = _fromisoformat(at_text)
                except ValueError:
                    at = None
                if (
                    at is not None
                    and at.tzinfo is not None
                    and (not attrs or _SCALAR_TYPES.issuperset(map(type, attrs.values())))
                    and (event_type != "content_download" or attrs.get("kind") in _KINDS_OR_NONE)
                ):
                    append(_new_tuple(Event, (event_type, at, attrs, at.timestamp())))
                    continue
        _parse_event(raw, len(events), where)  # raises the fault's LeadError
        raise AssertionError("unreachable: _parse_event accepted what _events refused")
    return tuple(events)


def _parse_event(raw: Any, index: int, where: str) -> Event:
    if type(raw) is not dict:
        raise LeadError(f"events[{index}]: an event must be an object, not {_kind(raw)}", where)
    attrs = dict(raw)
    event_type = attrs.pop("type", None)
    at_text = attrs.pop("at", None)
    try:
        at = datetime.fromisoformat(at_text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        at = None
    if (
        type(event_type) is not str
        or event_type not in EVENT_TYPES
        or at is None
        or at.tzinfo is None
    ):
        raise LeadError(_event_fault(index, event_type, at_text), where)
    if not _SCALAR_TYPES.issuperset(map(type, attrs.values())):  # the common case in C
        name, value = next((n, v) for n, v in attrs.items() if type(v) not in _SCALAR_TYPES)
        raise LeadError(
            f"events[{index}].{name}: must be a string, number, boolean or null, "
            f"not {_kind(value)}",
            where,
        )
    if event_type == "content_download":
        kind = attrs.get("kind")
        if kind is not None and kind not in CONTENT_KINDS:
            raise LeadError(
                f"events[{index}].kind: {kind!r} is not a content kind "
                f"(one of {', '.join(sorted(CONTENT_KINDS))})",
                where,
            )
    return Event(event_type, at, attrs, at.timestamp())


def _event_fault(index: int, event_type: Any, at_text: Any) -> str:
    path = f"events[{index}]"
    if event_type is None:
        return f"{path}.type: missing"
    if type(event_type) is not str or event_type not in EVENT_TYPES:
        known = ", ".join(sorted(EVENT_TYPES))
        return f"{path}.type: unknown event type {event_type!r} (known: {known})"
    if type(at_text) is not str:
        return f"{path}.at: missing (an ISO 8601 timestamp is required)"
    try:
        datetime.fromisoformat(at_text)
    except ValueError:
        return f"{path}.at: {at_text!r} is not an ISO 8601 timestamp"
    return f"{path}.at: {at_text!r} has no timezone (add 'Z' or an offset like +00:00)"


def _is_scalar(value: Any) -> bool:
    return type(value) in _SCALAR_TYPES


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), "null" if value is None else type(value).__name__)
