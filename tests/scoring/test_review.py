"""The review's figures from scored leads and outcomes: rates, bands, low-score winners."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from leadsync.config.templates import resolve_model
from leadsync.scoring.engine import score
from leadsync.scoring.lead import Event, Lead, Outcome
from leadsync.scoring.review import Reviewed, RuleLift, rate, review

MODEL = resolve_model("b2b-saas")
T0 = datetime(2026, 3, 2, tzinfo=UTC)


def reviewed(
    n: int, *, demo: bool, won: bool | None, mql_at: datetime | None = None, said: str | None = None
) -> Reviewed:
    events = (Event.create("demo_request", T0 - timedelta(days=1)),) if demo else ()
    lead = Lead(str(n), {"title": "CEO", "company_size": 100 if demo else 5}, events)
    outcome = None if won is None else Outcome(
        converted=won, sql_at=T0 + timedelta(days=3), won_at=T0 + timedelta(days=33) if won else None,
        feedback=said,
    )  # fmt: skip
    return Reviewed(score(lead, MODEL, T0), mql_at, T0, outcome)


def test_rates_bands_cycles_and_who_won_with_a_low_score() -> None:
    leads = [
        reviewed(i, demo=True, won=i % 2 == 0, mql_at=T0,
                 said="accepted" if i % 2 == 0 else "rejected_bad_timing")
        for i in range(40)
    ]  # fmt: skip
    leads += [reviewed(100 + i, demo=False, won=i < 4) for i in range(40)]
    leads += [reviewed(200, demo=False, won=None)]
    report = review(leads, MODEL)
    assert (report.leads, report.with_outcome, report.converted) == (81, 80, 24)
    assert report.mql_to_sql == rate(40, 40)  # every MQL reached SQL
    bands = {b.name: b for b in report.bands}
    assert bands["mql"].close_rate.value == 0.5 and bands["mql"].cycle_days == 30
    assert bands["cold"].leads == 40 and bands["cold"].close_rate.value == 0.1
    assert bands["warm"].leads == 0 and bands["warm"].close_rate.value is None  # too few
    assert [w.lead_id for w in report.low_score_winners] == ["100", "101", "102", "103"]
    assert report.winners_share == (("executive title", 4),)
    assert report.tiers_over_time == (("2026-03", {"mql": 40, "cold": 41}),)
    lifts = {r.rule: r for r in report.rules}
    assert lifts["demo-request"].lift == 0.5 / 0.3 and not lifts["demo-request"].disagrees
    assert lifts["demo-request"].suggested == 83  # 50 points × 1.67
    assert lifts["exec-title"].lift == 1.0 and lifts["exec-title"].suggested == 20
    assert report.threshold is not None and report.threshold.score == 85  # the demo leads
    (month,) = report.over_time
    assert (month.period, month.leads) == ("2026-03", 81)
    assert month.mql_to_sql == rate(40, 40) and month.close_rate == rate(24, 80)
    assert report.feedback == rate(20, 40)  # sales rejected half the MQLs
    assert dict(report.rejected_by_tier) == {"mql": rate(20, 40)}
    assert dict(report.rejected_by_rule)["demo request"] == rate(20, 40)
    assert (
        len(report.rejected_mqls) == 15
        and report.rejected_mqls[0].feedback == "rejected_bad_timing"
    )
    assert dict(report.rejected_share)["demo request"] == 20
    assert report.missing == ("only 24 converted leads (at least 30 are needed for rates to "
                              "mean anything): review over a longer --since, or wait for more "
                              "deals",)  # fmt: skip


def test_no_outcome_says_what_is_missing_and_how_to_get_it() -> None:
    report = review([reviewed(1, demo=False, won=None)], MODEL)
    assert report.converted == 0 and all(b.close_rate.value is None for b in report.bands)
    assert report.missing[0].startswith("no sales feedback: reps set Lead Score Feedback")
    assert report.missing[1].startswith("no lead has an outcome: read them from the CRM")


def test_weekly_volumes_and_a_report_without_outcomes_draws_no_empty_chart() -> None:
    from leadsync.sync.reviewreport import review_html

    report = review([reviewed(1, demo=False, won=None)], MODEL, period="week")
    assert report.tiers_over_time == (("2026-W10", {"cold": 1}),)
    page = review_html(report, "acme")
    assert page.count("<svg") == 5 and page.count("no outcomes yet: see Missing") == 2


def test_a_deleted_mql_task_is_a_rejection_and_a_done_one_an_acceptance() -> None:
    from dataclasses import replace

    base = reviewed(1, demo=True, won=False, mql_at=T0)
    leads = [
        replace(base, task="deleted"),
        replace(base, task="done"),
        replace(base, task="overdue"),
    ]
    report = review(leads, MODEL)
    assert report.feedback == rate(1, 2, min_leads=30)
    assert dict(report.tasks_by_tier) == {"mql": {"deleted": 1, "done": 1, "overdue": 1}}


def test_a_rule_whose_leads_never_convert_is_suggested_no_points() -> None:
    """Lift 0 on enough leads: the outcomes say its points buy nothing, so the suggestion
    is 0 — not its points unchanged — and ``--suggest`` writes that into the model file."""
    from leadsync.sync.review import suggested_model

    leads = [reviewed(i, demo=True, won=False) for i in range(40)]  # never convert
    leads += [reviewed(100 + i, demo=False, won=i < 35) for i in range(40)]
    report = review(leads, MODEL)
    demo = next(r for r in report.rules if r.rule == "demo-request")
    assert demo.lift == 0 and demo.disagrees and demo.suggested == 0
    assert report.rules[0] is demo  # the biggest change is listed first
    text = suggested_model("b2b-saas", report, "acme")
    assert "demo-request: 50 → 0 points (none of its 40 leads converted)" in " ".join(
        line.lstrip("# ") for line in text.splitlines() if line.startswith("#")
    )
    from leadsync.scoring.loader import parse_model

    suggested = parse_model(text, source="suggested")
    assert next(r for r in suggested.rules if r.id == "demo-request").points == 0

    # Too few leads to say (lift None): unchanged. Negative points whose leads never
    # convert agree with the outcomes: unchanged too.
    few = review(leads[:20] + leads[40:], MODEL)
    assert next(r for r in few.rules if r.rule == "demo-request").suggested == 50
    against = RuleLift("spam", "spam", Decimal(-10), 40, rate(0, 40), 0.0)
    assert not against.disagrees and against.suggested == -10
