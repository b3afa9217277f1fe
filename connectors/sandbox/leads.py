"""Generated people as canonical leads with their outcome: the lab's data without a CRM.

What a connector would read from either sandbox (the same properties and events, the
CRM-specific steps left out) plus the hidden outcome of
:mod:`~leadsync.connectors.sandbox.outcomes`, so that ``leadsync model backtest`` and
the benchmarks run on generated leads. Dates are written as the canonical format
writes them (ISO 8601, ``Z``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from leadsync.connectors.sandbox.data import Dataset, Person
from leadsync.connectors.sandbox.outcomes import outcome_of


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def lead_json(person: Person) -> dict[str, Any]:
    """One person as a canonical lead (JSON-ready), outcome included."""
    outcome = outcome_of(person)
    properties = {
        "email": person.email,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "title": person.title,
        "company": person.company,
        "company_size": person.company_size,
        "industry": person.industry,
        "country": person.country,
        "trading_area": person.trading_area,
        "owner_id": person.owner_id,
        "marketing_consent": person.marketing_consent,
        "uses_competitor": person.uses_competitor,
        "age": person.age,
    }
    return {
        "id": str(person.key),
        "properties": {k: v for k, v in properties.items() if v is not None},
        "events": [{"type": a.kind, "at": _iso(a.at), **a.attrs} for a in person.activities()],
        "outcome": {
            "converted": outcome.converted,
            "converted_at": _iso(outcome.converted_at),
            "stage": outcome.stage,
            "amount": outcome.amount,
            "sql_at": _iso(outcome.sql_at),
            "won_at": _iso(outcome.won_at),
            "lost_at": _iso(outcome.lost_at),
        },
    }


def lead_jsons(dataset: Dataset) -> Iterator[dict[str, Any]]:
    """Every person of the dataset as :func:`lead_json`, in key order."""
    for person in dataset.people:
        yield lead_json(person)
