"""HubSpot contacts → canonical leads, each group's engagement read in batches.

A group of contacts costs one associations v4 batch read per engagement type that any
of them hints at (``ENGAGEMENT_HINTS``) and batch reads of 100 objects — never a call
per contact, except the events API, which HubSpot filters by one ``objectId`` only
(Enterprise portals; below Enterprise the contacts' rollup properties stand in for it,
see ``MAPPING.md``).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from leadsync.config.accounts import Account
from leadsync.connectors.base import CrmLead, CrmOwner
from leadsync.connectors.hubspot.answers import Pages, object_ids
from leadsync.connectors.hubspot.contacts import to_crm_lead
from leadsync.connectors.hubspot.engagement import (
    ENGAGEMENT_HINTS,
    ENGAGEMENT_PROPERTIES,
    api_events,
    engagement_events,
    rollup_events,
)
from leadsync.connectors.hubspot.http import HubSpotHttp
from leadsync.connectors.hubspot.paths import ApiPaths
from leadsync.connectors.hubspot.writes import HubSpotWriter, batch_read
from leadsync.scoring.lead import Event

__all__ = ["LeadBuilder", "list_owners"]

log = logging.getLogger(__name__)


class LeadBuilder:
    """Turns groups of contacts into :class:`CrmLead` s for one account."""

    def __init__(
        self,
        http: HubSpotHttp,
        paths: ApiPaths,
        writer: HubSpotWriter,
        account: Account,
        mapping: dict[str, str],
    ) -> None:
        self.http, self.paths, self.writer = http, paths, writer
        self.account, self.mapping = account, mapping
        self.events_api: bool | None = None
        """Whether the portal serves the events API; None until the first contact asks."""
        self.unknown_events = 0
        """Events API occurrences with no canonical meaning, for diagnostics."""
        self._active: list[CrmOwner] | None = None

    def leads(self, contacts: list[dict[str, Any]]) -> list[CrmLead]:
        """Canonical leads of these contacts (one group), their engagement read in batches."""
        ids = [str(c["id"]) for c in contacts]
        events: dict[str, list[Event]] = defaultdict(list)
        web = True
        if self.events_api is not False:
            for contact_id in ids:
                found = self._api_events(contact_id)
                if found is None:
                    break
                events[contact_id] += found
                web = False
        for object_type, names in ENGAGEMENT_PROPERTIES.items():
            hints = ENGAGEMENT_HINTS[object_type]
            hinted = [
                str(c["id"])
                for c in contacts
                if any((c.get("properties") or {}).get(hint) for hint in hints)
            ]
            if not hinted:
                continue
            linked = self.writer.associations("contacts", object_type, hinted)
            wanted = sorted({o for objs in linked.values() for o in objs})
            read = batch_read(self.http, self.paths, object_type, wanted, list(names),
                              missing_ok=True)  # fmt: skip
            objects = {o["id"]: o for o in read}
            for contact_id, linked_ids in linked.items():
                found = [objects[o] for o in linked_ids if o in objects]
                events[contact_id] += engagement_events(object_type, found)
        active = self.active_owners()
        out = []
        for contact in contacts:
            props = contact.get("properties") or {}
            evts = rollup_events(props, web=web) + events.get(str(contact["id"]), [])
            evts.sort(key=lambda e: e.ts)
            out.append(
                to_crm_lead(
                    contact,
                    tuple(evts),
                    mapping=self.mapping,
                    fields=self.account.fields,
                    active_owners=active,
                )
            )
        return out

    def active_owner_list(self) -> list[CrmOwner]:
        """The portal's active owners, listed once per connector: every group of leads
        needs them (tasks go round-robin when a lead's owner is not active), and so does
        :meth:`HubSpotConnector.owners`, which shares this list."""
        if self._active is None:
            self._active = list_owners(self.http, self.paths)
        return self._active

    def active_owners(self) -> set[str]:
        """The ids of the portal's active owners (:meth:`active_owner_list`)."""
        return {o.id for o in self.active_owner_list()}

    def _api_events(self, contact_id: str) -> list[Event] | None:
        """The contact's events API occurrences; None when the account has no events API."""
        out: list[Event] = []
        after: str | None = None
        pages = Pages("events.list")
        while True:
            query = {"objectType": "contact", "objectId": contact_id, "limit": 100, "after": after}
            response = self.http.request(
                "events.list", "GET", self.paths.events(), query=query, safe=True,
                accept=() if self.events_api else (403,),
            )  # fmt: skip
            if response.status == 403:  # no Enterprise tier, or no event-detail scopes
                log.info(
                    "HubSpot's events API (each page view and form fill with its date) needs "
                    "Enterprise and the event-detail scopes, which this account lacks: scoring "
                    "from the contacts' rollup properties instead (connectors/hubspot/MAPPING.md)"
                )
                self.events_api = False
                return None
            body = response.body
            self.events_api = True
            found, unknown = api_events(body.get("results") or [])
            out += found
            self.unknown_events += unknown
            after = pages.next(body, [str(o.get("id")) for o in body.get("results") or []])
            if not after:
                return out


def list_owners(http: HubSpotHttp, paths: ApiPaths, *, archived: bool = False) -> list[CrmOwner]:
    """The portal's active owners, or its deactivated (archived) ones."""
    out: list[CrmOwner] = []
    after: str | None = None
    pages = Pages("owners.list")
    while True:
        query = {"limit": 500, "after": after, "archived": "true" if archived else None}
        body = http.request("owners.list", "GET", paths.owners(), query=query, safe=True).body
        found = body.get("results") or []
        for o, oid in zip(found, object_ids(found, "owners.list"), strict=True):
            name = " ".join(p for p in (o.get("firstName"), o.get("lastName")) if p)
            out.append(CrmOwner(oid, o.get("email"), name or None, not archived))
        after = pages.next(body, [o.id for o in out])
        if not after:
            return out
