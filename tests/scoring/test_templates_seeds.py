"""The seed articles' own examples, scored by the shipped templates."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from builders import AS_OF, event, lead

from leadsync.scoring.engine import score


def test_seed_003_worked_example_scores_15_high(weighted):
    result = score(
        lead(industry="Technology", company_size=300, engagement_level="high", trading_area="main"),
        weighted,
        AS_OF,
    )
    assert result.score == Decimal("15")
    assert result.tier == "high"
    assert result.is_mql
    assert {r.rule: r.points for r in result.reasons} == {
        "industry": Decimal("2.5"),
        "company-size": Decimal("4.5"),
        "online-engagement": Decimal("7"),
        "location": Decimal("1"),
    }


def test_seed_003_engagement_falls_back_to_event_count(weighted):
    recent = [event("page_view", d, url="/p") for d in (1, 2, 3, 4, 5)]
    old = [event("page_view", 100, url="/p")] * 5
    high = score(lead(events=recent, industry="Technology"), weighted, AS_OF)
    low = score(lead(events=old, industry="Technology"), weighted, AS_OF)
    medium = score(lead(events=recent[:3], industry="Technology"), weighted, AS_OF)
    points = {
        name: next(r.points for r in res.reasons if r.rule == "online-engagement")
        for name, res in (("high", high), ("medium", medium))
    }
    assert points == {"high": Decimal("7"), "medium": Decimal("3.5")}
    assert all(r.rule != "online-engagement" for r in low.reasons)  # low gives 0 points


def test_seed_003_other_buckets(weighted):
    result = score(
        lead(industry="Retail", company_size="800", trading_area="secondary"), weighted, AS_OF
    )
    # 8×0.25 + 10×0.30 + 0×0.35 + 5×0.10
    assert result.score == Decimal("5.5")
    assert result.tier == "low"
    other = score(lead(industry="Finance", company_size=20), weighted, AS_OF)
    assert other.score == Decimal("2.75")  # 5×0.25 + 5×0.30


def test_b2b_saas_example_scores_55_warm(b2b):
    events = [
        event("demo_request", 3),
        event("page_view", 5, url="https://acme.io/pricing"),
        event("page_view", 2, url="https://acme.io/pricing?plan=pro"),
        event("page_view", 4, url="https://acme.io/careers"),
    ]
    result = score(
        lead(
            events=events,
            title="CEO",
            company_size=120,
            industry="Technology",
            email="jane@gmail.com",
        ),
        b2b,
        AS_OF,
    )
    # 20 + 15 + 10 - 10 + 50 + 20 (pricing counted once) - 50
    assert result.score == Decimal("55")
    assert result.tier == "warm"
    assert not result.is_mql
    assert result.explanation().startswith("+50 demo request · +20 executive title")


def test_b2b_saas_tiers_and_mql_threshold(b2b):
    def total(**props):
        return score(lead(**props), b2b, AS_OF)

    assert total(title="VP Sales", company_size=60).tier == "warm"  # 35
    assert total(title="VP", company_size=60, industry="e-commerce").score == 45
    mql = score(
        lead(
            events=[event("form_submit", 1, form="Request a DEMO")],
            title="Directeur",
            company_size=50,
        ),
        b2b,
        AS_OF,
    )
    assert (mql.score, mql.tier, mql.is_mql) == (85, "mql", True)
    careers = score(lead(events=[event("page_view", 1, url="/jobs/42")]), b2b, AS_OF)
    assert (careers.score, careers.tier) == (-50, "cold")


def test_b2c_decay_applies_at_91_days_not_89(b2c):
    def at(days):
        return score(lead(events=[event("purchase", days)]), b2c, AS_OF)

    assert at(89).score == 30
    assert at(90).score == 30  # "more than 90 days"
    assert at(91).score == 5
    assert any(r.rule == "inactive-90-days" for r in at(91).reasons)


def test_b2c_no_events_no_decay(b2c):
    assert score(lead(), b2c, AS_OF).score == 0


def test_lifecycle_phases(lifecycle):
    # seed 001's discovery walk-through: 5 blog articles, newsletter, 2 opens, 3 promo clicks
    events = [event("page_view", d, url=f"https://x.io/blog/{d}") for d in range(1, 6)]
    events += [event("newsletter_subscribe", 9), event("email_open", 8), event("email_open", 7)]
    events += [event("email_click", d, campaign="promo") for d in (4, 5, 6)]
    discovery = score(lead(events=events), lifecycle, AS_OF)
    assert discovery.score == 10 + 3 + 4 + 9
    assert discovery.tier == "evaluation"
    # then a demo request and two webinars: over 40, purchase phase
    events += [event("demo_request", 1), event("webinar_register", 2), event("webinar_register", 3)]
    purchase = score(lead(events=events), lifecycle, AS_OF)
    assert purchase.score == 26 + 10 + 10
    assert (purchase.tier, purchase.is_mql) == ("purchase", True)
    outside = score(
        lead(trading_area="outside", events=[event("newsletter_unsubscribe")]), lifecycle, AS_OF
    )
    assert (outside.score, outside.tier) == (-20, "discovery")


def test_future_events_do_not_count(b2b):
    future = score(lead(events=[event("demo_request", -1)]), b2b, AS_OF)
    assert future.score == 0
    assert (
        score(lead(events=[event("demo_request", -1)]), b2b, AS_OF + timedelta(days=2)).score == 50
    )
