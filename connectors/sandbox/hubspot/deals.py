"""Deals and lifecycle-stage dates in the HubSpot sandbox: the generated outcomes, as
HubSpot keeps them.

A person with an opportunity (:func:`~leadsync.connectors.sandbox.outcomes.outcome_of`)
has one deal, id = contact id, associated both ways (``contact_to_deal`` type 4,
``deal_to_contact`` 3), in the default pipeline: ``closedwon`` / ``closedlost`` with
``closedate`` the won or lost day, or open (``qualifiedtobuy``) with an expected close.
Its contact's ``lifecyclestage`` follows (customer, opportunity), with the
``hs_lifecyclestage_salesqualifiedlead_date``, ``…_opportunity_date`` and
``…_customer_date`` HubSpot sets when a contact enters a stage. Deals are views of the
generator, never stored, and read-only: ``POST /crm/v3/objects/deals/batch/read``
(:mod:`~leadsync.connectors.sandbox.hubspot.dealapi`) and the v4 associations between
contacts and deals.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from leadsync.connectors.sandbox.data import Person
from leadsync.connectors.sandbox.hubspot.props import format_ms
from leadsync.connectors.sandbox.outcomes import PersonOutcome, outcome_of

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


def _deal_json(person: Person, o: PersonOutcome, names: list[str]) -> dict[str, Any]:
    closed = o.won_at or o.lost_at
    expected = o.sql_at + timedelta(days=60) if o.sql_at else None
    stage = "closedwon" if o.won_at else "closedlost" if o.lost_at else "qualifiedtobuy"
    props = {
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
    shown = {"createdate", "hs_lastmodifieddate", "hs_object_id", *names}
    created = _ms(o.sql_at)
    return {
        "id": str(person.key + 1),
        "properties": {k: v for k, v in props.items() if k in shown},
        "createdAt": created,
        "updatedAt": props["hs_lastmodifieddate"],
        "archived": False,
    }


def deal_json(person: Person, names: list[str]) -> dict[str, Any] | None:
    """The person's deal as the API shows it (``names`` the properties asked), or None."""
    o = outcome_of(person)
    return _deal_json(person, o, names) if o.sql_at is not None else None
