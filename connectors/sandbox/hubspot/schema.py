"""Property and property-group endpoints of the HubSpot sandbox (``/crm/v3/properties``).

Definitions are created, updated and archived as HubSpot does: required fields,
409 CONFLICT on a duplicate name, enumeration options, HubSpot-defined properties
that cannot be retyped or archived. Sources: the facts sheet § Properties and
https://developers.hubspot.com/docs/api/crm/properties.
"""

from __future__ import annotations

from typing import Any

from leadsync.connectors.sandbox.hubspot.api import (
    OBJECT_TYPES,
    ApiRequest,
    Result,
    _bad,
    _not_found,
    error_body,
)
from leadsync.connectors.sandbox.hubspot.props import (
    FIELD_TYPES,
    TYPES,
    PropertyDef,
    PropertyGroupDef,
)

# ------------------------------------------------------------------ properties


def _object_type(req: ApiRequest) -> str | None:
    assert req.match
    obj = req.match["obj"]
    return obj if obj in OBJECT_TYPES else None


def list_properties(req: ApiRequest) -> Result:
    """``GET /crm/v3/properties/{objectType}`` (``archived=true`` lists archived ones)."""
    obj = _object_type(req)
    if obj is None:
        return _bad(f"Unable to infer object type from: {req.match['obj'] if req.match else ''}")
    archived = (req.arg("archived") or "false").lower() == "true"
    defs = [d.to_json() for d in req.store.props[obj].values() if d.archived == archived]
    return 200, {"results": defs}


def get_property(req: ApiRequest) -> Result:
    """``GET /crm/v3/properties/{objectType}/{name}``; 404 if unknown."""
    obj = _object_type(req)
    assert req.match
    d = req.store.props[obj].get(req.match["name"]) if obj else None
    if d is None or d.archived:
        return _not_found(f"Unable to find property {req.match['name']}")
    return 200, d.to_json()


def create_property(req: ApiRequest) -> Result:
    """``POST /crm/v3/properties/{objectType}``: required fields, group must exist, 409 if taken."""
    obj = _object_type(req)
    if obj is None:
        return _bad("Unknown object type")
    b = req.body if isinstance(req.body, dict) else {}
    invalid = property_input_error(b)
    if invalid is not None:
        return _bad(invalid)
    with req.store.lock:
        return add_property(req, obj, b)


def property_input_error(b: dict[str, Any]) -> str | None:
    """What makes a property create body invalid (HubSpot's 400 message), or None."""
    missing = [k for k in ("name", "label", "type", "fieldType", "groupName") if not b.get(k)]
    if missing:
        return f"Missing required fields: {', '.join(missing)}"
    if b["type"] not in TYPES or b["fieldType"] not in FIELD_TYPES:
        return f"Invalid type/fieldType combination: {b['type']}/{b['fieldType']}"
    if b["type"] == "enumeration" and not (b.get("options") or []):
        return "Enumeration properties need at least one option."
    return None


def add_property(req: ApiRequest, obj: str, b: dict[str, Any]) -> Result:
    """Store a valid create body (caller holds the store's lock): 201, or 409 if the name is
    taken, 400 if the group does not exist."""
    store = req.store
    defs = store.props[obj]
    if b["name"] in defs and not defs[b["name"]].archived:
        return 409, error_body(
            "CONFLICT",
            f"Property named '{b['name']}' already exists.",
            subCategory="PropertyValidationError.PROPERTY_EXISTS",
        )
    if b["groupName"] not in store.groups[obj]:
        return _bad(f"Property group '{b['groupName']}' does not exist.")
    options = b.get("options") or []
    now = store.now_ms()
    d = PropertyDef(
        name=b["name"], label=b["label"], type=b["type"], field_type=b["fieldType"],
        group_name=b["groupName"], description=b.get("description") or "",
        options=[_option(o, i) for i, o in enumerate(options)], hubspot_defined=False,
        display_order=b.get("displayOrder", -1), has_unique_value=bool(b.get("hasUniqueValue")),
        form_field=bool(b.get("formField")), hidden=bool(b.get("hidden")),
        created_ms=now, updated_ms=now,
    )  # fmt: skip
    defs[d.name] = d
    return 201, d.to_json()


def _option(o: dict[str, Any], i: int) -> dict[str, Any]:
    return {"label": o.get("label", o.get("value")), "value": o.get("value"),
            "displayOrder": o.get("displayOrder", i), "hidden": bool(o.get("hidden", False)),
            "description": o.get("description") or ""}  # fmt: skip


def update_property(req: ApiRequest) -> Result:
    """``PATCH /crm/v3/properties/{objectType}/{name}``: label, description, group, options."""
    obj = _object_type(req)
    assert req.match
    store = req.store
    with store.lock:
        d = store.props[obj].get(req.match["name"]) if obj else None
        if d is None or d.archived:
            return _not_found(f"Unable to find property {req.match['name']}")
        b = req.body if isinstance(req.body, dict) else {}
        if d.hubspot_defined and any(k in b for k in ("type", "fieldType")):
            return _bad(f"Cannot change the type of HubSpot-defined property {d.name}")
        d.label = b.get("label", d.label)
        d.description = b.get("description", d.description)
        d.group_name = b.get("groupName", d.group_name)
        if "options" in b:
            d.options = [_option(o, i) for i, o in enumerate(b["options"])]
        d.updated_ms = store.now_ms()
    return 200, d.to_json()


def archive_property(req: ApiRequest) -> Result:
    """``DELETE /crm/v3/properties/{objectType}/{name}``: custom properties only (204)."""
    obj = _object_type(req)
    assert req.match
    with req.store.lock:
        d = req.store.props[obj].get(req.match["name"]) if obj else None
        if d is None or d.archived:
            return _not_found(f"Unable to find property {req.match['name']}")
        if d.hubspot_defined:
            return _bad(f"HubSpot-defined property {d.name} cannot be archived.")
        d.archived = True
    return 204, None


def list_groups(req: ApiRequest) -> Result:
    """``GET /crm/v3/properties/{objectType}/groups``."""
    obj = _object_type(req)
    if obj is None:
        return _bad("Unknown object type")
    return 200, {"results": [g.to_json() for g in req.store.groups[obj].values() if not g.archived]}


def get_group(req: ApiRequest) -> Result:
    """``GET /crm/v3/properties/{objectType}/groups/{name}``; 404 if unknown."""
    obj = _object_type(req)
    assert req.match
    g = req.store.groups[obj].get(req.match["name"]) if obj else None
    if g is None or g.archived:
        return _not_found(f"Unable to find property group {req.match['name']}")
    return 200, g.to_json()


def create_group(req: ApiRequest) -> Result:
    """``POST /crm/v3/properties/{objectType}/groups``: 409 if the name is taken."""
    obj = _object_type(req)
    if obj is None:
        return _bad("Unknown object type")
    b = req.body if isinstance(req.body, dict) else {}
    if not b.get("name") or not b.get("label"):
        return _bad("Missing required fields: name, label")
    with req.store.lock:
        groups = req.store.groups[obj]
        if b["name"] in groups and not groups[b["name"]].archived:
            return 409, error_body(
                "CONFLICT", f"A property group named '{b['name']}' already exists."
            )
        g = PropertyGroupDef(b["name"], b["label"], int(b.get("displayOrder", -1)))
        groups[g.name] = g
    return 201, g.to_json()


def update_group(req: ApiRequest) -> Result:
    """``PATCH /crm/v3/properties/{objectType}/groups/{name}``."""
    obj = _object_type(req)
    assert req.match
    with req.store.lock:
        g = req.store.groups[obj].get(req.match["name"]) if obj else None
        if g is None or g.archived:
            return _not_found(f"Unable to find property group {req.match['name']}")
        b = req.body if isinstance(req.body, dict) else {}
        g.label = b.get("label", g.label)
        g.display_order = int(b.get("displayOrder", g.display_order))
    return 200, g.to_json()


def archive_group(req: ApiRequest) -> Result:
    """``DELETE /crm/v3/properties/{objectType}/groups/{name}`` (204)."""
    obj = _object_type(req)
    assert req.match
    with req.store.lock:
        g = req.store.groups[obj].get(req.match["name"]) if obj else None
        if g is None or g.archived:
            return _not_found(f"Unable to find property group {req.match['name']}")
        g.archived = True
    return 204, None
