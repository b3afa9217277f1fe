"""The custom object schemas API of the HubSpot sandbox: ``GET /crm/v3/schemas`` (also
under ``/crm-object-schemas/v3/schemas``, the path hubspot-api-client calls).

The sandbox account defines no custom object, so the list is empty (``{"results": []}``,
what a real portal without custom objects answers) and any one schema is 404. A token
without ``crm.schemas.custom.read`` gets 403 MISSING_SCOPES from the server, as on
HubSpot. Source: https://developers.hubspot.com/docs/api-reference/legacy/crm/objects/schemas/get-schemas
"""

from __future__ import annotations

from leadsync.connectors.sandbox.hubspot.api import ApiRequest, Result, _not_found

__all__ = ["get_schema", "list_schemas"]


def list_schemas(req: ApiRequest) -> Result:
    """``GET /crm/v3/schemas``: every custom object schema (none here)."""
    return 200, {"results": []}


def get_schema(req: ApiRequest) -> Result:
    """``GET /crm/v3/schemas/{objectType}``: 404, no custom object exists."""
    assert req.match
    return _not_found(f"Unable to find object type {req.match['type']}")
