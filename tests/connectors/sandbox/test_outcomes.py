"""The generator's hidden outcomes: dated, deterministic, and shaped like a real funnel."""

from __future__ import annotations

import statistics
from datetime import timedelta

import pytest

from leadsync.config.templates import resolve_model
from leadsync.connectors.sandbox.data import Dataset, generate
from leadsync.connectors.sandbox.leads import lead_json
from leadsync.connectors.sandbox.outcomes import outcome_of
from leadsync.scoring.engine import score
from leadsync.scoring.lead import parse_lead


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return generate(3000, seed=21)


def test_outcomes_are_dated_consistently(dataset: Dataset) -> None:
    stages = set()
    for p in dataset.people:
        o = outcome_of(p)
        stages.add(o.stage)
        assert o == outcome_of(p)
        if o.converted:
            assert p.converted and o.stage == "customer"
            assert o.sql_at is not None and o.sql_at < o.won_at <= dataset.as_of
            assert o.converted_at == o.won_at and o.amount > 0
        elif o.converted is None:
            assert o.stage == "opportunity" and o.won_at is None and o.lost_at is None
        elif o.stage == "lost":
            assert not p.converted and o.sql_at < o.lost_at <= dataset.as_of
        else:
            assert o.stage == "lead" and o.sql_at is None
    assert stages == {"lead", "opportunity", "customer", "lost"}


def test_hotter_leads_close_faster(dataset: Dataset) -> None:
    def cycle_days(lo: int, hi: int) -> float:
        days = []
        for p in dataset.people:
            o = outcome_of(p)
            if o.converted and lo <= p.intent < hi:
                days.append((o.won_at - o.sql_at) / timedelta(days=1))
        assert len(days) > 20
        return statistics.median(days)

    assert cycle_days(50, 101) < cycle_days(0, 25) / 1.5


def test_some_mqls_never_convert_and_some_low_scores_win(dataset: Dataset) -> None:
    model = resolve_model("b2b-saas")
    mql_lost = low_won = 0
    for p in dataset.people:
        lead = parse_lead(lead_json(p))
        result = score(lead, model, dataset.as_of)
        if result.is_mql and lead.outcome.converted is False:
            mql_lost += 1
        if result.tier == "cold" and lead.outcome.converted:
            low_won += 1
    assert mql_lost > 20 and low_won > 20


def test_lead_json_is_a_canonical_lead_with_its_outcome(dataset: Dataset) -> None:
    person = next(p for p in dataset.people if outcome_of(p).converted)
    lead = parse_lead(lead_json(person))
    assert lead.id == str(person.key)
    assert lead.properties["trading_area"] == person.trading_area
    assert len(lead.events) == len(person.activities())
    assert lead.outcome.converted is True
    assert lead.outcome.won_at == outcome_of(person).won_at
