"""Salesforce engagement as canonical events, read in bulk per page of leads.

=========================================  ===================================================
Salesforce record                          canonical event (``at``; attributes)
=========================================  ===================================================
Task, Call (``TaskSubtype`` or ``Type``),  ``call`` (``CompletedDateTime``, else
closed                                     ``CreatedDate``)
Task, Email, subject ``Re: …`` or          ``email_reply`` (same)
``Email: Re: …``, closed
Task, Email, any other subject             none: an email *sent* by a rep is not something
                                           the lead did (no canonical type)
Task, ``Type = Meeting``, closed           ``meeting``
Event (any, by ``WhoId``)                  ``meeting`` (``StartDateTime``, else
                                           ``ActivityDateTime``)
CampaignMember of an ``Email`` campaign    ``Opened`` → ``email_open``; ``Responded`` →
                                           ``email_open`` (``CreatedDate``) + ``email_click``
                                           (``LastModifiedDate``); ``Subscribed`` →
                                           ``newsletter_subscribe``; ``campaign`` = name
… of a ``Webinar``, ``Event`` or           ``Registered`` → ``webinar_register``;
``Conference`` campaign                    ``Attended`` → ``webinar_register`` (created) +
                                           ``webinar_attend`` (last modified); ``name``
… of a ``Content`` campaign                ``Downloaded``/``Responded`` → ``content_download``
                                           (``asset`` = name, ``kind`` = the campaign's
                                           description when it is a content kind)
… of a ``Web`` campaign (a form)           responded → the campaign description when it is
                                           ``demo_request``/``quote_request``/
                                           ``contact_request``/``form_submit``, else
                                           ``form_submit``; ``form`` = name
… ``Sent``, or another campaign type       none
web-activity custom objects                ``types[type_field]`` or ``event_type``
(``salesforce.web_activity``)              (``at_field``; ``attributes``)
=========================================  ===================================================

What is lost: page views (core Salesforce has none: configure a web-activity object,
e.g. from Account Engagement), ``newsletter_unsubscribe`` (``HasOptedOutOfEmail`` has no
date: it is the ``email_opt_out`` property instead), the order of several opens of one
email campaign (one CampaignMember per person and campaign: its first and last change),
and a webinar attendance without a registration gains one.

Our own MQL tasks are open (``Not Started``) and never become events: only closed Tasks
are read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leadsync.connectors.salesforce.soql import (
    Row,
    chunk_ids,
    field_name,
    parse_stamp,
    select,
    soql,
)
from leadsync.scoring.lead import CONTENT_KINDS, EVENT_TYPES, Event

if TYPE_CHECKING:
    from leadsync.config.accounts import WebActivityObject
    from leadsync.connectors.salesforce.api import SalesforceApi

__all__ = ["ActivitySource", "read_events", "sources_for"]

_FORM_TYPES = frozenset({"form_submit", "demo_request", "quote_request", "contact_request"})
_WEBINAR_TYPES = frozenset({"webinar", "event", "conference"})


@dataclass(frozen=True, slots=True)
class ActivitySource:
    """One object holding engagement: how to select it and how its rows become events."""

    sobject: str
    key: str
    """The lookup to the lead or contact (``WhoId``, ``LeadId``…)."""
    fields: tuple[str, ...]
    to_events: Callable[[Row], list[Event]]
    where: str = ""
    """An extra filter (trusted text, no values), ANDed to the key filter."""
    name: str = field(default="")

    def soql(self, where_key: str) -> str:
        """``SELECT … FROM sobject WHERE <where_key> [AND where]``."""
        clause = f"{where_key} AND {self.where}" if self.where else where_key
        return f"SELECT {select((self.key, *self.fields))} FROM {self.sobject} WHERE {clause}"


def _at(row: Row, *names: str) -> Any:
    for name in names:
        moment = parse_stamp(row.get(name))
        if moment is not None:
            return moment
    return None


def _event(type_: str, at: Any, **attrs: Any) -> list[Event]:
    if at is None:
        return []
    return [Event.create(type_, at, {k: v for k, v in attrs.items() if v not in (None, "")})]


def task_events(row: Row) -> list[Event]:
    """A closed Task as a call, an email reply or a meeting (see the table)."""
    subtype = str(row.get("TaskSubtype") or "")
    kind = str(row.get("Type") or "")
    at = _at(row, "CompletedDateTime", "CreatedDate")
    if "Call" in (subtype, kind):
        return _event("call", at)
    if "Email" in (subtype, kind):
        subject = str(row.get("Subject") or "").strip()
        subject = subject.removeprefix("Email:").strip()
        return _event("email_reply", at) if subject.lower().startswith("re:") else []
    if kind == "Meeting":
        return _event("meeting", at)
    return []


def calendar_events(row: Row) -> list[Event]:
    """An Event with the lead as ``WhoId``: a meeting."""
    return _event("meeting", _at(row, "StartDateTime", "ActivityDateTime", "CreatedDate"))


def member_events(row: Row) -> list[Event]:
    """A CampaignMember as the events its campaign type and status say (see the table)."""
    kind = str(row.get("Campaign.Type") or "").lower()
    status = str(row.get("Status") or "")
    name = row.get("Campaign.Name")
    described = str(row.get("Campaign.Description") or "").strip()
    first = _at(row, "CreatedDate")
    last = _at(row, "LastModifiedDate", "CreatedDate")
    responded = row.get("HasResponded") in (True, "true") or status in ("Responded", "Attended")
    if kind == "email":
        if status == "Subscribed":
            return _event("newsletter_subscribe", first, list=name)
        if status == "Opened":
            return _event("email_open", first, campaign=name)
        if status == "Responded":
            return _event("email_open", first, campaign=name) + _event(
                "email_click", last, campaign=name
            )
        return []
    if kind in _WEBINAR_TYPES:
        if status == "Registered":
            return _event("webinar_register", first, name=name)
        if status == "Attended":
            return _event("webinar_register", first, name=name) + _event(
                "webinar_attend", last, name=name
            )
        return []
    if kind == "content" and (status == "Downloaded" or responded):
        content_kind = described if described in CONTENT_KINDS else None
        return _event("content_download", first, asset=name, kind=content_kind)
    if kind == "web" and responded:
        form_type = described if described in _FORM_TYPES else "form_submit"
        return _event(form_type, first, form=name)
    return []


def _web_events(spec: WebActivityObject) -> Callable[[Row], list[Event]]:
    def convert(row: Row) -> list[Event]:
        kind = spec.event_type
        if spec.type_field:
            kind = spec.types.get(str(row.get(spec.type_field) or ""), spec.event_type)
        if kind not in EVENT_TYPES:
            return []
        attrs = {name: row.get(source) for name, source in spec.attributes.items()}
        if kind == "content_download" and attrs.get("kind") not in CONTENT_KINDS:
            attrs.pop("kind", None)
        return _event(kind, _at(row, spec.at_field), **attrs)

    return convert


def sources_for(object_type: str, web: Sequence[WebActivityObject]) -> list[ActivitySource]:
    """Where the engagement of ``object_type`` (Lead or Contact) is read from."""
    member_key = "LeadId" if object_type == "Lead" else "ContactId"
    out = [
        ActivitySource(
            "Task", "WhoId",
            ("Subject", "Type", "TaskSubtype", "CompletedDateTime", "CreatedDate"),
            task_events, where="IsClosed = true", name="tasks",
        ),
        ActivitySource(
            "Event", "WhoId", ("StartDateTime", "ActivityDateTime", "CreatedDate"),
            calendar_events, name="events",
        ),
        ActivitySource(
            "CampaignMember", member_key,
            ("Status", "HasResponded", "CreatedDate", "LastModifiedDate", "Campaign.Type",
             "Campaign.Name", "Campaign.Description"),
            member_events, name="campaign members",
        ),
    ]  # fmt: skip
    for i, spec in enumerate(web):
        where = f"salesforce.web_activity[{i}]"
        fields = [field_name(spec.at_field, f"{where}.at_field")]
        if spec.type_field:
            fields.append(field_name(spec.type_field, f"{where}.type_field"))
        fields += [field_name(f, f"{where}.attributes") for f in spec.attributes.values()]
        out.append(
            ActivitySource(
                field_name(spec.object, f"{where}.object"),
                field_name(spec.lead_field, f"{where}.lead_field"),
                tuple(fields),
                _web_events(spec),
                name=spec.object,
            )
        )
    return out


def group_rows(
    rows: Iterable[Row], source: ActivitySource, into: dict[str, list[Event]]
) -> dict[str, list[Event]]:
    """Add the events of ``rows`` to ``into`` (lead id → events)."""
    for row in rows:
        who = row.get(source.key)
        if who:
            events = source.to_events(row)
            if events:
                into[str(who)].extend(events)
    return into


def read_events(
    api: SalesforceApi, ids: Sequence[str], sources: Sequence[ActivitySource]
) -> dict[str, list[Event]]:
    """The events of a page of leads: one query per source and id chunk (``IN (…)``)."""
    found: dict[str, list[Event]] = defaultdict(list)
    for source in sources:
        for chunk in chunk_ids(ids):
            text = source.soql(soql(f"{source.key} IN {{ids}}", ids=chunk))
            group_rows(api.query_rows(text), source, found)
    return found
