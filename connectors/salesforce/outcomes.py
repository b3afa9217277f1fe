"""What became of Salesforce Leads and Contacts: conversion and opportunities.

Read for ``leadsync export --with-outcomes`` and the model lab, a page of records at a
time, every query counted in the account's API budget:

- Leads: ``IsConverted``, ``ConvertedDate``, ``ConvertedOpportunityId`` and ``Status``
  (one query per 2,000 ids), then the converted-to opportunities;
- Contacts: their ``OpportunityContactRole`` rows (one query per 2,000 ids), then those
  opportunities;
- opportunities: ``StageName``, ``IsWon``, ``IsClosed``, ``CreatedDate``, ``CloseDate``,
  ``Amount`` (one query per 2,000 ids).

A record's :class:`~leadsync.scoring.lead.Outcome`: ``converted`` is true when one of
its opportunities is won (a Lead converted without an opportunity counts as converted
on its ``ConvertedDate``), unknown (None) while one is open and none won, false
otherwise; ``won_at`` the first won ``CloseDate``; ``lost_at`` the last lost one when
none was won; ``sql_at`` a Lead's ``ConvertedDate``, else the first opportunity's
``CreatedDate``; ``amount`` the won amounts added up, else the latest opportunity's;
``stage`` a Lead's ``Status``, a Contact's latest ``StageName``.

Converted Leads are not scored, so the connector's reads leave them out;
:func:`converted_lead_pages` reads them (with their activities) for an export.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from leadsync.connectors.base import LeadPage
from leadsync.connectors.salesforce.activity import ActivitySource, read_events
from leadsync.connectors.salesforce.api import SalesforceApi
from leadsync.connectors.salesforce.records import ObjectMap
from leadsync.connectors.salesforce.soql import Row, chunk_ids, parse_stamp, select, soql
from leadsync.scoring.lead import FEEDBACK, Outcome

LEAD_PREFIX, CONTACT_PREFIX = "00Q", "003"
_OPPORTUNITY = "Id, StageName, IsWon, IsClosed, CreatedDate, CloseDate, Amount"


def read_outcomes(
    api: SalesforceApi, ids: Sequence[str], feedback: Mapping[str, str] | None = None
) -> dict[str, Outcome]:
    """The outcome of each Lead and Contact among ``ids`` that exists, by id;
    ``feedback`` names, per object that has it, the field sales sets on an MQL."""
    feedback = feedback or {}
    leads = [i for i in ids if i.startswith(LEAD_PREFIX)]
    contacts = [i for i in ids if i.startswith(CONTACT_PREFIX)]
    extra = f", {feedback['Lead']}" if "Lead" in feedback else ""
    lead_rows = _rows(
        api,
        f"SELECT Id, Status, IsConverted, ConvertedDate, ConvertedOpportunityId{extra} FROM Lead",
        leads,
    )
    roles: dict[str, list[str]] = defaultdict(list)
    for row in _rows(api, "SELECT ContactId, OpportunityId FROM OpportunityContactRole", contacts,
                     key="ContactId"):  # fmt: skip
        roles[str(row["ContactId"])].append(str(row["OpportunityId"]))
    wanted = {
        str(r["ConvertedOpportunityId"]) for r in lead_rows if r.get("ConvertedOpportunityId")
    }
    wanted |= {o for opps in roles.values() for o in opps}
    opportunities = {
        str(r["Id"]): r
        for r in _rows(api, f"SELECT {_OPPORTUNITY} FROM Opportunity", sorted(wanted))
    }
    said: dict[str, Any] = {}
    if "Lead" in feedback:
        said.update((str(r["Id"]), r.get(feedback["Lead"])) for r in lead_rows)
    if "Contact" in feedback and contacts:
        query = f"SELECT Id, {feedback['Contact']} FROM Contact"
        said.update((str(r["Id"]), r.get(feedback["Contact"])) for r in _rows(api, query, contacts))
    out: dict[str, Outcome] = {}
    for row in lead_rows:
        opp = opportunities.get(str(row.get("ConvertedOpportunityId") or ""))
        out[str(row["Id"])] = lead_outcome(row, opp)
    for contact in contacts:
        out[contact] = opportunity_outcome(
            [opportunities[o] for o in roles.get(contact, []) if o in opportunities], None, None
        )
    for record, value in said.items():
        if record in out and value in FEEDBACK:
            out[record] = dataclasses.replace(out[record], feedback=value)
    return out


def _rows(api: SalesforceApi, query: str, ids: Sequence[str], key: str = "Id") -> list[Row]:
    rows: list[Row] = []
    for chunk in chunk_ids(ids):
        rows += api.query_rows(soql(f"{query} WHERE {key} IN {{ids}}", ids=chunk))
    return rows


def lead_outcome(row: Mapping[str, Any], opportunity: Mapping[str, Any] | None) -> Outcome:
    """A Lead's outcome from its conversion fields and the opportunity it converted to."""
    stage = row.get("Status") or None
    if not _true(row.get("IsConverted")):
        return Outcome(converted=False, stage=stage)
    converted_on = _day(row.get("ConvertedDate"))
    if opportunity is None:
        return Outcome(converted=True, converted_at=converted_on, sql_at=converted_on, stage=stage)
    return opportunity_outcome([opportunity], stage, converted_on)


def opportunity_outcome(
    opportunities: Sequence[Mapping[str, Any]], stage: str | None, sql_at: datetime | None
) -> Outcome:
    """An outcome from a record's opportunities (see the module docstring)."""
    won = sorted(
        (o for o in opportunities if _true(o.get("IsWon"))),
        key=lambda o: _ts(_day(o.get("CloseDate")), math.inf),
    )
    lost = [o for o in opportunities if _true(o.get("IsClosed")) and not _true(o.get("IsWon"))]
    still_open = any(not _true(o.get("IsClosed")) for o in opportunities)
    converted = True if won else None if still_open else False
    won_at = _day(won[0].get("CloseDate")) if won else None
    lost_days = [d for o in lost if (d := _day(o.get("CloseDate")))]
    created = [t for o in opportunities if (t := parse_stamp(o.get("CreatedDate")))]
    latest = max(
        opportunities, key=lambda o: _ts(parse_stamp(o.get("CreatedDate")), -math.inf), default=None
    )
    amounts = [a for o in won if (a := _amount(o.get("Amount"))) is not None]
    return Outcome(
        converted=converted,
        converted_at=won_at,
        stage=stage or (str(latest.get("StageName")) if latest else None),
        amount=sum(amounts) if amounts else (_amount(latest.get("Amount")) if latest else None),
        sql_at=sql_at or (min(created) if created else None),
        won_at=won_at,
        lost_at=max(lost_days) if lost_days and not won else None,
    )


def converted_lead_pages(
    api: SalesforceApi,
    om: ObjectMap,
    sources: Sequence[ActivitySource],
    since: datetime | None = None,
) -> Iterator[LeadPage]:
    """Converted Leads (changed at or after ``since``), 2,000 a page, with their events."""
    where = "IsConverted = true"
    if since is not None:
        where += soql(" AND SystemModstamp >= {since}", since=since)
    query = f"SELECT {select(om.select)} FROM Lead WHERE {where} ORDER BY Id"
    for rows in api.query_pages(query):
        events = read_events(api, [str(r["Id"]) for r in rows], sources)
        yield LeadPage([om.crm_lead(r, list(events.get(str(r["Id"]), []))) for r in rows], None)


def _true(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"


def _day(value: Any) -> datetime | None:
    """A Salesforce date (``2026-05-02``) or date-time as an aware UTC moment."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return datetime.fromisoformat(value.strip()).replace(tzinfo=UTC)
        except ValueError:
            return None
    return parse_stamp(value)


def _ts(moment: datetime | None, default: float) -> float:
    return moment.timestamp() if moment else default


def _amount(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None
