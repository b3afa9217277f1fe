"""What became of HubSpot contacts: their lifecycle stage and dates, and their deals.

Read for ``leadsync export --with-outcomes``, ``review`` and the model lab, for a page
of contacts at a time, every call counted in the account's API budget: the lifecycle
properties come with the contacts' own read (the connector asks for
:data:`CONTACT_PROPERTIES` and the feedback property in every list, search and batch
read, and passes them here as ``known``), else one contacts batch read per 100; one
associations v4 batch read per 1,000 for their deals, one deals batch read per 100 deals.

A contact's :class:`~leadsync.scoring.lead.Outcome`:

- ``stage``: ``lifecyclestage``;
- ``converted``: true when the stage is ``customer`` or a deal is closed won; unknown
  (None) while a deal is open and none is won; false otherwise;
- ``converted_at``: ``hs_lifecyclestage_customer_date``, else the first won deal's
  ``closedate``; ``won_at``: the first won deal's ``closedate``; ``lost_at``: the last
  lost deal's ``closedate`` when none was won;
- ``sql_at``: ``hs_lifecyclestage_salesqualifiedlead_date``, else the first deal's
  ``createdate``;
- ``amount``: the won deals' amounts added up, else the latest deal's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from leadsync.connectors.hubspot.engagement import parse_time
from leadsync.connectors.hubspot.http import HubSpotHttp
from leadsync.connectors.hubspot.writes import HubSpotWriter, batch_read
from leadsync.scoring.lead import FEEDBACK, Outcome

CONTACT_PROPERTIES = [
    "lifecyclestage",
    "hs_lifecyclestage_salesqualifiedlead_date",
    "hs_lifecyclestage_customer_date",
]
DEAL_PROPERTIES = [
    "dealstage",
    "amount",
    "createdate",
    "closedate",
    "hs_is_closed",
    "hs_is_closed_won",
]


def read_outcomes(
    http: HubSpotHttp,
    writer: HubSpotWriter,
    contact_ids: Sequence[str],
    feedback: str = "lead_score_feedback",
    known: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Outcome]:
    """The outcome of each contact that exists, by id (see the module docstring);
    ``feedback`` names the property sales sets on an MQL; ``known``: the outcome
    properties of contacts just read, by id (those are not read again)."""
    known = known or {}
    contacts: list[dict[str, Any]] = [
        {"id": i, "properties": dict(known[i])} for i in dict.fromkeys(contact_ids) if i in known
    ]
    unread = [i for i in contact_ids if i not in known]
    if unread:
        contacts += writer.read_contacts(unread, [*CONTACT_PROPERTIES, feedback])
    linked = writer.associations("contacts", "deals", [str(c["id"]) for c in contacts])
    wanted = sorted({d for deals in linked.values() for d in deals})
    deals = {
        str(d["id"]): d.get("properties") or {}
        for d in batch_read(http, writer.paths, "deals", wanted, DEAL_PROPERTIES, missing_ok=True)
    }
    return {
        str(c["id"]): dataclasses.replace(
            outcome_of(
                c.get("properties") or {},
                [deals[d] for d in linked.get(str(c["id"]), []) if d in deals],
            ),
            feedback=_feedback((c.get("properties") or {}).get(feedback)),
        )
        for c in contacts
    }


def _feedback(value: Any) -> str | None:
    return value if value in FEEDBACK else None


def _ts(value: Any, default: float) -> float:
    moment = parse_time(value)
    return moment.timestamp() if moment else default


def _true(value: Any) -> bool:
    return str(value).strip().lower() == "true"


def _amount(value: Any) -> float | None:
    try:
        return float(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def outcome_of(props: Mapping[str, Any], deals: Sequence[Mapping[str, Any]]) -> Outcome:
    """A contact's outcome from its properties and its deals' properties."""
    won = sorted(
        (d for d in deals if _true(d.get("hs_is_closed_won"))),
        key=lambda d: _ts(d.get("closedate"), math.inf),
    )
    lost = [
        d for d in deals if _true(d.get("hs_is_closed")) and not _true(d.get("hs_is_closed_won"))
    ]
    open_deals = [d for d in deals if not _true(d.get("hs_is_closed"))]
    stage = props.get("lifecyclestage") or None
    won_at = parse_time(won[0].get("closedate")) if won else None
    converted: bool | None
    if stage == "customer" or won:
        converted = True
    elif open_deals:
        converted = None
    else:
        converted = False
    lost_dates = [t for d in lost if (t := parse_time(d.get("closedate")))]
    created = [t for d in deals if (t := parse_time(d.get("createdate")))]
    amounts = [a for d in won if (a := _amount(d.get("amount"))) is not None]
    latest = max(deals, key=lambda d: _ts(d.get("createdate"), -math.inf), default=None)
    return Outcome(
        converted=converted,
        converted_at=parse_time(props.get("hs_lifecyclestage_customer_date")) or won_at,
        stage=stage,
        amount=sum(amounts) if amounts else (_amount(latest.get("amount")) if latest else None),
        sql_at=parse_time(props.get("hs_lifecyclestage_salesqualifiedlead_date"))
        or (min(created) if created else None),
        won_at=won_at,
        lost_at=max(lost_dates) if lost_dates and not won else None,
    )
