"""What became of each generated person: the hidden outcome, with its dates and deal.

:attr:`Person.converted <leadsync.connectors.sandbox.data.Person.converted>` says
whether a person becomes a customer; this module dates it, deterministically from
``(seed, key)`` and never stored:

- a customer becomes sales-qualified (``sql_at``) at its first hand-raise (a demo,
  quote or contact request, a meeting) or, without one, on a day of its active
  period — an outbound win, as many wins from low-fit leads are — then is won after a
  sales cycle that is shorter the hotter the lead: about two weeks at full intent, up
  to half a year at none;
- some who never convert still had an opportunity, lost after the same kind of cycle:
  more of them among hot leads, so that some MQLs never convert;
- a deal whose close would fall after ``as_of`` is still open: ``converted`` is then
  unknown (None) and the stage ``opportunity``, as a CRM would show it that day.

The amount grows with the company's size.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from leadsync.connectors.sandbox.data import Person

_HAND_RAISES = frozenset({"demo_request", "quote_request", "contact_request", "meeting"})


@dataclass(frozen=True, slots=True)
class PersonOutcome:
    """A person's outcome as of the data's ``as_of``; ``stage`` is the lifecycle stage."""

    converted: bool | None
    stage: str
    sql_at: datetime | None = None
    won_at: datetime | None = None
    lost_at: datetime | None = None
    amount: float | None = None

    @property
    def converted_at(self) -> datetime | None:
        return self.won_at


def outcome_of(person: Person) -> PersonOutcome:
    """The person's outcome (the same every call for the same seed and key)."""
    rng = random.Random(f"outcome:{person.seed}:{person.key}")
    intent = person.intent / 100.0
    opportunity = person.converted or (
        not person.job_seeker and rng.random() < 0.05 + 0.45 * intent
    )
    if not opportunity:
        return PersonOutcome(converted=False, stage="lead")
    sql_at = _second(_qualified_at(person, rng))
    cycle = timedelta(days=(14 + 160 * (1 - intent)) * rng.uniform(0.6, 1.4))
    close = _second(sql_at + cycle)
    amount = round(
        1200.0 * max(1.0, (person.company_size or 10) / 50) ** 0.5 * rng.uniform(0.7, 1.3), 2
    )
    if close > person.as_of:
        return PersonOutcome(converted=None, stage="opportunity", sql_at=sql_at, amount=amount)
    if person.converted:
        return PersonOutcome(True, "customer", sql_at=sql_at, won_at=close, amount=amount)
    return PersonOutcome(False, "lost", sql_at=sql_at, lost_at=close, amount=amount)


def _second(moment: datetime) -> datetime:
    """Whole seconds, as the generator dates everything (and CRMs store dates)."""
    return moment.replace(microsecond=0)


def _qualified_at(person: Person, rng: random.Random) -> datetime:
    raised = next((a.at for a in person.activities() if a.kind in _HAND_RAISES), None)
    if raised is not None:
        return raised + timedelta(hours=rng.uniform(1, 72))
    start = max(person.created_at, person.as_of - timedelta(days=365))
    return start + (person.as_of - start) * rng.random()
