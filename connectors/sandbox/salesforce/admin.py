"""The Salesforce sandbox's admin endpoints under ``/__sandbox/`` (no auth, never counted).

``GET counters`` and ``POST counters/reset``; ``GET``/``POST faults`` (JSON or a
``key=value,…`` spec); ``POST touch`` (``{"object", "count"}``: simulated user edits);
``POST expire-sessions``. Kept apart from ``server.py``: they are test controls, not API.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from leadsync.connectors.sandbox.salesforce.http import Reply, not_found

if TYPE_CHECKING:
    from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox

__all__ = ["dispatch_admin"]


def dispatch_admin(box: SalesforceSandbox, method: str, parts: list[str], body: bytes) -> Reply:
    """Answer one ``/__sandbox/`` call (no auth, never counted)."""
    route = "/".join(p for p in parts if p)
    if route == "counters" and method == "GET":
        snap = box.counters.snapshot()
        return Reply(200, {ep: {str(k): v for k, v in st.items()} for ep, st in snap.items()})
    if route == "counters/reset" and method == "POST":
        box.counters.reset()
        return Reply(204)
    if route == "faults" and method == "GET":
        return Reply(200, box.faults.to_dict())
    payload = _admin_body(body)
    try:
        if route == "faults" and method == "POST":
            if isinstance(payload, str):
                box.faults.update_from_spec(payload)
            else:
                box.faults.update(**payload)
            return Reply(200, box.faults.to_dict())
        if route == "touch" and method == "POST":
            sobject = str(payload.get("object", "Lead")) if isinstance(payload, dict) else "Lead"
            count = int(payload.get("count", 10)) if isinstance(payload, dict) else 10
            return Reply(200, {"ids": box.touch(sobject, count)})
    except (ValueError, LookupError, TypeError) as exc:
        return Reply(400, {"error": str(exc)})
    if route == "expire-sessions" and method == "POST":
        box.expire_sessions()
        return Reply(204)
    raise not_found()


def _admin_body(body: bytes) -> Any:
    text = body.decode("utf-8", "replace").strip()
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text
