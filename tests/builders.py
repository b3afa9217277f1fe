"""Test data builders: leads and events as the canonical format writes them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
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


def write_leads_file(path: Path, megabytes: int) -> int:
    """A JSONL file of about ``megabytes`` MB of leads with 25 events each."""
    events = [event("page_view", d % 200, url=f"https://acme.io/page/{d}") for d in range(20)]
    events += [event("demo_request", 3), event("email_open", 9, campaign="newsletter")] * 2
    events += [event("content_download", 40, asset="Guide", kind="case_study")]
    tail = json.dumps(
        {
            "properties": {"title": "VP Sales", "company_size": 120, "email": "x@acme.io"},
            "events": events,
        }
    )
    line_start, line_end = '{"id": "lead-', '", ' + tail[1:] + "\n"
    size = len(line_start) + len(line_end) + 7
    count = megabytes * 1_000_000 // size
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            out.write(f"{line_start}{i:07d}{line_end}")
    return count
