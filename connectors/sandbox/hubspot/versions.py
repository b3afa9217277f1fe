"""HubSpot's two API families on one route table: date-based paths mapped onto legacy ones.

Since 2026-03-30 HubSpot serves its REST APIs under date versions
(``/crm/objects/2026-03/contacts``) beside the legacy semantic ones
(``/crm/v3/objects/contacts``), with the same bodies for every endpoint the sandbox
emulates. So a dated path is served by the legacy route it maps to (same handler, same
counter name), and :func:`family_of` tells which family a request used, so that a
sandbox started with ``api="legacy"`` or ``api="2026-03"`` can refuse the other one the
way HubSpot answers a path it does not serve (404).
"""

from __future__ import annotations

import re

__all__ = ["API_FAMILIES", "DATED", "LEGACY", "family_of", "to_legacy"]

LEGACY = "legacy"
DATED = "2026-03"
#: What ``HubSpotSandbox(api=…)`` and ``leadsync sandbox hubspot --api`` accept.
API_FAMILIES = (LEGACY, DATED)

_DATE = r"(?P<date>20\d\d-(?:03|09))"
#: Dated prefix → the legacy prefix serving it.
_MAP: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), legacy)
    for pattern, legacy in (
        (rf"^/crm/objects/{_DATE}(?=/|$)", "/crm/v3/objects"),
        (rf"^/crm/properties/{_DATE}(?=/|$)", "/crm/v3/properties"),
        (rf"^/crm/associations/{_DATE}(?=/|$)", "/crm/v4/associations"),
        (rf"^/crm/owners/{_DATE}(?=/|$)", "/crm/v3/owners"),
        (rf"^/crm/schemas/{_DATE}(?=/|$)", "/crm/v3/schemas"),
        (rf"^/events/event-occurrences/{_DATE}(?=/|$)", "/events/v3/events"),
        (rf"^/oauth/{_DATE}(?=/|$)", "/oauth/2026-03"),
    )
)
_LEGACY = re.compile(r"^/[a-z-]+(?:/[a-z-]+)?/v\d+(?:/|$)")


def to_legacy(path: str) -> str:
    """The legacy path serving ``path`` (``path`` itself when it is not a dated one)."""
    for pattern, legacy in _MAP:
        found = pattern.match(path)
        if found is not None:
            return legacy + path[found.end() :]
    return path


def family_of(path: str) -> str | None:
    """``"2026-03"`` (any date version) or ``"legacy"`` for an API path; None otherwise."""
    if any(pattern.match(path) for pattern, _ in _MAP):
        return DATED
    if _LEGACY.match(path):
        return LEGACY
    return None
