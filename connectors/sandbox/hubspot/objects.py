"""Engagement, task, association, owner and event endpoints of the HubSpot sandbox.

Engagements (emails, calls, meetings, notes) and events are views of the generated
activities (see :mod:`leadsync.connectors.sandbox.hubspot.store`); tasks are what
the API created. Sources: the facts sheet § Engagements, tasks, owners and
§ Behaviour data, and the HubSpot pages listed in ``README.md``.
"""

from __future__ import annotations

import base64
from typing import Any

from leadsync.connectors.sandbox.hubspot.api import (
    _MISSING,
    ApiRequest,
    ListWindow,
    Result,
    _assoc_ids,
    _bad,
    _batch,
    _inputs,
    _item_error,
    _limit,
    _not_found,
    _paging,
    list_window,
    object_type,
)
from leadsync.connectors.sandbox.hubspot.deals import deal_ids
from leadsync.connectors.sandbox.hubspot.events import EVENT_TYPES
from leadsync.connectors.sandbox.hubspot.objecttypes import SINGULAR
from leadsync.connectors.sandbox.hubspot.props import (
    format_ms,
    parse_time_ms,
    property_value_errors,
    validation_message,
)
from leadsync.connectors.sandbox.hubspot.store import (
    ASSOC_TYPES,
    HubSpotStore,
)

# -------------------------------------------------------- engagements and tasks


def list_objects(req: ApiRequest) -> Result:
    """``GET /crm/v3/objects/{emails|calls|meetings|notes|tasks}``: a page in id order."""
    obj, store = object_type(req), req.store
    window = list_window(req)
    if not isinstance(window, ListWindow):
        return window
    limit, after = window
    names = req.args("properties")
    with_assoc = "contacts" in req.args("associations")
    page: list[dict[str, Any]] = []
    nxt: str | None = None
    if obj == "tasks":
        with store.lock:
            ids = sorted(i for i in store.tasks if i >= after)
        for tid in ids[: limit + 1]:
            if len(page) == limit:
                nxt = str(tid)
                break
            page.append(store.task_json(store.tasks[tid], names))
            if with_assoc:
                page[-1]["associations"] = _contact_assoc(store, obj, str(tid))
    else:
        for key in range(max(0, after // 10_000 - 1), store.contact_count):
            for eid, act in store.engagements_of(key, obj):
                if eid < after:
                    continue
                if len(page) == limit:
                    nxt = str(eid)
                    break
                page.append(store.engagement_json(obj, eid, key, act, names))
                if with_assoc:
                    page[-1]["associations"] = _contact_assoc(store, obj, str(eid))
            if nxt:
                break
    body: dict[str, Any] = {"results": page}
    if nxt:
        body["paging"] = _paging(nxt)
    return 200, body


def _object_json(req: ApiRequest, obj: str, ident: str, names: list[str]) -> dict[str, Any] | None:
    store = req.store
    try:
        oid = int(ident)
    except ValueError:
        return None
    if obj == "tasks":
        rec = store.tasks.get(oid)
        return store.task_json(rec, names) if rec else None
    found = store.engagement(obj, oid)
    return store.engagement_json(obj, oid, found[0], found[1], names) if found else None


def get_object(req: ApiRequest) -> Result:
    """``GET /crm/v3/objects/{type}/{id}`` (+ ``associations=contacts``); 404 if unknown."""
    assert req.match
    kind, ident = object_type(req), req.match["id"]
    obj = _object_json(req, kind, ident, req.args("properties"))
    if obj is None:
        return _not_found()
    if "contacts" in req.args("associations"):
        obj["associations"] = _contact_assoc(req.store, kind, ident)
    return 200, obj


def _contact_assoc(store: HubSpotStore, kind: str, ident: str) -> dict[str, Any]:
    """``associations`` of an engagement or task: its contacts (``task_to_contact``…)."""
    ids = _targets(store, kind, "contacts", ident)
    if not ids:
        return {}
    label = f"{kind[:-1]}_to_contact"
    return {"contacts": {"results": [{"id": str(i), "type": label} for i in ids]}}


def batch_read_objects(req: ApiRequest) -> Result:
    """``POST /crm/v3/objects/{type}/batch/read``: ≤ 100 inputs; unknown ids make it a 207."""
    inputs = _inputs(req, 100)
    if isinstance(inputs, tuple):
        return inputs
    obj, names = object_type(req), req.body.get("properties") or []
    results, missing = [], []
    for item in inputs:
        ident = str((item or {}).get("id", ""))
        found = _object_json(req, obj, ident, names)
        if found is None:
            missing.append(ident)
        else:
            results.append(found)
    kind = obj[:-1].upper()
    errors = (
        [
            _item_error(
                "OBJECT_NOT_FOUND",
                _MISSING.format(verb="get", kind=kind),
                missing,
            )
        ]
        if missing
        else []
    )
    return _batch(results, errors)


def _task_input(
    req: ApiRequest, item: Any
) -> tuple[dict[str, Any], list[tuple[str, int, int]]] | Result:
    if not isinstance(item, dict) or not isinstance(item.get("properties"), dict):
        return _bad("Invalid input JSON: a task needs 'properties'.")
    props = item["properties"]
    errs = property_value_errors(req.store.props["tasks"], props)
    if not props.get("hs_timestamp"):
        errs.append(
            {
                "isValid": False,
                "message": "hs_timestamp is required",
                "error": "REQUIRED_PROPERTY",
                "name": "hs_timestamp",
                "localizedErrorMessage": "hs_timestamp is required",
            }
        )
    if errs:
        return _bad(validation_message(errs))
    assoc: list[tuple[str, int, int]] = []
    for a in item.get("associations") or []:
        to_id = str(((a or {}).get("to") or {}).get("id", ""))
        types = (a or {}).get("types") or []
        if not types:
            return _bad("Each association needs at least one type.")
        for t in types:
            type_id, category = t.get("associationTypeId"), t.get("associationCategory")
            if category != "HUBSPOT_DEFINED" or type_id != ASSOC_TYPES["tasks"][1]:
                return _bad(
                    f"Association type {category}/{type_id} is not valid from task to "
                    "contact; use HUBSPOT_DEFINED/204."
                )
        if req.store.person(to_id) is None:
            return _bad(
                f"Unable to create association: object with id {to_id} does not exist.",
                subCategory="crm.associations.INVALID_OBJECT_IDS",
            )
        assoc.append(("contacts", int(to_id), ASSOC_TYPES["tasks"][1]))
    return props, assoc


def create_task(req: ApiRequest) -> Result:
    """``POST /crm/v3/objects/tasks``: one task with its contact associations (201)."""
    parsed = _task_input(req, req.body)
    if isinstance(parsed[0], int):
        return parsed  # type: ignore[return-value]
    props, assoc = parsed  # type: ignore[misc]
    rec = req.store.create_task(props, assoc)
    return 201, req.store.task_json(rec, list(rec.properties))


def batch_create_tasks(req: ApiRequest) -> Result:
    """``POST /crm/v3/objects/tasks/batch/create``: ≤ 100 tasks, all validated first (201/207)."""
    inputs = _inputs(req, 100)
    if isinstance(inputs, tuple):
        return inputs
    parsed = []
    for item in inputs:
        one = _task_input(req, item)
        if isinstance(one[0], int):
            return one  # type: ignore[return-value]
        parsed.append(one)
    results, errors = [], []
    for i, (props, assoc) in enumerate(parsed):
        if req.faults.fail_item():
            errors.append(
                _item_error(
                    "INTERNAL_ERROR",
                    "This input could not be processed at this time; retry it.",
                    [],
                    inputIndex=[str(i)],
                )
            )
            continue
        rec = req.store.create_task(props, assoc)
        results.append(req.store.task_json(rec, list(rec.properties)))
    return _batch(results, errors, ok=201)


# --------------------------------------------------------------- associations


def batch_read_associations(req: ApiRequest) -> Result:
    """``POST /crm/v4/associations/{from}/{to}/batch/read``: ≤ 1,000 inputs, 207 for none found."""
    assert req.match
    src, dst = req.match["from"], req.match["to"]
    inputs = _inputs(req, 1000)
    if isinstance(inputs, tuple):
        return inputs
    store = req.store
    if src == "contacts" and dst in ASSOC_TYPES:
        type_id = ASSOC_TYPES[dst][0]
    elif dst == "contacts" and src in ASSOC_TYPES:
        type_id = ASSOC_TYPES[src][1]
    else:
        return _bad(f"Associations from {src} to {dst} are not available in this sandbox.")
    results, errors = [], []
    for item in inputs:
        ident = str((item or {}).get("id", ""))
        targets = _targets(store, src, dst, ident)
        if not targets:
            errors.append(
                _item_error(
                    "OBJECT_NOT_FOUND",
                    f"No {SINGULAR[dst]} is associated with {SINGULAR[src]} {ident}.",
                    [],
                    fromObjectId=[ident],
                    fromObjectType=[SINGULAR[src]],
                    toObjectType=[SINGULAR[dst]],
                )
                | {"subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND"}
            )
            continue
        to = [
            {
                "toObjectId": t,
                "associationTypes": [
                    {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}
                ],
            }
            for t in targets
        ]
        results.append({"from": {"id": ident}, "to": to})
    return _batch(results, errors)


def _targets(store: HubSpotStore, src: str, dst: str, ident: str) -> list[int]:
    if src == "contacts":
        p = store.person(ident)
        return _assoc_ids(store, p.key, dst) if p else []
    try:
        oid = int(ident)
    except ValueError:
        return []
    if src == "companies":
        return store.companies.contacts_of(oid) if dst == "contacts" else []
    if src == "deals":
        p = store.person(ident)
        return [p.key + 1] if p is not None and deal_ids(p) else []
    if src == "tasks":
        rec = store.tasks.get(oid)
        return [to_id for to_type, to_id, _ in rec.associations if to_type == dst] if rec else []
    found = store.engagement(src, oid)
    return [found[0] + 1] if found else []


# --------------------------------------------------------------------- owners


def _owner_json(o: Any, created: str) -> dict[str, Any]:
    uid = int(o.id) % 10_000_000 + 1_000_000
    return {"id": o.id, "email": o.email, "firstName": o.first_name, "lastName": o.last_name,
            "userId": uid, "userIdIncludingInactive": uid, "type": "PERSON", "teams": [],
            "archived": not o.active, "createdAt": created, "updatedAt": created}  # fmt: skip


def list_owners(req: ApiRequest) -> Result:
    """``GET /crm/v3/owners``: active owners, or deactivated ones with ``archived=true``."""
    limit = _limit(req, 100, 500)
    if isinstance(limit, tuple):
        return limit
    archived = (req.arg("archived") or "false").lower() == "true"
    email = (req.arg("email") or "").lower()
    owners = [o for o in req.store.dataset.owners if (not o.active) == archived]
    if email:
        owners = [o for o in owners if o.email.lower() == email]
    start = int(req.arg("after") or "0") if (req.arg("after") or "0").isdigit() else 0
    created = format_ms(int(req.store.dataset.as_of.timestamp() * 1000) - 400 * 86_400_000)
    page = [_owner_json(o, created) for o in owners[start : start + limit]]
    body: dict[str, Any] = {"results": page}
    if start + limit < len(owners):
        body["paging"] = _paging(str(start + limit))
    return 200, body


def get_owner(req: ApiRequest) -> Result:
    """``GET /crm/v3/owners/{id}``."""
    assert req.match
    created = format_ms(int(req.store.dataset.as_of.timestamp() * 1000) - 400 * 86_400_000)
    for o in req.store.dataset.owners:
        if o.id == req.match["id"]:
            return 200, _owner_json(o, created)
    return _not_found()


# --------------------------------------------------------------------- events


def list_events(req: ApiRequest) -> Result:
    """``GET /events/v3/events``: filtered, sorted (newest first by default), opaque paging."""
    store = req.store
    limit = _limit(req, 10, 100)
    if isinstance(limit, tuple):
        return limit
    obj_type, obj_id, etype = req.arg("objectType"), req.arg("objectId"), req.arg("eventType")
    if obj_id and not obj_type:
        return _bad("objectId requires objectType.")
    if obj_type and obj_type.lower() not in ("contact", "contacts", "0-1"):
        return 200, {"results": []}
    if etype and etype not in EVENT_TYPES.values():
        return 200, {"results": []}
    after_ms = parse_time_ms(req.arg("occurredAfter"))
    before_ms = parse_time_ms(req.arg("occurredBefore"))
    descending = (req.args("sort") or ["DESCENDING"])[0].upper() != "ASCENDING"
    if obj_id:
        p = store.person(obj_id)
        index = store.events.index(p.key) if p else []
    else:
        index = store.events.index()
    selected = [
        e
        for e in index
        if (not etype or e[3] == etype)
        and (after_ms is None or e[0] > after_ms)
        and (before_ms is None or e[0] < before_ms)
    ]
    if descending:
        selected.reverse()
    try:
        start = int(base64.urlsafe_b64decode(req.arg("after") or "MA==").decode())
    except ValueError:
        return _bad("Invalid paging token.")
    page = selected[start : start + limit]
    body: dict[str, Any] = {"results": store.events.to_json(page)}
    if start + limit < len(selected):
        token = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
        body["paging"] = _paging(token)
    return 200, body


def event_types(req: ApiRequest) -> Result:
    """``GET /events/v3/events/event-types``: the event types this sandbox emits."""
    return 200, {"eventTypes": sorted(EVENT_TYPES.values())}
