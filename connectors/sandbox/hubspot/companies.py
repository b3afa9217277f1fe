"""Companies in the HubSpot sandbox: the employers of the generated contacts.

Every generated person's ``company`` names one company of the generator's fixed pool
(:mod:`leadsync.connectors.sandbox.data`); a company exists in the account when at
least one contact works there, with id ``COMPANY_ID_BASE + its place in the pool`` (so
the same company keeps its id whatever the number of contacts). Its contacts are
associated with it both ways (HubSpot's primary association types: contact→company 1,
company→contact 2). Firmographics (domain, industry, country, size) are the pool's; its
``createdate`` is its first contact's and ``hs_lastmodifieddate`` its latest contact's.
Companies are views of the generator, never stored, and read-only.
"""

from __future__ import annotations

import threading
from datetime import datetime

from leadsync.connectors.sandbox.data import Company, Dataset, Person, _companies
from leadsync.connectors.sandbox.hubspot.props import format_ms

__all__ = ["COMPANY_ASSOC_TYPES", "COMPANY_ID_BASE", "CompanyBook"]

COMPANY_ID_BASE = 2_000_000_000
#: HubSpot's primary association type ids (contact→company, company→contact).
COMPANY_ASSOC_TYPES = (1, 2)


def _iso(moment: datetime) -> str:
    return format_ms(int(moment.timestamp() * 1000))


class CompanyBook:
    """The companies of one account and their contacts (indexed once, on first use)."""

    def __init__(self, dataset: Dataset) -> None:
        self._dataset = dataset
        self._lock = threading.Lock()
        self._pool: list[Company] = []
        self._by_name: dict[str, int] = {}
        self._members: dict[int, list[int]] | None = None

    def _index(self) -> dict[int, list[int]]:
        with self._lock:
            if self._members is None:
                self._pool = _companies(self._dataset.seed)
                self._by_name = {c.name: i for i, c in enumerate(self._pool)}
                members: dict[int, list[int]] = {}
                for p in self._dataset.people:
                    place = self._by_name.get(p.company or "")
                    if place is not None:
                        members.setdefault(place, []).append(p.key)
                self._members = members
            return self._members

    def ids(self) -> list[int]:
        """Company ids ascending."""
        return [COMPANY_ID_BASE + place for place in sorted(self._index())]

    def company_of(self, person: Person) -> int | None:
        """The id of the company a contact works for, or None."""
        self._index()
        place = self._by_name.get(person.company or "")
        return COMPANY_ID_BASE + place if place is not None else None

    def contacts_of(self, company_id: int) -> list[int]:
        """Ids of the contacts of a company (none for an unknown id)."""
        return [key + 1 for key in self._index().get(company_id - COMPANY_ID_BASE, [])]

    def props(self, company_id: int) -> dict[str, str | None] | None:
        """Every property of a company, or None for an unknown id."""
        keys = self._index().get(company_id - COMPANY_ID_BASE)
        if not keys:
            return None
        c = self._pool[company_id - COMPANY_ID_BASE]
        created = [self._dataset.people[k].created_at for k in keys]
        return {
            "name": c.name,
            "domain": c.domain,
            "industry": c.industry,
            "country": c.country,
            "numberofemployees": str(c.size) if c.size is not None else None,
            "num_associated_contacts": str(len(keys)),
            "createdate": _iso(min(created)),
            "hs_lastmodifieddate": _iso(max(created)),
            "hs_object_id": str(company_id),
        }
