"""Deals and lifecycle-stage dates in the HubSpot sandbox: the generated outcomes, as
HubSpot keeps them.

A person with an opportunity (:func:`~leadsync.connectors.sandbox.outcomes.outcome_of`)
has one deal, id = contact id, associated both ways (``contact_to_deal`` type 4,
``deal_to_contact`` 3), in the default pipeline: ``closedwon`` / ``closedlost`` with
``closedate`` the won or lost day, or open (``qualifiedtobuy``) with an expected close.
Its contact's ``lifecyclestage`` follows (customer, opportunity), with the
``hs_lifecyclestage_salesqualifiedlead_date``, ``…_opportunity_date`` and
``…_customer_date`` HubSpot sets when a contact enters a stage. Deals are views of the
generator, never stored, and read-only: list, get, batch read and search
(:mod:`~leadsync.connectors.sandbox.hubspot.records`) and the v4 associations between
contacts and deals.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from leadsync.connectors.sandbox.data import Dataset, Person
from leadsync.connectors.sandbox.hubspot.props import format_ms
from leadsync.connectors.sandbox.outcomes import outcome_of

#: HubSpot's association type ids between contacts and deals (contact→deal, deal→contact).
DEAL_ASSOC_TYPES = (4, 3)
LIFECYCLE_DATES = (
    "hs_lifecyclestage_salesqualifiedlead_date",
    "hs_lifecyclestage_opportunity_date",
    "hs_lifecyclestage_customer_date",
)


def _ms(moment: Any) -> str | None:
    return format_ms(int(moment.timestamp() * 1000)) if moment is not None else None


def lifecycle_props(person: Person) -> dict[str, str | None]:
    """The contact properties an outcome sets: its lifecycle stage and their dates."""
    o = outcome_of(person)
    if o.sql_at is None:
        return dict.fromkeys(LIFECYCLE_DATES)
    return {
        "lifecyclestage": "customer" if o.converted else "opportunity",
        "hs_lifecyclestage_salesqualifiedlead_date": _ms(o.sql_at),
        "hs_lifecyclestage_opportunity_date": _ms(o.sql_at + timedelta(days=1)),
        "hs_lifecyclestage_customer_date": _ms(o.won_at),
    }


def deal_ids(person: Person) -> list[int]:
    """The deals of a contact: one when it had an opportunity."""
    return [person.key + 1] if outcome_of(person).sql_at is not None else []


def deal_props(person: Person) -> dict[str, str | None] | None:
    """Every property of the person's deal, or None when the person has no deal."""
    o = outcome_of(person)
    if o.sql_at is None:
        return None
    closed = o.won_at or o.lost_at
    expected = o.sql_at + timedelta(days=60)
    stage = "closedwon" if o.won_at else "closedlost" if o.lost_at else "qualifiedtobuy"
    return {
        "dealname": f"{person.company or 'Deal'} — {person.last_name or person.key}",
        "dealstage": stage,
        "pipeline": "default",
        "amount": f"{o.amount:.2f}" if o.amount is not None else None,
        "createdate": _ms(o.sql_at),
        "closedate": _ms(closed or expected),
        "hs_is_closed": "true" if closed else "false",
        "hs_is_closed_won": "true" if o.won_at else "false",
        "hs_lastmodifieddate": _ms(closed or o.sql_at),
        "hs_object_id": str(person.key + 1),
    }


def deal_json(person: Person, names: list[str]) -> dict[str, Any] | None:
    """The person's deal as the API shows it (``names`` the properties asked), or None."""
    props = deal_props(person)
    if props is None:
        return None
    shown = {"createdate", "hs_lastmodifieddate", "hs_object_id", *names}
    return {
        "id": str(person.key + 1),
        "properties": {k: v for k, v in props.items() if k in shown},
        "createdAt": props["createdate"],
        "updatedAt": props["hs_lastmodifieddate"],
        "archived": False,
    }


class DealBook:
    """The ids of every deal of an account, in order (found once, on first use)."""

    def __init__(self, dataset: Dataset) -> None:
        self._dataset = dataset
        self._lock = threading.Lock()
        self._ids: list[int] | None = None

    def ids(self) -> list[int]:
        """Deal ids ascending (a deal's id is its contact's)."""
        with self._lock:
            if self._ids is None:
                self._ids = [i for p in self._dataset.people for i in deal_ids(p)]
            return self._ids

    def props(self, deal_id: int) -> dict[str, str | None] | None:
        """Every property of a deal, or None for an unknown id."""
        key = deal_id - 1
        people = self._dataset.people
        return deal_props(people[key]) if 0 <= key < len(people) else None
