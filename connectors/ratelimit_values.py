"""The CRMs' rate-limit answers as typed values: HubSpot's ``X-HubSpot-RateLimit-*``
headers and 429 ``policyName``, Salesforce's ``Sforce-Limit-Info``.

Parsed here, apart from the limiter that acts on them (:mod:`leadsync.connectors.ratelimit`,
which re-exports every name): headers arrive as plain mappings, no CRM client is imported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "HUBSPOT_POLICIES",
    "POLICY_DAILY",
    "POLICY_SECONDLY",
    "POLICY_TEN_SECONDLY",
    "HubSpotPolicy",
    "HubSpotRateHeaders",
    "SalesforceLimitInfo",
    "parse_hubspot_headers",
    "parse_sforce_limit_info",
]

#: HubSpot's 429 ``policyName`` values.
POLICY_DAILY = "DAILY"
POLICY_TEN_SECONDLY = "TEN_SECONDLY_ROLLING"
POLICY_SECONDLY = "SECONDLY"

_HUBSPOT = "x-hubspot-ratelimit-"


@dataclass(frozen=True, slots=True)
class HubSpotPolicy:
    """What a 429's ``policyName`` says is full: a window of ``window_s`` (HubSpot's
    length; a limiter may run a shrunk copy of the ten-second one), which holds every
    kind of call (``app_wide``) or only the one refused (search's per-second bucket)."""

    name: str
    window_s: float
    app_wide: bool


#: HubSpot's short-window 429 policies (``DAILY`` is the daily budget, not a window).
HUBSPOT_POLICIES = {
    POLICY_SECONDLY: HubSpotPolicy(POLICY_SECONDLY, 1.0, app_wide=False),
    POLICY_TEN_SECONDLY: HubSpotPolicy(POLICY_TEN_SECONDLY, 10.0, app_wide=True),
}


@dataclass(frozen=True, slots=True)
class HubSpotRateHeaders:
    """The ``X-HubSpot-RateLimit-*`` headers of one response; ``None`` where absent."""

    max: int | None = None
    remaining: int | None = None
    interval_ms: int | None = None
    daily: int | None = None
    daily_remaining: int | None = None


def _int(value: object) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def parse_hubspot_headers(headers: Mapping[str, str]) -> HubSpotRateHeaders | None:
    """Read HubSpot's rate-limit headers (names case-insensitive); None when there are none.

    Search responses and OAuth apps' daily pair carry no headers, hence every field optional.
    Unparseable values count as absent rather than failing a call that succeeded.
    """
    found = {
        k.lower()[len(_HUBSPOT) :]: v for k, v in headers.items() if k.lower().startswith(_HUBSPOT)
    }
    parsed = HubSpotRateHeaders(
        max=_int(found.get("max")),
        remaining=_int(found.get("remaining")),
        interval_ms=_int(found.get("interval-milliseconds")),
        daily=_int(found.get("daily")),
        daily_remaining=_int(found.get("daily-remaining")),
    )
    return None if parsed == HubSpotRateHeaders() else parsed


@dataclass(frozen=True, slots=True)
class SalesforceLimitInfo:
    """``Sforce-Limit-Info: api-usage=USED/LIMIT``: the org's API calls in the last 24 h."""

    used: int
    limit: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


_API_USAGE = re.compile(r"(?:^|[\s,;])api-usage=(\d+)/(\d+)")


def parse_sforce_limit_info(value: str | None) -> SalesforceLimitInfo | None:
    """Parse the header's ``api-usage`` entry (``per-app-api-usage`` is ignored)."""
    match = _API_USAGE.search(value or "")
    return SalesforceLimitInfo(int(match[1]), int(match[2])) if match else None
