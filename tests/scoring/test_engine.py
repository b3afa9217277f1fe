"""Engine mechanics: caps, windows, decay, groups, weights, clamp, rounding, tiers."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from builders import AS_OF, event, lead

from leadsync.scoring.engine import apportion_cents, score
from leadsync.scoring.loader import parse_model

TIERS = "tiers: [{name: low}, {name: high, min: 50}]\nmql_threshold: 50\n"


def model(rules: str, extra: str = ""):
    return parse_model(f"name: t\nversion: 1\n{extra}rules:\n{rules}\n{TIERS}")


def points(result, rule):
    return next((r.points for r in result.reasons if r.rule == rule), None)


def test_points_per_occurrence_with_count_and_points_caps():
    spec = model(
        """
  - {id: opens, on: email_open, points: 2, max_count: 3}
  - {id: views, on: page_view, points: 4, max_points: 10}
"""
    )
    result = score(
        lead(events=[event("email_open", d) for d in range(5)] + [event("page_view")] * 4),
        spec,
        AS_OF,
    )
    assert points(result, "opens") == 6
    assert points(result, "views") == 10
    assert next(r.count for r in result.reasons if r.rule == "opens") == 3


def test_negative_points_cap_limits_the_magnitude():
    spec = model("  - {id: unsub, on: newsletter_unsubscribe, points: -4, max_points: 10}")
    assert score(lead(events=[event("newsletter_unsubscribe")] * 5), spec, AS_OF).score == -10


def test_recency_window_counts_only_recent_events():
    spec = model("  - {id: views, on: page_view, points: 1, within_days: 30}")
    events = [event("page_view", d) for d in (1, 29.9, 30, 30.1, 200)]
    assert score(lead(events=events), spec, AS_OF).score == 3  # 30 days exactly is in


def test_exponential_decay_halves_at_each_half_life():
    spec = model("  - {id: demo, on: demo_request, points: 40, half_life_days: 30}")
    assert score(lead(events=[event("demo_request", 0)]), spec, AS_OF).score == 40
    assert score(lead(events=[event("demo_request", 30)]), spec, AS_OF).score == 20
    assert score(lead(events=[event("demo_request", 60)]), spec, AS_OF).score == 10


def test_max_count_keeps_the_most_recent_occurrences_under_decay():
    spec = model("  - {id: demo, on: demo_request, points: 40, half_life_days: 30, max_count: 1}")
    events = [event("demo_request", 60), event("demo_request", 0)]
    assert score(lead(events=events), spec, AS_OF).score == 40


def test_attribute_conditions_and_url_paths():
    spec = model(
        """
  - id: pricing
    on: {type: page_view, url: {equals: /pricing}}
    points: 10
  - id: ebook
    on: {type: content_download, kind: [ebook, white_paper], asset: {matches: "^guide"}}
    points: 5
"""
    )
    events = [
        event("page_view", url="https://acme.io/pricing?utm=x#top"),
        event("page_view", url="https://pricing.acme.io/"),
        event("content_download", kind="ebook", asset="Guide to scoring"),
        event("content_download", kind="ebook", asset="Scoring guide"),
    ]
    result = score(lead(events=events), spec, AS_OF)
    assert (points(result, "pricing"), points(result, "ebook")) == (10, 5)


def test_fit_combinators_and_negation():
    spec = model(
        """
  - id: decision-maker
    when:
      any:
        - {title: {contains_any: [ceo, founder]}}
        - {title: {contains_any: [director]}, company_size: {at_least: 100}}
      not: {email: {domain_in: [competitor.com]}}
    points: 30
"""
    )
    assert score(lead(title="Co-Founder", email="a@b.io"), spec, AS_OF).score == 30
    assert score(lead(title="Director", company_size=50), spec, AS_OF).score == 0
    assert score(lead(title="Director", company_size="250"), spec, AS_OF).score == 30
    assert score(lead(title="CEO", email="x@Competitor.com"), spec, AS_OF).score == 0


def test_inactivity_with_its_own_activity_filter():
    spec = model(
        """
  - {id: base, when: {email: {exists: true}}, points: 10}
  - {id: quiet, inactive_days: 30, on: [page_view, form_submit], points: -5}
"""
    )
    only_emails = lead(events=[event("page_view", 45), event("email_open", 1)], email="a@b.io")
    assert score(only_emails, spec, AS_OF).score == 5
    assert score(lead(events=[event("page_view", 10)], email="a@b.io"), spec, AS_OF).score == 10


def test_group_caps_scale_the_rules_that_overflow():
    spec = model(
        """
  - {id: a, on: page_view, points: 30}
  - {id: b, on: email_open, points: 10}
  - {id: c, on: newsletter_unsubscribe, points: -20}
  - {id: fit, when: {title: {exists: true}}, points: 15}
""",
        extra="groups:\n  engagement: {max: 20, min: -5}\n",
    )
    events = [
        event("page_view"),
        event("page_view"),
        event("email_open"),
        event("newsletter_unsubscribe"),
    ]
    result = score(lead(events=events, title="CEO"), spec, AS_OF)
    # engagement raw 60 + 10 - 20 = 50 > 20: positives (70) scaled to 40 so 40 - 20 = 20
    assert points(result, "a") == Decimal("34.29")
    assert points(result, "b") == Decimal("5.71")
    assert points(result, "c") == -20
    assert result.score == 35
    only_negative = score(lead(events=[event("newsletter_unsubscribe")]), spec, AS_OF)
    assert only_negative.score == -5
    assert next(r.raw_points for r in only_negative.reasons) == -20


def test_weights_apply_after_caps():
    spec = model(
        """
  - {id: a, group: g, on: page_view, points: 10}
""",
        extra="groups:\n  g: {max: 15, weight: 0.5}\n",
    )
    assert score(lead(events=[event("page_view")] * 3), spec, AS_OF).score == Decimal("7.5")


def test_clamp_bounds_the_total_and_the_reasons_follow():
    spec = model(
        """
  - {id: a, on: demo_request, points: 80}
  - {id: b, on: page_view, points: 40}
""",
        extra="clamp: {min: 0, max: 100}\n",
    )
    result = score(lead(events=[event("demo_request"), event("page_view")]), spec, AS_OF)
    assert result.score == 100
    assert sum(r.points for r in result.reasons) == 100
    assert [r.raw_points for r in result.reasons] == [80, 40]


def test_rounding_apportions_cents_to_sum_exactly():
    assert apportion_cents([100 / 3, 100 / 3, 100 / 3]) == [3334, 3333, 3333]
    assert sum(apportion_cents([0.125, 0.125])) == 25  # total 0.25, half-cents go to one
    assert apportion_cents([-0.005]) == [-1]  # halves away from zero
    assert apportion_cents([]) == []


def test_tiers_are_chosen_by_min_and_mql_by_threshold():
    spec = parse_model(
        """
name: t
version: 1
rules: [{id: a, on: page_view, points: 10}]
tiers: [{name: cold}, {name: warm, min: 20}, {name: hot, min: 40}]
mql_threshold: 30
"""
    )
    tiers = [score(lead(events=[event("page_view")] * n), spec, AS_OF) for n in (0, 2, 3, 4)]
    assert [(t.tier, t.is_mql) for t in tiers] == [
        ("cold", False),
        ("warm", False),
        ("warm", True),
        ("hot", True),
    ]


def test_as_of_must_be_timezone_aware(b2b):
    with pytest.raises(ValueError, match="timezone"):
        score(lead(), b2b, datetime(2026, 1, 1))


def test_model_ref_and_zero_point_rules_are_left_out(weighted):
    result = score(lead(industry="Technology"), weighted, AS_OF)
    assert result.model == "weighted-sme@1.0"
    assert {r.rule for r in result.reasons} == {"industry", "company-size"}
