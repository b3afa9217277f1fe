"""Backtest metrics: exact from the score histogram, checked against direct computation."""

from __future__ import annotations

from decimal import Decimal

import pytest
from builders import AS_OF, event, lead
from hypothesis import given
from hypothesis import strategies as st

from leadsync.config.templates import resolve_model
from leadsync.scoring.backtest import Backtest, auc, deciles
from leadsync.scoring.engine import ScoreResult, score

MODEL = resolve_model("b2b-saas")


def result(lead_id: str, points: float) -> ScoreResult:
    value = Decimal(str(points))
    return ScoreResult(lead_id, value, "cold", value >= 71, (), MODEL.ref)


def brute_auc(pairs: list[tuple[float, bool]]) -> float | None:
    pos = [s for s, c in pairs if c]
    neg = [s for s, c in pairs if not c]
    if not pos or not neg:
        return None
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


@given(st.lists(st.tuples(st.integers(-5, 5), st.booleans()), max_size=60))
def test_auc_from_the_histogram_equals_the_pairwise_definition(pairs):
    lab = Backtest(MODEL)
    for i, (points, converted) in enumerate(pairs):
        lab.add(result(str(i), points), converted)
    expected = brute_auc(pairs)
    got = lab.report().auc
    assert got == pytest.approx(expected) if expected is not None else got is None


def test_a_perfect_and_a_useless_ranking():
    assert auc([(Decimal(0), 5, 0), (Decimal(10), 5, 5)]) == 1.0
    assert auc([(Decimal(0), 10, 5)]) == 0.5
    assert auc([(Decimal(0), 5, 5), (Decimal(10), 5, 0)]) == 0.0


def test_tiers_mql_and_leads_without_outcome():
    lab = Backtest(MODEL)
    hot = lead(
        "hot",
        [event("demo_request", 2), event("page_view", 1, url="/pricing")],
        title="CEO",
        company_size=120,
    )
    warm = lead("warm", [event("demo_request", 2)])
    cold = lead("cold", title="Student")
    for item, converted in [
        (hot, True),
        (hot, False),
        (warm, True),
        (warm, False),
        (cold, False),
        (cold, False),
        (cold, None),
    ]:
        lab.add(score(item, MODEL, AS_OF), converted)
    report = lab.report()
    assert (report.leads, report.converted, report.without_outcome) == (6, 2, 1)
    tiers = {t.name: t for t in report.tiers}
    assert (tiers["mql"].leads, tiers["mql"].converted, tiers["mql"].rate) == (2, 1, 0.5)
    assert tiers["mql"].lift == pytest.approx(1.5)
    assert (tiers["cold"].leads, tiers["cold"].converted, tiers["cold"].lift) == (2, 0, 0.0)
    assert report.mql.mqls == 2 and report.mql.precision == 0.5 and report.mql.recall == 0.5
    assert [r.lead_id for r in report.lowest_converted] == ["warm", "hot"]


def test_deciles_split_tied_scores_pro_rata_and_keep_every_lead():
    hist = [(Decimal(0), 15, 3), (Decimal(5), 4, 4), (Decimal(9), 1, 1)]
    parts = deciles(hist)
    assert len(parts) == 10 and sum(d.leads for d in parts) == pytest.approx(20)
    assert sum(d.converted for d in parts) == pytest.approx(8)
    assert (parts[0].max_score, parts[0].min_score, parts[0].rate) == (Decimal(9), Decimal(5), 1.0)
    assert parts[-1].rate == pytest.approx(0.2) and parts[-1].max_score == Decimal(0)


def test_suggested_thresholds():
    lab = Backtest(MODEL, target_volume=0.3, target_precision=0.75)
    for i, (points, converted) in enumerate(
        [
            (90, True),
            (80, True),
            (80, False),
            (50, True),
            (40, False),
            (10, False),
            (10, False),
            (0, False),
            (0, False),
            (0, True),
        ]
    ):
        lab.add(result(str(i), points), converted)
    report = lab.report()
    assert report.by_volume.score == Decimal(80) and report.by_volume.mqls == 3
    assert report.by_precision.score == Decimal(50)
    assert report.by_precision.precision == 0.75 and report.by_precision.recall == 0.75
    unreachable = Backtest(MODEL, target_precision=1.0)
    unreachable.add(result("a", 1), False)
    unreachable.add(result("b", 1), True)
    assert unreachable.report().by_precision is None
