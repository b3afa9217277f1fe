"""Where each HubSpot endpoint leadsync calls lives, in the account's API family.

HubSpot moved its REST APIs to date-based versions on 2026-03-30: ``/crm/v3/objects/…``
became ``/crm/objects/2026-03/…``, ``/crm/v4/associations/…`` became
``/crm/associations/2026-03/…``, and so on (``API-VERSIONS.md`` beside this module lists
every endpoint, what changed and until when the legacy one works). The account's
``api_version`` picks the family; ``legacy`` keeps the v3/v4 paths while HubSpot serves
them. Request and answer bodies are the same in both families for every call leadsync
makes, so the connector builds them once and only asks here for the path.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["LEGACY", "ApiPaths"]

LEGACY = "legacy"
#: The OAuth token endpoint's date version (HubSpot has published no later one).
OAUTH_VERSION = "2026-03"


def _seg(value: str) -> str:
    return quote(str(value), safe="")


@dataclass(frozen=True, slots=True)
class ApiPaths:
    """The paths of one API family: ``version`` is ``legacy`` or a date (``2026-03``)."""

    version: str

    @property
    def dated(self) -> bool:
        return self.version != LEGACY

    def objects(self, object_type: str, *rest: str) -> str:
        """``…/objects/{type}`` and below (``batch/read``, ``search``, an id)."""
        base = (
            f"/crm/objects/{self.version}/{_seg(object_type)}"
            if self.dated
            else f"/crm/v3/objects/{_seg(object_type)}"
        )
        return "/".join([base, *rest])

    def associations(self, src: str, dst: str) -> str:
        """The associations batch read from ``src`` to ``dst`` (v4 semantics in both)."""
        root = f"/crm/associations/{self.version}" if self.dated else "/crm/v4/associations"
        return f"{root}/{_seg(src)}/{_seg(dst)}/batch/read"

    def properties(self, object_type: str, name: str | None = None) -> str:
        root = f"/crm/properties/{self.version}" if self.dated else "/crm/v3/properties"
        path = f"{root}/{_seg(object_type)}"
        return f"{path}/{_seg(name)}" if name is not None else path

    def properties_batch(self, object_type: str, action: str) -> str:
        """The properties batch endpoints: ``…/properties/{type}/batch/{read|create}``."""
        return f"{self.properties(object_type)}/batch/{action}"

    def groups(self, object_type: str, name: str | None = None) -> str:
        path = self.properties(object_type) + "/groups"
        return f"{path}/{_seg(name)}" if name is not None else path

    def owners(self) -> str:
        return f"/crm/owners/{self.version}" if self.dated else "/crm/v3/owners"

    def events(self) -> str:
        """Event occurrences (the Enterprise events API)."""
        return f"/events/event-occurrences/{self.version}" if self.dated else "/events/v3/events"

    def oauth_token(self) -> str:
        """The OAuth token endpoint, 2026-03 in both families: the v1 one is deprecated on
        2027-02-16, before the legacy REST paths, so a legacy account refreshes there too."""
        return f"/oauth/{OAUTH_VERSION}/token"
