"""Companies, deals and tickets endpoints of the HubSpot sandbox: list, get, batch read,
search, under ``/crm/v3/objects/{companies|deals|tickets}`` (type ids and singular names
too, see :mod:`.objecttypes`).

Companies (:mod:`.companies`) and deals (:mod:`.deals`) are views of the generated
people; the sandbox account holds no tickets (its default token lacks the ``tickets``
scope, so those calls answer 403 MISSING_SCOPES, as on a portal whose app was not
granted it). Pages, bodies and errors are the contacts' ones (``SimplePublicObject``,
``paging.next.after``, 207 for unknown ids in a batch read, search's limits).
"""

from __future__ import annotations

from typing import Any

from leadsync.connectors.sandbox.hubspot.api import (
    _MISSING,
    ApiRequest,
    ListWindow,
    Result,
    _bad,
    _batch,
    _inputs,
    _item_error,
    _not_found,
    _paging,
    list_window,
    object_type,
)
from leadsync.connectors.sandbox.hubspot.objectprops import DEFAULT_NAMES
from leadsync.connectors.sandbox.hubspot.objecttypes import SINGULAR
from leadsync.connectors.sandbox.hubspot.search import SearchError, run_search, validate_search
from leadsync.connectors.sandbox.hubspot.store import HubSpotStore

__all__ = ["batch_read_records", "get_record", "list_records", "search_records"]

Props = dict[str, str | None]


def _ids(store: HubSpotStore, obj: str) -> list[int]:
    if obj == "companies":
        return store.companies.ids()
    if obj == "deals":
        return store.deals.ids()
    return []


def _props(store: HubSpotStore, obj: str, ident: str) -> Props | None:
    try:
        oid = int(ident)
    except ValueError:
        return None
    if obj == "companies":
        return store.companies.props(oid)
    if obj == "deals":
        return store.deals.props(oid)
    return None


def _associated(store: HubSpotStore, obj: str, oid: int) -> list[int]:
    """The contacts of a company or deal."""
    if obj == "companies":
        return store.companies.contacts_of(oid)
    return [oid] if obj == "deals" and store.deals.props(oid) is not None else []


def _json(
    store: HubSpotStore, obj: str, oid: int, props: Props, names: list[str], assoc: list[str]
) -> dict[str, Any]:
    defs = store.props[obj]
    wanted = names or list(DEFAULT_NAMES[obj])
    out: dict[str, Any] = {
        "id": str(oid),
        "properties": {n: props.get(n) for n in wanted if n in defs},
        "createdAt": props["createdate"],
        "updatedAt": props["hs_lastmodifieddate"],
        "archived": False,
    }
    if "contacts" in assoc:
        contacts = _associated(store, obj, oid)
        label = f"{SINGULAR[obj]}_to_contact"
        out["associations"] = (
            {"contacts": {"results": [{"id": str(c), "type": label} for c in contacts]}}
            if contacts
            else {}
        )
    return out


def list_records(req: ApiRequest) -> Result:
    """``GET /crm/v3/objects/{type}``: a page in id order (``after`` = the next id)."""
    obj, store = object_type(req), req.store
    window = list_window(req)
    if not isinstance(window, ListWindow):
        return window
    limit, after = window
    ids = [i for i in _ids(store, obj) if i >= after]
    names, assoc = req.args("properties"), req.args("associations")
    page = []
    for oid in ids[:limit]:
        props = _props(store, obj, str(oid))
        if props is not None:
            page.append(_json(store, obj, oid, props, names, assoc))
    body: dict[str, Any] = {"results": page}
    if len(ids) > limit:
        body["paging"] = _paging(str(ids[limit]))
    return 200, body


def get_record(req: ApiRequest) -> Result:
    """``GET /crm/v3/objects/{type}/{id}`` (+ ``associations=contacts``); 404 if unknown."""
    assert req.match
    obj, ident = object_type(req), req.match["id"]
    props = _props(req.store, obj, ident)
    if props is None:
        return _not_found()
    return 200, _json(req.store, obj, int(ident), props, req.args("properties"),
                      req.args("associations"))  # fmt: skip


def batch_read_records(req: ApiRequest) -> Result:
    """``POST /crm/v3/objects/{type}/batch/read``: ≤ 100 inputs; unknown ids make it a 207."""
    inputs = _inputs(req, 100)
    if isinstance(inputs, tuple):
        return inputs
    obj, store = object_type(req), req.store
    names = req.body.get("properties") or []
    results, missing = [], []
    for item in inputs:
        ident = str((item or {}).get("id", ""))
        props = _props(store, obj, ident)
        if props is None:
            missing.append(ident)
        else:
            shown = [*names, "createdate", "hs_lastmodifieddate", "hs_object_id"]
            results.append(_json(store, obj, int(ident), props, shown, []))
    kind = SINGULAR[obj].upper()
    errors = (
        [_item_error("OBJECT_NOT_FOUND", _MISSING.format(verb="get", kind=kind), missing)]
        if missing
        else []
    )
    return _batch(results, errors)


def search_records(req: ApiRequest) -> Result:
    """``POST /crm/v3/objects/{type}/search``: the contacts' search over these records."""
    obj, store = object_type(req), req.store
    defs = store.props[obj]
    try:
        spec = validate_search(req.body, req.raw_len, defs)
    except SearchError as exc:
        return _bad(str(exc))
    cache: dict[int, Props] = {}

    def props_of(oid: int) -> Props:
        if oid not in cache:
            cache[oid] = _props(store, obj, str(oid)) or {}
        return cache[oid]

    total, ids = run_search(spec, _ids(store, obj), props_of, defs)
    names = [n for n in spec["properties"] if isinstance(n, str)]
    results = [_json(store, obj, oid, props_of(oid), names, []) for oid in ids]
    body: dict[str, Any] = {"total": total, "results": results}
    end = spec["after"] + spec["limit"]
    if end < total and spec["limit"]:
        body["paging"] = _paging(str(end))
    return 200, body
