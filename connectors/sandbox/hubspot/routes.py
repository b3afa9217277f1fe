"""The HubSpot sandbox's route table: method, path, counter name, scope, handler.

Counter names (``contacts.search``, ``calls.list``…) are what
:class:`~leadsync.connectors.sandbox.faults.Counters` reports; scopes are the
granular scopes HubSpot documents for each API (emails need ``sales-email-read``).
"""

from __future__ import annotations

import re

from leadsync.connectors.sandbox.hubspot.api import (
    ENGAGEMENTS,
    Handler,
    Route,
    batch_read_contacts,
    batch_update_contacts,
    get_contact,
    list_contacts,
    search_contacts,
    update_contact,
)
from leadsync.connectors.sandbox.hubspot.customobjects import get_schema, list_schemas
from leadsync.connectors.sandbox.hubspot.legacy import legacy_properties, retired_api
from leadsync.connectors.sandbox.hubspot.objects import (
    batch_create_tasks,
    batch_read_associations,
    batch_read_objects,
    create_task,
    event_types,
    get_object,
    get_owner,
    list_events,
    list_objects,
    list_owners,
)
from leadsync.connectors.sandbox.hubspot.propbatch import (
    batch_create_properties,
    batch_read_properties,
)
from leadsync.connectors.sandbox.hubspot.records import (
    batch_read_records,
    get_record,
    list_records,
    search_records,
)
from leadsync.connectors.sandbox.hubspot.schema import (
    archive_group,
    archive_property,
    create_group,
    create_property,
    get_group,
    get_property,
    list_groups,
    list_properties,
    update_group,
    update_property,
)

__all__ = ["ALL_SCOPES", "ROUTES"]

# ----------------------------------------------------------------------- table

_O = "(?P<obj>[a-z_0-9-]+)"
_E = "(?P<obj>" + "|".join(ENGAGEMENTS) + "|tasks)"
_C = "/crm/v3/objects/contacts"
_R, _W = "crm.objects.contacts.read", "crm.objects.contacts.write"
_SR, _SW = "crm.schemas.contacts.read", "crm.schemas.contacts.write"
#: The custom object schemas: ``/crm/v3/schemas`` and the SDK's ``/crm-object-schemas/v3/…``.
_SCHEMAS = "/crm(?:/v3|-object-schemas/v3)/schemas"
_CR, _CO = "crm.schemas.custom.read", "crm.schemas.companies.read"
_LP = "legacy.properties"
#: The scope of HubSpot's tickets (Service Hub): the default sandbox token lacks it.
TICKETS = "tickets"
#: Read scopes of records and of property definitions of the other standard objects.
_STANDARD = {
    "companies": ("crm.objects.companies.read", "crm.schemas.companies.read"),
    "deals": ("crm.objects.deals.read", "crm.schemas.deals.read"),
    "tickets": (TICKETS, TICKETS),
}


def _route(method: str, path: str, endpoint: str, scope: str, handler: Handler) -> Route:
    return Route(method, re.compile(f"^{path}/?$"), endpoint, scope, handler)


def _standard_routes() -> list[Route]:
    """Companies, deals and tickets: records, search and property definitions (read)."""
    routes = []
    for obj, (read, schema) in _STANDARD.items():
        base, props = f"/crm/v3/objects/(?P<obj>{obj})", f"/crm/v3/properties/(?P<obj>{obj})"
        routes += [
            _route("GET", base, f"{obj}.list", read, list_records),
            _route("POST", f"{base}/batch/read", f"{obj}.batch_read", read, batch_read_records),
            _route("POST", f"{base}/search", f"{obj}.search", read, search_records),
            _route("GET", f"{base}/(?P<id>[^/]+)", f"{obj}.get", read, get_record),
            _route("GET", props, "properties.list", schema, list_properties),
            _route("GET", f"{props}/groups", "properties.groups.list", schema, list_groups),
            _route("GET", f"{props}/(?P<name>[^/]+)", "properties.get", schema, get_property),
            _route("GET", f"/properties/v[12]/(?P<obj>{obj})/properties", "legacy.properties",
                   schema, legacy_properties),
        ]  # fmt: skip
    return routes


ROUTES: tuple[Route, ...] = (
    _route("GET", _C, "contacts.list", _R, list_contacts),
    _route("POST", f"{_C}/batch/read", "contacts.batch_read", _R, batch_read_contacts),
    _route("POST", f"{_C}/batch/update", "contacts.batch_update", _W, batch_update_contacts),
    _route("POST", f"{_C}/search", "contacts.search", _R, search_contacts),
    _route("GET", f"{_C}/(?P<id>[^/]+)", "contacts.get", _R, get_contact),
    *_standard_routes(),
    _route("GET", "/crm/v4/objects/(?P<obj>tickets)", "tickets.list", TICKETS, list_records),
    _route("GET", _SCHEMAS, "schemas.list", _CR, list_schemas),
    _route("GET", f"{_SCHEMAS}/(?P<type>[^/]+)", "schemas.get", _CR, get_schema),
    _route("GET", "/properties/v[12]/(?P<obj>contacts)/properties", _LP, _SR, legacy_properties),
    _route("GET", "/(?P<obj>companies)/v2/properties", _LP, _CO, legacy_properties),
    _route("GET", "/(?P<api>contacts)/v1/lists(?:/.*)?", "legacy.retired", _R, retired_api),
    _route("POST", "/(?P<api>contacts)/v1/lists(?:/.*)?", "legacy.retired", _R, retired_api),
    _route("GET", "/(?P<api>owners)/v2(?:/.*)?", "legacy.retired", _R, retired_api),
    _route("PATCH", f"{_C}/(?P<id>[^/]+)", "contacts.update", _W, update_contact),
    _route("GET", f"/crm/v3/properties/{_O}/groups", "properties.groups.list", _SR, list_groups),
    _route(
        "POST", f"/crm/v3/properties/{_O}/groups", "properties.groups.create", _SW, create_group
    ),
    _route(
        "GET",
        f"/crm/v3/properties/{_O}/groups/(?P<name>[^/]+)",
        "properties.groups.get",
        _SR,
        get_group,
    ),
    _route(
        "PATCH",
        f"/crm/v3/properties/{_O}/groups/(?P<name>[^/]+)",
        "properties.groups.update",
        _SW,
        update_group,
    ),
    _route(
        "DELETE",
        f"/crm/v3/properties/{_O}/groups/(?P<name>[^/]+)",
        "properties.groups.archive",
        _SW,
        archive_group,
    ),
    _route("GET", f"/crm/v3/properties/{_O}", "properties.list", _SR, list_properties),
    _route(
        "POST",
        f"/crm/v3/properties/{_O}/batch/read",
        "properties.batch_read",
        _SR,
        batch_read_properties,
    ),
    _route(
        "POST",
        f"/crm/v3/properties/{_O}/batch/create",
        "properties.batch_create",
        _SW,
        batch_create_properties,
    ),
    _route("POST", f"/crm/v3/properties/{_O}", "properties.create", _SW, create_property),
    _route("GET", f"/crm/v3/properties/{_O}/(?P<name>[^/]+)", "properties.get", _SR, get_property),
    _route(
        "PATCH",
        f"/crm/v3/properties/{_O}/(?P<name>[^/]+)",
        "properties.update",
        _SW,
        update_property,
    ),
    _route(
        "DELETE",
        f"/crm/v3/properties/{_O}/(?P<name>[^/]+)",
        "properties.archive",
        _SW,
        archive_property,
    ),
    _route("POST", "/crm/v3/objects/tasks", "tasks.create", _W, create_task),
    _route(
        "POST", "/crm/v3/objects/tasks/batch/create", "tasks.batch_create", _W, batch_create_tasks
    ),
    _route("GET", f"/crm/v3/objects/{_E}", "{obj}.list", _R, list_objects),
    _route("POST", f"/crm/v3/objects/{_E}/batch/read", "{obj}.batch_read", _R, batch_read_objects),
    _route("GET", f"/crm/v3/objects/{_E}/(?P<id>[^/]+)", "{obj}.get", _R, get_object),
    _route(
        "POST",
        "/crm/v4/associations/(?P<from>[a-z]+)/(?P<to>[a-z]+)/batch/read",
        "associations.{from}_{to}.batch_read",
        _R,
        batch_read_associations,
    ),
    _route("GET", "/crm/v3/owners", "owners.list", "crm.objects.owners.read", list_owners),
    _route(
        "GET", "/crm/v3/owners/(?P<id>[^/]+)", "owners.get", "crm.objects.owners.read", get_owner
    ),
    _route(
        "GET", "/events/v3/events/event-types", "events.types", "business-intelligence", event_types
    ),
    _route("GET", "/events/v3/events", "events.list", "business-intelligence", list_events),
)

#: The scopes of the default sandbox token: every scope some route needs but ``tickets``
#: (a portal's app is rarely granted Service Hub; tickets calls answer 403 MISSING_SCOPES).
ALL_SCOPES: frozenset[str] = frozenset(r.scope for r in ROUTES if r.scope != TICKETS) | {
    "sales-email-read"
}
