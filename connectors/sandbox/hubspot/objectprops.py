"""Property definitions of the companies, deals and tickets of the HubSpot sandbox.

The properties the sandbox fills in (:mod:`.companies`, :mod:`.deals`; the sandbox holds
no tickets) under HubSpot's names, types and default groups (``companyinformation``,
``dealinformation``, ``ticketinformation``); the values HubSpot computes are read-only.
"""

from __future__ import annotations

from leadsync.connectors.sandbox.hubspot.props import (
    PropertyDef,
    PropertyGroupDef,
    _opts,
    _p,
)

__all__ = ["DEFAULT_NAMES", "object_properties"]

#: The properties a read returns when none are asked for (HubSpot's defaults).
DEFAULT_NAMES: dict[str, tuple[str, ...]] = {
    "companies": ("createdate", "domain", "hs_lastmodifieddate", "hs_object_id", "name"),
    "deals": (
        "amount", "closedate", "createdate", "dealname", "dealstage", "hs_lastmodifieddate",
        "hs_object_id", "pipeline",
    ),
    "tickets": (
        "content", "createdate", "hs_lastmodifieddate", "hs_object_id", "hs_pipeline",
        "hs_pipeline_stage", "hs_ticket_category", "hs_ticket_priority", "subject",
    ),
}  # fmt: skip
_STAGES = ("appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
           "decisionmakerboughtin", "contractsent", "closedwon", "closedlost")  # fmt: skip


def _stamps(group: str) -> list[PropertyDef]:
    return [
        _p("createdate", "Create date", "datetime", group, ro=True),
        _p("hs_lastmodifieddate", "Last modified date", "datetime", group, ro=True),
        _p("hs_object_id", "Record ID", "number", group, ro=True),
    ]


def object_properties(obj: str) -> tuple[list[PropertyGroupDef], list[PropertyDef]]:
    """The groups and property definitions of ``companies``, ``deals`` or ``tickets``."""
    group = {"companies": "companyinformation", "deals": "dealinformation"}.get(
        obj, "ticketinformation"
    )
    groups = [PropertyGroupDef(group, f"{obj[:-1].capitalize()} information", 0)]
    g = group
    specific: dict[str, list[PropertyDef]] = {
        "companies": [
            _p("name", "Company name", group=g),
            _p("domain", "Company domain name", group=g),
            _p("industry", "Industry", group=g),
            _p("country", "Country/Region", group=g),
            _p("numberofemployees", "Number of employees", "number", g),
            _p("num_associated_contacts", "Number of associated contacts", "number", g, ro=True),
        ],
        "deals": [
            _p("dealname", "Deal name", group=g),
            _p("dealstage", "Deal stage", "enumeration", g, options=_opts(*_STAGES)),
            _p("pipeline", "Pipeline", "enumeration", g, options=_opts("default")),
            _p("amount", "Amount", "number", g),
            _p("closedate", "Close date", "datetime", g),
            _p("hs_is_closed", "Is deal closed?", "bool", g, ro=True),
            _p("hs_is_closed_won", "Is closed won", "bool", g, ro=True),
        ],
        "tickets": [
            _p("subject", "Ticket name", group=g),
            _p("content", "Ticket description", group=g),
            _p("hs_pipeline", "Pipeline", group=g),
            _p("hs_pipeline_stage", "Ticket status", group=g),
            _p("hs_ticket_category", "Category", group=g),
            _p("hs_ticket_priority", "Priority", group=g),
        ],
    }
    return groups, specific[obj] + _stamps(group)
