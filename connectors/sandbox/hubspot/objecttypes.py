"""HubSpot's names for an object type: the plural name, the singular alias and the type id.

HubSpot accepts ``contacts``, ``contact`` and ``0-1`` alike wherever an object type
appears in a path (``/crm/v3/objects/0-1``, ``/crm/v3/properties/contact``,
``/crm/v4/associations/0-1/company/batch/read``); the sandbox rewrites each to the
plural name before it picks a route. Type ids: HubSpot's "object type IDs" table
(https://developers.hubspot.com/docs/guides/api/crm/understanding-the-crm).
"""

from __future__ import annotations

import re

__all__ = ["SINGULAR", "TYPE_IDS", "canonical_path", "canonical_type"]

#: HubSpot's object type ids of the standard objects the sandbox knows.
TYPE_IDS: dict[str, str] = {
    "0-1": "contacts",
    "0-2": "companies",
    "0-3": "deals",
    "0-5": "tickets",
    "0-27": "tasks",
    "0-46": "notes",
    "0-47": "meetings",
    "0-48": "calls",
    "0-49": "emails",
}
#: The singular of each plural name (``contact_to_company`` association labels use it).
SINGULAR: dict[str, str] = {
    "contacts": "contact",
    "companies": "company",
    "deals": "deal",
    "tickets": "ticket",
    "tasks": "task",
    "notes": "note",
    "meetings": "meeting",
    "calls": "call",
    "emails": "email",
}
_PLURAL = {single: plural for plural, single in SINGULAR.items()}
_TYPE = "[A-Za-z0-9_-]+"
_PATHS = (
    re.compile(f"^(/crm/v[34]/objects/)({_TYPE})(.*)$"),
    re.compile(f"^(/crm/v3/properties/)({_TYPE})(.*)$"),
    re.compile(f"^(/crm/v[34]/associations/)({_TYPE})/({_TYPE})(.*)$"),
)


def canonical_type(name: str) -> str:
    """``contacts`` for ``contacts``, ``contact`` or ``0-1`` (case-insensitive); else as given."""
    key = name.lower()
    return TYPE_IDS.get(key) or _PLURAL.get(key) or (key if key in SINGULAR else name)


def canonical_path(path: str) -> str:
    """The path with every object type in it written as its plural name."""
    for pattern in _PATHS:
        m = pattern.match(path)
        if m is None:
            continue
        if len(m.groups()) == 3:
            return f"{m[1]}{canonical_type(m[2])}{m[3]}"
        return f"{m[1]}{canonical_type(m[2])}/{canonical_type(m[3])}{m[4]}"
    return path
