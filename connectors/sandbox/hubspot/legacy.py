"""Legacy HubSpot APIs that extractors still call, in the HubSpot sandbox.

- Properties v1 and v2 (``GET /properties/v1/{contacts|companies|deals}/properties``,
  ``/properties/v2/…/properties``, and ``/companies/v2/properties`` that tap-hubspot
  reads): the same definitions as ``/crm/v3/properties``, as the legacy JSON list
  (``readOnlyValue``, ``deleted``, epoch-millisecond ``createdAt``…), not wrapped in
  ``results``.
- Retired APIs answer 404 with a message naming the replacement, as HubSpot said they
  would: the contact lists v1 API (``/contacts/v1/lists/…``, including
  ``/contacts/v1/lists/all/contacts/all``; sunset on 2026-04-30,
  https://developers.hubspot.com/changelog/upcoming-sunset-v1-lists-api) and owners v2
  (``/owners/v2/…``; sunset on 2024-08-30, "will … return a 404 error response",
  https://developers.hubspot.com/changelog/sunset-v2-owners-api).
"""

from __future__ import annotations

from typing import Any

from leadsync.connectors.sandbox.hubspot.api import ApiRequest, Result, error_body
from leadsync.connectors.sandbox.hubspot.props import PropertyDef

__all__ = ["legacy_properties", "retired_api"]

_RETIRED = {
    "contacts": ("the v1 contact lists API", "/crm/v3/lists and /crm/v3/objects/contacts"),
    "owners": ("the v2 owners API", "/crm/v3/owners"),
}


def _legacy_json(d: PropertyDef) -> dict[str, Any]:
    options = [
        {"label": o.get("label"), "value": o.get("value"),
         "displayOrder": o.get("displayOrder", -1), "hidden": bool(o.get("hidden")),
         "description": o.get("description") or "", "readOnly": False}
        for o in d.options
    ]  # fmt: skip
    return {
        "name": d.name, "label": d.label, "description": d.description,
        "groupName": d.group_name, "type": d.type, "fieldType": d.field_type,
        "options": options, "displayOrder": d.display_order, "formField": d.form_field,
        "readOnlyValue": d.read_only, "readOnlyDefinition": d.hubspot_defined,
        "hidden": d.hidden, "mutableDefinitionNotDeletable": d.hubspot_defined,
        "calculated": d.read_only and d.hubspot_defined, "externalOptions": False,
        "deleted": False, "hubspotDefined": True if d.hubspot_defined else None,
        "favorited": False, "favoritedOrder": -1, "displayMode": "current_value",
        "hasUniqueValue": d.has_unique_value, "searchableInGlobalSearch": False,
        "showCurrencySymbol": None, "textDisplayHint": None, "numberDisplayHint": None,
        "optionsAreMutable": None, "referencedObjectType": None,
        "createdAt": d.created_ms, "updatedAt": d.updated_ms,
        "createdUserId": None, "updatedUserId": None,
    }  # fmt: skip


def legacy_properties(req: ApiRequest) -> Result:
    """``GET /properties/v{1,2}/{type}/properties`` (or ``/companies/v2/properties``)."""
    assert req.match
    defs = req.store.props[req.match["obj"]].values()
    return 200, [_legacy_json(d) for d in defs if not d.archived]


def retired_api(req: ApiRequest) -> Result:
    """A sunset API: 404 with the replacement to use."""
    assert req.match
    what, instead = _RETIRED[req.match["api"]]
    return 404, error_body(
        "OBJECT_NOT_FOUND", f"{what.capitalize()} has been sunset; use {instead} instead."
    )
