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
from leadsync.connectors.sandbox.hubspot.dealapi import batch_read_deals
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
_DR = "crm.objects.deals.read"


def _route(method: str, path: str, endpoint: str, scope: str, handler: Handler) -> Route:
    return Route(method, re.compile(f"^{path}/?$"), endpoint, scope, handler)


ROUTES: tuple[Route, ...] = (
    _route("GET", _C, "contacts.list", _R, list_contacts),
    _route("POST", f"{_C}/batch/read", "contacts.batch_read", _R, batch_read_contacts),
    _route("POST", f"{_C}/batch/update", "contacts.batch_update", _W, batch_update_contacts),
    _route("POST", f"{_C}/search", "contacts.search", _R, search_contacts),
    _route("GET", f"{_C}/(?P<id>[^/]+)", "contacts.get", _R, get_contact),
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
    _route("POST", "/crm/v3/objects/deals/batch/read", "deals.batch_read", _DR, batch_read_deals),
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

#: Every scope some route needs: the default sandbox token holds them all.
ALL_SCOPES: frozenset[str] = frozenset(r.scope for r in ROUTES) | {"sales-email-read"}
