"""Endpoint handlers of the HubSpot sandbox: one function per HubSpot API operation.

Each handler takes the parsed request and returns ``(status, JSON body)``; the
server (:mod:`leadsync.connectors.sandbox.hubspot.server`) does HTTP, auth, rate limits and
faults around them. Response shapes follow hubspot-api-client 12's models (which
are generated from HubSpot's OpenAPI specs), so every body deserializes through
them; behaviours follow the facts sheet (``crm-api-facts.md``) and the HubSpot
pages named in ``README.md``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from leadsync.connectors.sandbox.faults import Faults
from leadsync.connectors.sandbox.hubspot.deals import deal_ids
from leadsync.connectors.sandbox.hubspot.objecttypes import SINGULAR
from leadsync.connectors.sandbox.hubspot.props import (
    format_ms,
    property_value_errors,
    validation_message,
)
from leadsync.connectors.sandbox.hubspot.search import SearchError, run_search, validate_search
from leadsync.connectors.sandbox.hubspot.store import (
    ASSOC_TYPES,
    ENGAGEMENT_KINDS,
    HubSpotStore,
)

__all__ = ["ApiRequest", "Handler", "Route", "error_body"]

Body = dict[str, Any] | list[Any] | None
Result = tuple[int, Body]
ENGAGEMENTS = tuple(ENGAGEMENT_KINDS)
OBJECT_TYPES = ("contacts", "tasks", *ENGAGEMENTS, "companies", "deals", "tickets")


@dataclass
class ApiRequest:
    """What a handler needs from an HTTP request."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    raw_len: int
    store: HubSpotStore
    faults: Faults
    match: re.Match[str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The last value of a query parameter."""
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        """A repeated or comma-separated query parameter (``properties=a&properties=b,c``)."""
        return [v for raw in self.query.get(name, []) for v in raw.split(",") if v]


Handler = Callable[[ApiRequest], Result]


@dataclass(frozen=True)
class Route:
    """One API operation: method, path pattern, counter name, scope, handler."""

    method: str
    pattern: re.Pattern[str]
    endpoint: str
    scope: str
    handler: Handler


def error_body(
    category: str, message: str, *, errors: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    """HubSpot's error body: status, message, correlationId, category (+ errors, context…)."""
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extra)
    return body


_MISSING = (
    "Could not {verb} some {kind} objects, they may be deleted or not exist. "
    "Check that ids are valid."
)


def _bad(message: str, **extra: Any) -> Result:
    return 400, error_body("VALIDATION_ERROR", message, **extra)


def _not_found(message: str = "resource not found") -> Result:
    return 404, error_body("OBJECT_NOT_FOUND", message)


def _now_iso() -> str:
    return format_ms(int(datetime.now(tz=UTC).timestamp() * 1000))


def _batch(results: list[dict[str, Any]], errors: list[dict[str, Any]], ok: int = 200) -> Result:
    """A batch answer: ``ok`` when everything worked, 207 with ``errors`` otherwise."""
    now = _now_iso()
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "requestedAt": now,
                            "startedAt": now, "completedAt": now}  # fmt: skip
    if errors:
        body |= {"numErrors": len(errors), "errors": errors}
        return 207, body
    return ok, body


def _item_error(category: str, message: str, ids: list[str], **ctx: list[str]) -> dict[str, Any]:
    context = {"ids": ids, **ctx} if ids else dict(ctx)
    return {"status": "error", "category": category, "message": message,
            "context": context, "errors": [], "links": {}}  # fmt: skip


def _limit(req: ApiRequest, default: int, maximum: int) -> int | Result:
    raw = req.arg("limit")
    try:
        limit = default if raw is None else int(raw)
    except ValueError:
        return _bad(f"limit must be an integer, got '{raw}'")
    if not 1 <= limit <= maximum:
        return _bad(f"limit must be between 1 and {maximum} (got {limit}).")
    return limit


class ListWindow(NamedTuple):
    """Where a list request's page starts (``after``, an id) and how long it is."""

    limit: int
    after: int


def list_window(req: ApiRequest, first: int = 0) -> ListWindow | Result:
    """A list request's ``limit`` (default 10, ≤ 100) and ``after`` (default ``first``), or
    its answer: 400 for a bad value, an empty page for ``archived=true`` (nothing in the
    sandbox is ever archived)."""
    limit = _limit(req, 10, 100)
    if isinstance(limit, tuple):
        return limit
    if (req.arg("archived") or "false").lower() == "true":
        return 200, {"results": []}
    try:
        return ListWindow(limit, int(req.arg("after") or first))
    except ValueError:
        return _bad(f"Invalid 'after' value '{req.arg('after')}'.")


def object_type(req: ApiRequest) -> str:
    """The ``{objectType}`` of the request's path (``contacts``, ``deals``, ``tasks``…)."""
    assert req.match
    return req.match["obj"]


def _inputs(req: ApiRequest, maximum: int) -> list[dict[str, Any]] | Result:
    body = req.body if isinstance(req.body, dict) else {}
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        return _bad("Invalid input JSON: 'inputs' must be a list.")
    if len(inputs) > maximum:
        return _bad(f"Batch input limit exceeded: {len(inputs)} inputs, the maximum is {maximum}.")
    return inputs


def _paging(after: str | None) -> dict[str, Any] | None:
    return {"next": {"after": after}} if after is not None else None


# --------------------------------------------------------------------- contacts


def _key_of(req: ApiRequest, ident: str, id_property: str | None) -> int | None:
    store = req.store
    if id_property in (None, "", "hs_object_id"):
        p = store.person(ident)
        return p.key if p else None
    if id_property == "email":
        return store.key_by_email(ident)
    return None


def _assoc_json(req: ApiRequest, key: int, names: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for to in names:
        if to not in ASSOC_TYPES:
            continue
        ids = _assoc_ids(req.store, key, to)
        label = f"contact_to_{SINGULAR[to]}"
        if ids:
            out[to] = {"results": [{"id": str(i), "type": label} for i in ids]}
    return out


def _assoc_ids(store: HubSpotStore, key: int, to: str) -> list[int]:
    if to == "tasks":
        return store.task_ids_of(key)
    if to == "deals":
        return deal_ids(store.dataset.people[key])
    if to == "companies":
        company = store.companies.company_of(store.dataset.people[key])
        return [company] if company is not None else []
    return [eid for eid, _ in store.engagements_of(key, to)]


def list_contacts(req: ApiRequest) -> Result:
    """``GET /crm/v3/objects/contacts``: a page of contacts in id order (``after`` = next id)."""
    window = list_window(req, first=1)
    if not isinstance(window, ListWindow):
        return window
    limit, start = window.limit, max(0, window.after - 1)
    n = req.store.contact_count
    keys = range(start, min(n, start + limit))
    names, assoc = req.args("properties"), req.args("associations")
    results = []
    for key in keys:
        obj = req.store.contact_json(key, names)
        if assoc:
            obj["associations"] = _assoc_json(req, key, assoc)
        results.append(obj)
    nxt = str(start + limit + 1) if start + limit < n else None
    body: dict[str, Any] = {"results": results}
    if nxt:
        body["paging"] = _paging(nxt)
    return 200, body


def get_contact(req: ApiRequest) -> Result:
    """``GET /crm/v3/objects/contacts/{id}`` (``idProperty=email`` allowed); 404 if unknown."""
    assert req.match
    key = _key_of(req, req.match["id"], req.arg("idProperty"))
    if key is None:
        return _not_found()
    obj = req.store.contact_json(key, req.args("properties"))
    assoc = req.args("associations")
    if assoc:
        obj["associations"] = _assoc_json(req, key, assoc)
    return 200, obj


def batch_read_contacts(req: ApiRequest) -> Result:
    """``POST …/contacts/batch/read``: ≤ 100 inputs; unknown ids make it a 207."""
    inputs = _inputs(req, 100)
    if isinstance(inputs, tuple):
        return inputs
    body = req.body
    id_prop, names = body.get("idProperty"), body.get("properties") or []
    results, missing, failed = [], [], []
    for item in inputs:
        ident = str((item or {}).get("id", ""))
        key = _key_of(req, ident, id_prop)
        if key is None:
            missing.append(ident)
        elif req.faults.fail_item():
            failed.append(ident)
        else:
            results.append(req.store.contact_json(key, names))
    errors = []
    if missing:
        errors.append(
            _item_error(
                "OBJECT_NOT_FOUND",
                _MISSING.format(verb="get", kind="CONTACT"),
                missing,
            )
        )
    errors += [_transient(i) for i in failed]
    return _batch(results, errors)


def _transient(ident: str) -> dict[str, Any]:
    return _item_error(
        "INTERNAL_ERROR", "This input could not be processed at this time; retry it.", [ident]
    )


def batch_update_contacts(req: ApiRequest) -> Result:
    """``POST …/contacts/batch/update``: validate every input (400), then write (207 if unknown)."""
    inputs = _inputs(req, 100)
    if isinstance(inputs, tuple):
        return inputs
    store, defs = req.store, req.store.props["contacts"]
    seen: set[str] = set()
    for item in inputs:
        if not isinstance(item, dict) or not isinstance(item.get("properties"), dict):
            return _bad("Invalid input JSON: each input needs 'id' and 'properties'.")
        ident = str(item.get("id", ""))
        if ident in seen:
            return _bad(f"Duplicate IDs found in batch input: [{ident}]. IDs must be unique")
        seen.add(ident)
        errs = property_value_errors(defs, item["properties"])
        if errs:
            return _bad(
                validation_message(errs),
                errors=[
                    {
                        "message": e["message"],
                        "code": e["error"],
                        "context": {"propertyName": [e["name"]]},
                    }
                    for e in errs
                ],
            )
    results, missing, failed = [], [], []
    for item in inputs:
        ident = str(item["id"])
        key = _key_of(req, ident, item.get("idProperty"))
        if key is None:
            missing.append(ident)
            continue
        if req.faults.fail_item():
            failed.append(ident)
            continue
        store.write_contact(key, item["properties"])
        names = ["hs_object_id", "lastmodifieddate", *item["properties"]]
        results.append(store.contact_json(key, names))
    errors = []
    if missing:
        errors.append(
            _item_error(
                "OBJECT_NOT_FOUND",
                _MISSING.format(verb="update", kind="CONTACT"),
                missing,
            )
        )
    errors += [_transient(i) for i in failed]
    return _batch(results, errors)


def update_contact(req: ApiRequest) -> Result:
    """``PATCH …/contacts/{id}`` (``idProperty=email`` allowed): 404 if unknown, 400 on a bad
    property value, else the contact with the properties written."""
    assert req.match
    body = req.body
    if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
        return _bad("Invalid input JSON: the body needs 'properties'.")
    key = _key_of(req, req.match["id"], req.arg("idProperty"))
    if key is None:
        return _not_found()
    errs = property_value_errors(req.store.props["contacts"], body["properties"])
    if errs:
        return _bad(validation_message(errs))
    req.store.write_contact(key, body["properties"])
    names = ["hs_object_id", "lastmodifieddate", *body["properties"]]
    return 200, req.store.contact_json(key, names)


def search_contacts(req: ApiRequest) -> Result:
    """``POST …/contacts/search``: validated, evaluated over the index view, paged by offset."""
    defs = req.store.props["contacts"]
    try:
        spec = validate_search(req.body, req.raw_len, defs)
    except SearchError as exc:
        return _bad(str(exc))
    store = req.store
    total, keys = run_search(spec, range(store.contact_count), store.searchable_props, defs)
    names = [n for n in spec["properties"] if isinstance(n, str)]
    results = [store.contact_json(k, names, store.searchable_props(k)) for k in keys]
    body: dict[str, Any] = {"total": total, "results": results}
    end = spec["after"] + spec["limit"]
    if end < total and spec["limit"]:
        body["paging"] = _paging(str(end))
    return 200, body
