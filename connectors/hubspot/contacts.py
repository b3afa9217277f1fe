"""A HubSpot contact (its API JSON) → a canonical :class:`~leadsync.connectors.base.CrmLead`.

Properties follow :data:`DEFAULT_MAPPING` (canonical name → HubSpot property), which an
account's ``mapping`` overrides; a property the portal does not have is simply absent.
Two values are converted: ``numemployees`` is a range picklist on HubSpot contacts
("25-50", "1000+"), read as the range's midpoint (the lower bound for "1000+"); and
``marketing_consent`` comes from the GDPR property ``hs_legal_basis`` (any consent or
legitimate-interest basis → True) when the portal has GDPR features on, else from
``hs_email_optout`` (opted out → False, otherwise True). A ``marketing_consent``
mapped to a custom property is passed through as is (``yes``/``true``/``1``…).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from leadsync.config.accounts import FieldNames
from leadsync.connectors.base import CrmLead, WrittenScore, fingerprint
from leadsync.connectors.hubspot.engagement import ROLLUP_PROPERTIES, parse_time
from leadsync.scoring.lead import Event, Lead, Scalar

__all__ = [
    "DEFAULT_MAPPING",
    "OBJECT_TYPE",
    "contact_properties",
    "inputs_of",
    "stamp",
    "to_crm_lead",
]

#: Canonical property → HubSpot contact property (an account's ``mapping`` overrides).
DEFAULT_MAPPING: Mapping[str, str] = {
    "email": "email",
    "first_name": "firstname",
    "last_name": "lastname",
    "title": "jobtitle",
    "company": "company",
    "company_size": "numemployees",
    "industry": "industry",
    "country": "country",
    "lifecycle_stage": "lifecyclestage",
    "owner_id": "hubspot_owner_id",
    "marketing_consent": "hs_legal_basis",
    "uses_competitor": "uses_competitor",
    "trading_area": "trading_area",
}
OBJECT_TYPE = "contact"


def ms(moment: datetime) -> int:
    """Epoch milliseconds: the representation of every stamp the connector hands out."""
    return int(moment.timestamp() * 1000)


def stamp(obj: Mapping[str, Any]) -> int | None:
    """A contact's modification stamp in epoch ms (``lastmodifieddate``, else ``updatedAt``)."""
    props = obj.get("properties") or {}
    at = parse_time(props.get("lastmodifieddate")) or parse_time(obj.get("updatedAt"))
    return ms(at) if at else None


#: Properties that move on any write, leadsync's included: never a scoring input.
STAMPS = frozenset({"lastmodifieddate", "hs_lastmodifieddate"})


def inputs_of(contact: Mapping[str, Any], fields: FieldNames) -> str:
    """The :func:`fingerprint` of a contact as read: every property but leadsync's and the
    stamps. Engagement shows in it too, through the rollups HubSpot keeps on the contact."""
    own = {fields.score, fields.tier, fields.reasons, fields.model, fields.updated_at}
    props: Mapping[str, Any] = contact.get("properties") or {}
    return fingerprint({k: v or None for k, v in props.items() if k not in own and k not in STAMPS})


def contact_properties(mapping: Mapping[str, str], fields: FieldNames) -> list[str]:
    """Every contact property a read asks for: mapped, leadsync's own, rollups."""
    own = (fields.score, fields.tier, fields.reasons, fields.model, fields.updated_at)
    wanted = ["lastmodifieddate", "hubspot_owner_id", *mapping.values(), *own, *ROLLUP_PROPERTIES]
    return list(dict.fromkeys(wanted))


def _size(value: str) -> Scalar:
    text = value.replace(",", "").strip()
    try:
        if text.endswith("+"):
            return int(text[:-1])
        if "-" in text:
            low, high = text.split("-", 1)
            return (int(low) + int(high)) // 2
        return int(float(text))
    except ValueError:
        return value


def _consent(value: str) -> Scalar:
    text = value.casefold()
    return True if "consent" in text or "legitimate interest" in text else value


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def to_crm_lead(
    contact: Mapping[str, Any],
    events: tuple[Event, ...],
    *,
    mapping: Mapping[str, str],
    fields: FieldNames,
    active_owners: set[str],
) -> CrmLead:
    """The canonical lead of one contact, with what leadsync last wrote on it."""
    props: Mapping[str, Any] = contact.get("properties") or {}
    canonical: dict[str, Scalar] = {}
    for name, prop in mapping.items():
        value = props.get(prop)
        if value is None or value == "":
            continue
        if name == "company_size" and isinstance(value, str):
            value = _size(value)
        elif name == "marketing_consent" and prop == "hs_legal_basis":
            value = _consent(str(value))
        canonical[name] = value
    optout = props.get("hs_email_optout")
    if "marketing_consent" not in canonical and optout not in (None, ""):
        canonical["marketing_consent"] = str(optout).lower() != "true"
    first, last = canonical.get("first_name"), canonical.get("last_name")
    name = " ".join(str(p) for p in (first, last) if p) or None
    owner = str(props.get("hubspot_owner_id") or "") or None
    modified = stamp(contact)
    return CrmLead(
        lead=Lead(str(contact["id"]), canonical, events),
        object_type=OBJECT_TYPE,
        name=name,
        owner_id=owner,
        owner_active=owner is not None and owner in active_owners,
        written=WrittenScore(
            _decimal(props.get(fields.score)),
            props.get(fields.tier) or None,
            props.get(fields.model) or None,
            parse_time(props.get(fields.updated_at)),
            props.get(fields.reasons) or "",
        ),
        modified_at=parse_time(str(modified)) if modified is not None else None,
        inputs=inputs_of(contact, fields),
    )
