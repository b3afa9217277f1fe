"""Test data builders: leads and events as the canonical format writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from leadsync.scoring.lead import Lead, parse_lead

AS_OF = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def event(type_: str, days_ago: float = 1, **attrs: Any) -> dict[str, Any]:
    """An event ``days_ago`` days before :data:`AS_OF`, as JSON."""
    at = AS_OF - timedelta(days=days_ago)
    return {"type": type_, "at": at.isoformat().replace("+00:00", "Z"), **attrs}


def lead(
    lead_id: str = "l1", events: list[dict[str, Any]] | None = None, **properties: Any
) -> Lead:
    return parse_lead({"id": lead_id, "properties": properties, "events": events or []})
