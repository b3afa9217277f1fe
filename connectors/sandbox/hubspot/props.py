"""Property definitions and value formats of the HubSpot sandbox.

HubSpot describes every record field as a *property* with a ``type`` (string,
number, date, datetime, enumeration, bool) and a ``fieldType``; the API carries
every value as a string. This module holds the sandbox's definitions (the contact
properties leadsync reads, engagement and task properties), the validation HubSpot
applies on write ("Property values were not valid: [...]" with PROPERTY_DOESNT_EXIST,
INVALID_INTEGER, INVALID_OPTION…) and the value formats (datetimes as ISO 8601 with
milliseconds, booleans as ``"true"``/``"false"``).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

__all__ = [
    "NUMEMPLOYEES_OPTIONS",
    "PropertyDef",
    "PropertyGroupDef",
    "default_groups",
    "default_properties",
    "format_ms",
    "parse_time_ms",
    "property_value_errors",
]

TYPES = ("string", "number", "date", "datetime", "enumeration", "bool")
FIELD_TYPES = (
    "textarea", "text", "date", "file", "number", "select", "radio", "checkbox",
    "booleancheckbox", "calculation_equation", "phonenumber", "html",
)  # fmt: skip

#: HubSpot's default options of the contact ``numemployees`` picklist.
NUMEMPLOYEES_OPTIONS = ("1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+")


def format_ms(ms: int) -> str:
    """Epoch milliseconds → HubSpot's datetime string (``2026-11-01T00:00:00.000Z``)."""
    t = time.gmtime(ms // 1000)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{ms % 1000:03d}Z"
    )


def parse_time_ms(value: Any) -> int | None:
    """Epoch ms from what HubSpot accepts for dates: epoch ms, ISO datetime or date."""
    if value is None:
        return None
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            d = date.fromisoformat(text)
            return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


@dataclass
class PropertyGroupDef:
    """A property group (``/crm/v3/properties/{objectType}/groups``)."""

    name: str
    label: str
    display_order: int = -1
    archived: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``PropertyGroup`` model of hubspot-api-client."""
        return {
            "name": self.name,
            "label": self.label,
            "displayOrder": self.display_order,
            "archived": self.archived,
        }


@dataclass
class PropertyDef:
    """One property definition; ``read_only`` ones (calculated, system) refuse writes."""

    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    description: str = ""
    options: list[dict[str, Any]] = field(default_factory=list)
    hubspot_defined: bool = True
    read_only: bool = False
    display_order: int = -1
    has_unique_value: bool = False
    form_field: bool = False
    hidden: bool = False
    created_ms: int = 0
    updated_ms: int = 0
    archived: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``Property`` model of hubspot-api-client (every required field set)."""
        out: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": [dict(o) for o in self.options],
            "displayOrder": self.display_order,
            "calculated": self.read_only and self.hubspot_defined,
            "externalOptions": False,
            "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden,
            "formField": self.form_field,
            "archived": self.archived,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only,
            },
            "createdAt": format_ms(self.created_ms),
            "updatedAt": format_ms(self.updated_ms),
        }
        if self.hubspot_defined:
            out["hubspotDefined"] = True
        return out


def _opts(*values: str, labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    labels = labels or {}
    return [
        {"label": labels.get(v, v), "value": v, "displayOrder": i, "hidden": False}
        for i, v in enumerate(values)
    ]


def _p(
    name: str,
    label: str,
    type_: str = "string",
    group: str = "contactinformation",
    *,
    ro: bool = False,
    options: list[dict[str, Any]] | None = None,
    custom: bool = False,
) -> PropertyDef:
    field_type = {
        "string": "text",
        "number": "number",
        "date": "date",
        "datetime": "date",
        "enumeration": "select",
        "bool": "booleancheckbox",
    }[type_]
    if type_ == "bool" and options is None:
        options = _opts("true", "false", labels={"true": "Yes", "false": "No"})
    return PropertyDef(
        name=name,
        label=label,
        type=type_,
        field_type=field_type,
        group_name=group,
        options=options or [],
        read_only=ro,
        hubspot_defined=not custom,
    )


_LIFECYCLE = (
    "subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity",
    "customer", "evangelist", "other",
)  # fmt: skip
_LEAD_STATUS = (
    "NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT",
    "CONNECTED", "BAD_TIMING",
)  # fmt: skip
_SOURCES = (
    "ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA", "REFERRALS",
    "OTHER_CAMPAIGNS", "DIRECT_TRAFFIC", "OFFLINE", "PAID_SOCIAL",
)  # fmt: skip


def default_groups(object_type: str) -> list[PropertyGroupDef]:
    """The built-in property groups of an object type."""
    if object_type == "contacts":
        return [
            PropertyGroupDef("contactinformation", "Contact information", 0),
            PropertyGroupDef("analyticsinformation", "Web analytics history", 1),
            PropertyGroupDef("emailinformation", "Email information", 2),
            PropertyGroupDef("conversioninformation", "Conversion information", 3),
            PropertyGroupDef("sales_properties", "Sales properties", 4),
        ]
    return [PropertyGroupDef(f"{object_type[:-1]}information", f"{object_type} information", 0)]


def default_properties(object_type: str, owner_ids: list[str]) -> list[PropertyDef]:
    """The built-in property definitions of an object type (contacts, tasks, engagements)."""
    owner_opts = _opts(*owner_ids)
    common = [
        _p("hs_object_id", "Record ID", "number", ro=True),
        _p("hs_createdate", "Create date", "datetime", ro=True),
        _p("hs_lastmodifieddate", "Last modified date", "datetime", ro=True),
        _p("hs_timestamp", "Activity date", "datetime"),
        _p("hubspot_owner_id", "Activity assigned to", "enumeration", options=owner_opts),
    ]
    group = f"{object_type[:-1]}information"
    for p in common:
        p.group_name = group
    if object_type == "contacts":
        a, e, v, s = (
            "analyticsinformation", "emailinformation",
            "conversioninformation", "sales_properties",
        )  # fmt: skip
        return [
            _p("firstname", "First name"),
            _p("lastname", "Last name"),
            _p("email", "Email"),
            _p("jobtitle", "Job title"),
            _p("company", "Company name"),
            _p("numemployees", "Number of employees", "enumeration",
               options=_opts(*NUMEMPLOYEES_OPTIONS)),
            _p("industry", "Industry"),
            _p("country", "Country/Region"),
            _p("hubspot_owner_id", "Contact owner", "enumeration", s, options=owner_opts),
            _p("createdate", "Create date", "datetime", ro=True),
            _p("lastmodifieddate", "Last modified date", "datetime", ro=True),
            _p("hs_object_id", "Record ID", "number", ro=True),
            _p("lifecyclestage", "Lifecycle stage", "enumeration", options=_opts(*_LIFECYCLE)),
            _p("hs_lifecyclestage_salesqualifiedlead_date", "Became a Sales Qualified Lead Date",
               "datetime", ro=True),
            _p("hs_lifecyclestage_opportunity_date", "Became an Opportunity Date", "datetime",
               ro=True),
            _p("hs_lifecyclestage_customer_date", "Became a Customer Date", "datetime", ro=True),
            _p("hs_lead_status", "Lead status", "enumeration", s, options=_opts(*_LEAD_STATUS)),
            _p("uses_competitor", "Uses a competitor", "bool", custom=True),
            _p("age", "Age", "number", custom=True),
            _p("trading_area", "Trading area", "enumeration", custom=True,
               options=_opts("main", "secondary", "outside")),
            _p("hs_analytics_num_page_views", "Number of pageviews", "number", a, ro=True),
            _p("hs_analytics_num_visits", "Number of sessions", "number", a, ro=True),
            _p("hs_analytics_first_visit_timestamp", "Time first seen", "datetime", a, ro=True),
            _p("hs_analytics_last_visit_timestamp", "Time of last session", "datetime", a, ro=True),
            _p("hs_analytics_last_url", "Last page seen", "string", a, ro=True),
            _p("hs_analytics_source", "Original source", "enumeration", a, ro=True,
               options=_opts(*_SOURCES)),
            _p("num_conversion_events", "Number of form submissions", "number", v, ro=True),
            _p("num_unique_conversion_events", "Number of unique forms submitted", "number", v,
               ro=True),
            _p("first_conversion_event_name", "First conversion", "string", v, ro=True),
            _p("first_conversion_date", "First conversion date", "datetime", v, ro=True),
            _p("recent_conversion_event_name", "Recent conversion", "string", v, ro=True),
            _p("recent_conversion_date", "Recent conversion date", "datetime", v, ro=True),
            _p("hs_email_open", "Marketing emails opened", "number", e, ro=True),
            _p("hs_email_click", "Marketing emails clicked", "number", e, ro=True),
            _p("hs_email_last_open_date", "Last marketing email open date", "datetime", e,
               ro=True),
            _p("hs_email_last_click_date", "Last marketing email click date", "datetime", e,
               ro=True),
            _p("hs_email_last_email_name", "Last marketing email name", "string", e, ro=True),
            _p("hs_email_optout", "Unsubscribed from all email", "bool", e, ro=True),
            _p("notes_last_contacted", "Last contacted", "datetime", s, ro=True),
            _p("hs_last_sales_activity_date", "Last engagement date", "datetime", s, ro=True),
            _p("hs_sales_email_last_replied", "Recent sales email replied date", "datetime", s,
               ro=True),
            _p("num_contacted_notes", "Number of sales activities", "number", s, ro=True),
        ]  # fmt: skip
    specific: dict[str, list[PropertyDef]] = {
        "tasks": [
            _p("hs_task_subject", "Task title"),
            _p("hs_task_body", "Task notes"),
            _p("hs_task_status", "Task status", "enumeration",
               options=_opts("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED")),
            _p("hs_task_priority", "Priority", "enumeration",
               options=_opts("NONE", "LOW", "MEDIUM", "HIGH")),
            _p("hs_task_type", "Task type", "enumeration",
               options=_opts("EMAIL", "CALL", "TODO", "LINKED_IN", "MEETING")),
        ],
        "emails": [
            _p("hs_email_subject", "Email subject"),
            _p("hs_email_text", "Email body"),
            _p("hs_email_direction", "Email direction", "enumeration",
               options=_opts("EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL")),
            _p("hs_email_status", "Email send status", "enumeration",
               options=_opts("BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT")),
        ],
        "calls": [
            _p("hs_call_title", "Call title"),
            _p("hs_call_body", "Call notes"),
            _p("hs_call_direction", "Call direction", "enumeration",
               options=_opts("INBOUND", "OUTBOUND")),
            _p("hs_call_status", "Call status", "enumeration",
               options=_opts("BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED", "CONNECTING",
                             "FAILED", "IN_PROGRESS", "NO_ANSWER", "QUEUED", "RINGING")),
            _p("hs_call_duration", "Call duration (ms)", "number"),
        ],
        "meetings": [
            _p("hs_meeting_title", "Meeting name"),
            _p("hs_meeting_body", "Meeting description"),
            _p("hs_meeting_start_time", "Start time", "datetime"),
            _p("hs_meeting_end_time", "End time", "datetime"),
            _p("hs_meeting_outcome", "Meeting outcome", "enumeration",
               options=_opts("SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED")),
        ],
        "notes": [_p("hs_note_body", "Note body")],
    }  # fmt: skip
    for p in specific.get(object_type, []):
        p.group_name = group
    return common + specific.get(object_type, [])


def _invalid(name: str, error: str, message: str) -> dict[str, Any]:
    return {
        "isValid": False,
        "message": message,
        "error": error,
        "name": name,
        "localizedErrorMessage": message,
    }


def property_value_errors(
    defs: dict[str, PropertyDef], values: dict[str, Any]
) -> list[dict[str, Any]]:
    """Check written values as HubSpot does; one item per invalid property."""
    errors: list[dict[str, Any]] = []
    for name, raw in values.items():
        d = defs.get(name)
        if d is None or d.archived:
            errors.append(
                _invalid(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
            )
            continue
        if d.read_only:
            errors.append(
                _invalid(
                    name,
                    "READ_ONLY_VALUE",
                    f'"{name}" is a read only property; its value cannot be set.',
                )
            )
            continue
        if raw is None or raw == "":
            continue
        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
        if d.type == "number":
            try:
                float(text)
            except ValueError:
                errors.append(_invalid(name, "INVALID_DECIMAL", f"{text} was not a valid number."))
        elif d.type in ("datetime", "date") and parse_time_ms(text) is None:
            errors.append(_invalid(name, "INVALID_DATE", f"{text} was not a valid date."))
        elif d.type == "bool" and text.lower() not in ("true", "false"):
            errors.append(_invalid(name, "INVALID_BOOLEAN", f"{text} was not a valid boolean."))
        elif d.type == "enumeration" and d.options:
            allowed = [o["value"] for o in d.options]
            if any(part not in allowed for part in text.split(";")):
                errors.append(
                    _invalid(
                        name,
                        "INVALID_OPTION",
                        f"{text} was not one of the allowed options: [{', '.join(allowed)}]",
                    )
                )
    return errors


def normalize_value(d: PropertyDef, raw: Any) -> str | None:
    """The string HubSpot stores for a written value (datetimes as ISO); ``""`` clears it
    and reads back as ``""``, ``None`` stays null (as for a property never set)."""
    if raw is None:
        return None
    if raw == "":
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    text = str(raw)
    if d.type == "datetime":
        ms = parse_time_ms(text)
        return format_ms(ms) if ms is not None else text
    if d.type == "bool":
        return text.lower()
    return text


def validation_message(errors: list[dict[str, Any]]) -> str:
    """HubSpot's 400 message for invalid property values."""
    return "Property values were not valid: " + json.dumps(errors, separators=(",", ":"))
