"""The quarterly review's figures: do scores match what became of the leads?

Pure functions over :class:`Reviewed` leads — each with the score it had when leadsync
first scored it (its *initial* score, from the score history), when it became MQL, its
outcome, and the reasons it was scored with then. The method asks a marketing–sales
team to look, regularly, at: the MQL → SQL conversion rate; the close rate by initial
score band (does the MQL threshold separate buyers?); the sales-cycle length by band;
the customers who won with a low score and what they did; the MQLs sales rejected
(its feedback on the record) and what they have in common; and the volume of each tier
over time. Every figure carries the number of leads it rests on, and a band with fewer
than ``min_leads`` shows no rate. Rules whose points disagree with the outcomes get
points scaled by their lift (:attr:`RuleLift.suggested`): 0 for a rule whose leads, at
least ``min_leads`` of them, never converted.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from statistics import median
from typing import Any

from leadsync.scoring.backtest import Backtest, Decile, Threshold, deciles
from leadsync.scoring.engine import ScoreResult
from leadsync.scoring.lead import Outcome
from leadsync.scoring.model import ScoringModel

#: A rate resting on fewer leads than this is not shown (the method's rule of thumb).
MIN_LEADS = 30
#: Without feedback on the record, what a rep did with the MQL task says it: done is
#: taking the lead up, deleting it is turning it down (an overdue task says nothing yet).
_TASK_SAYS = {"done": "accepted", "deleted": "rejected"}


@dataclass(frozen=True, slots=True)
class Reviewed:
    """One lead as the review sees it."""

    initial: ScoreResult
    """Its score when leadsync first scored it (events up to then), with the reasons."""
    became_mql_at: datetime | None
    first_scored_at: datetime | None
    outcome: Outcome | None
    task: str | None = None
    """Its latest MQL task in the CRM: ``done``, ``open``, ``overdue`` or ``deleted``."""


@dataclass(frozen=True, slots=True)
class Rate:
    """``hits`` of ``leads``; ``value`` None when too few leads to say."""

    leads: int
    hits: int
    value: float | None


@dataclass(frozen=True, slots=True)
class Band:
    """The leads whose initial score fell in one tier of the model."""

    name: str
    low: float | None
    leads: int
    close_rate: Rate
    cycle_days: float | None
    """Median days from SQL (else from becoming MQL) to won, over the won leads whose
    dates say so."""
    won: int


@dataclass(frozen=True, slots=True)
class Winner:
    lead_id: str
    score: Decimal
    tier: str
    reasons: str
    won_at: datetime | None
    feedback: str | None = None


@dataclass(frozen=True, slots=True)
class RuleLift:
    """How the leads a rule fired for converted, against all leads with an outcome."""

    rule: str
    label: str
    points: Decimal
    """Its points (as scored: after caps and weights), averaged over the leads it fired for."""
    leads: int
    rate: Rate
    lift: float | None
    """Their conversion rate over the overall one; None with too few leads."""

    @property
    def disagrees(self) -> bool:
        """Points for a rule whose leads convert less than average, or against one whose
        leads convert more: the outcomes say its points point the wrong way."""
        if self.lift is None:
            return False
        return (self.points > 0 and self.lift < 1) or (self.points < 0 and self.lift > 1)

    @property
    def suggested(self) -> int:
        """Its points scaled by the lift (shrunk where they disagree): a proposal to try.

        Points for leads that never convert (lift 0, on at least ``min_leads`` leads)
        become 0: the outcomes say they buy nothing. Points against such leads agree with
        the outcomes and stay (scaling them by 1 / 0 would mean nothing); with too few
        leads to say (lift None) the points stay too.
        """
        if self.lift is None:
            return round(self.points)
        if self.points > 0:
            return round(float(self.points) * self.lift)
        if self.lift == 0:
            return round(self.points)
        return round(float(self.points) / self.lift)


@dataclass(frozen=True, slots=True)
class Period:
    """The leads leadsync first scored in one month (or week), and what became of them."""

    period: str
    leads: int
    mql_to_sql: Rate
    close_rate: Rate


@dataclass(frozen=True, slots=True)
class ReviewReport:
    model: str
    leads: int
    with_outcome: int
    converted: int
    mql_to_sql: Rate
    bands: tuple[Band, ...]
    low_score_winners: tuple[Winner, ...]
    winners_share: tuple[tuple[str, int], ...]
    """Rules the low-score winners share: label → how many of them it fired for."""
    tiers_over_time: tuple[tuple[str, dict[str, int]], ...]
    """Period (``2026-05``, or ``2026-W19`` by week) → leads first scored in it, by
    initial tier."""
    over_time: tuple[Period, ...] = field(default=())
    """The KPIs of the leads first scored in each period."""
    scores: tuple[tuple[Decimal, str, int], ...] = field(default=())
    """Every initial score with its tier and how many leads had it: the distribution."""
    deciles: tuple[Decile, ...] = field(default=())
    """Conversion by tenth of initial score, best first: the calibration of the ranking."""
    rules: tuple[RuleLift, ...] = field(default=())
    """Every rule that fired, those whose points most disagree with the outcomes first."""
    feedback: Rate = field(default_factory=lambda: Rate(0, 0, None))
    """MQLs sales rejected, of the MQLs it gave feedback on (on the record, else by
    completing or deleting the MQL task)."""
    rejected_by_tier: tuple[tuple[str, Rate], ...] = field(default=())
    rejected_by_rule: tuple[tuple[str, Rate], ...] = field(default=())
    """Per rule that fired for MQLs with feedback: how many of them sales rejected."""
    rejected_mqls: tuple[Winner, ...] = field(default=())
    rejected_share: tuple[tuple[str, int], ...] = field(default=())
    """Rules the rejected MQLs share: label → how many of them it fired for."""
    tasks_by_tier: tuple[tuple[str, dict[str, int]], ...] = field(default=())
    """What became of the MQL tasks, by initial tier: done, open, overdue, deleted."""
    threshold: Threshold | None = None
    """A suggested MQL threshold: the lowest whose MQLs convert at ``target_precision``,
    else the one keeping MQLs within ``target_volume`` of the leads."""
    missing: tuple[str, ...] = field(default=())
    """What the data lacks for a sound review, each with how to get it."""


def rate(hits: int, leads: int, min_leads: int = MIN_LEADS) -> Rate:
    return Rate(leads, hits, hits / leads if leads >= min_leads else None)


def review(
    leads: Iterable[Reviewed],
    model: ScoringModel,
    *,
    min_leads: int = MIN_LEADS,
    winners: int = 15,
    target_precision: float = 0.5,
    target_volume: float = 0.10,
    period: str = "month",
    feedback_field: str | None = None,
) -> ReviewReport:
    """Every figure of the review, in one pass over ``leads``; tier volumes by ``period``
    (``month`` or ``week``). ``feedback_field`` names the CRM's feedback field where the
    CRM is known to have it: a review without feedback then says that sales have not
    filled it in yet, not that ``setup --create`` must add it."""
    stamp = "%G-W%V" if period == "week" else "%Y-%m"
    tiers = [(t.name, t.min) for t in model.tiers]
    counts: dict[str, list[int]] = {name: [0, 0] for name, _ in tiers}
    cycles: dict[str, list[float]] = defaultdict(list)
    mqls = sqls = total = known = converted = 0
    low: list[Reviewed] = []
    rejected: list[Reviewed] = []
    said_tier: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    said_rule: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    tasks: dict[str, Counter[str]] = defaultdict(Counter)
    distribution: Counter[tuple[Decimal, str]] = Counter()
    by_period: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    # per period: leads, MQLs, SQLs among them, leads with an outcome, converted
    histogram: dict[Decimal, list[int]] = defaultdict(lambda: [0, 0])
    fired: dict[str, list[Any]] = {}  # rule → [label, points total, leads, converted]
    lab = Backtest(model, 0, target_volume, target_precision)
    periods: dict[str, Counter[str]] = defaultdict(Counter)
    for lead in leads:
        total += 1
        tier = lead.initial.tier
        in_period = None
        if lead.first_scored_at is not None:
            key = lead.first_scored_at.strftime(stamp)
            periods[key][tier] += 1
            in_period = by_period[key]
            in_period[0] += 1
        distribution[(lead.initial.score, tier)] += 1
        outcome = lead.outcome
        if lead.task is not None:
            tasks[tier][lead.task] += 1
        if lead.became_mql_at is not None or lead.initial.is_mql:
            mqls += 1
            sql = outcome is not None and (outcome.sql_at is not None or bool(outcome.converted))
            sqls += sql
            if in_period is not None:
                in_period[1] += 1
                in_period[2] += sql
            word = (outcome.feedback if outcome else None) or _TASK_SAYS.get(lead.task or "")
            if word is not None:
                no = word.startswith("rejected")
                for tally in (said_tier[tier], *(said_rule[r.label or r.rule]
                              for r in lead.initial.reasons if r.points)):  # fmt: skip
                    tally[0] += 1
                    tally[1] += no
                if no:
                    rejected.append(lead)
        if outcome is None or outcome.converted is None:
            continue
        known += 1
        if in_period is not None:
            in_period[3] += 1
            in_period[4] += bool(outcome.converted)
        bucket = counts.setdefault(tier, [0, 0])
        bucket[0] += 1
        histogram[lead.initial.score][0] += 1
        histogram[lead.initial.score][1] += bool(outcome.converted)
        lab.add(lead.initial, outcome.converted)
        for reason in lead.initial.reasons:
            stats = fired.setdefault(reason.rule, [reason.label or reason.rule, Decimal(0), 0, 0])
            stats[1] += reason.points
            stats[2] += 1
            stats[3] += bool(outcome.converted)
        if not outcome.converted:
            continue
        converted += 1
        bucket[1] += 1
        start = outcome.sql_at or lead.became_mql_at
        if outcome.won_at is not None and start is not None and outcome.won_at >= start:
            cycles[tier].append((outcome.won_at - start).total_seconds() / 86_400)
        if not lead.initial.is_mql:
            low.append(lead)
    low.sort(key=lambda r: (r.initial.score, r.initial.lead_id))
    shared: Counter[str] = Counter()
    for lead in low:
        shared.update({r.label or r.rule for r in lead.initial.reasons if r.points > 0})
    bands = tuple(
        Band(
            name,
            minimum,
            counts[name][0],
            rate(counts[name][1], counts[name][0], min_leads),
            median(cycles[name]) if len(cycles[name]) >= min(min_leads, 5) else None,
            len(cycles[name]),
        )
        for name, minimum in tiers
    )
    overall = converted / known if known else None
    lifts = []
    for rule, (label, points, n, hits) in fired.items():
        share = rate(hits, n, min_leads)
        lift = share.value / overall if share.value is not None and overall else None
        lifts.append(RuleLift(rule, label, points / n, n, share, lift))
    lifts.sort(key=lambda r: (not r.disagrees, -abs(r.suggested - r.points)))
    backtest = lab.report() if known else None
    said = [sum(v) for v in zip(*said_tier.values(), strict=False)] or [0, 0]
    why: Counter[str] = Counter()
    for lead in rejected:
        why.update({r.label or r.rule for r in lead.initial.reasons if r.points > 0})
    missing: list[str] = []
    if not said[0] and feedback_field:
        missing.append(
            f"no sales feedback yet: the field {feedback_field} exists, but no rep has set "
            "it on an MQL (nor closed or deleted an MQL task) — ask sales to set Lead Score "
            "Feedback (accepted, or rejected: not a buyer, bad timing, bad data) on the MQLs "
            "they work"
        )
    elif not said[0]:
        missing.append(
            "no sales feedback: reps set Lead Score Feedback (lead_score_feedback, "
            "Lead_Score_Feedback__c) on MQLs — `leadsync setup --create` adds the field"
        )
    if not known:
        missing.append(
            "no lead has an outcome: read them from the CRM (HubSpot lifecycle stages and "
            "deals, Salesforce conversions and opportunities need read access) or give "
            "outcome.converted in the leads file"
        )
    elif converted < min_leads:
        missing.append(
            f"only {converted} converted leads (at least {min_leads} are needed for rates "
            "to mean anything): review over a longer --since, or wait for more deals"
        )
    if not periods:
        missing.append(
            "no score history: leadsync keeps one from its first run of this version on; "
            "tier volumes over time start then"
        )
    return ReviewReport(
        model=model.ref,
        leads=total,
        with_outcome=known,
        converted=converted,
        mql_to_sql=rate(sqls, mqls, min_leads),
        bands=bands,
        low_score_winners=tuple(_winner(r) for r in low[:winners]),
        winners_share=tuple(shared.most_common(10)),
        tiers_over_time=tuple((p, dict(periods[p])) for p in sorted(periods)),
        scores=tuple((s, tier, n) for (s, tier), n in sorted(distribution.items())),
        over_time=tuple(
            Period(key, c[0], rate(c[2], c[1], min_leads), rate(c[4], c[3], min_leads))
            for key, c in sorted(by_period.items())
        ),
        deciles=deciles(sorted((s, n, c) for s, (n, c) in histogram.items())),
        rules=tuple(lifts),
        feedback=rate(said[1], said[0], min_leads),
        rejected_by_tier=tuple((n, rate(c[1], c[0], min_leads)) for n, c in said_tier.items()),
        rejected_by_rule=tuple(
            (n, rate(c[1], c[0], min_leads))
            for n, c in sorted(said_rule.items(), key=lambda kv: -kv[1][1])
        ),
        rejected_mqls=tuple(_winner(r) for r in rejected[:winners]),
        rejected_share=tuple(why.most_common(10)),
        tasks_by_tier=tuple((name, dict(tasks[name])) for name, _ in tiers if name in tasks),
        threshold=(backtest.by_precision or backtest.by_volume) if backtest else None,
        missing=tuple(missing),
    )


def _winner(lead: Reviewed) -> Winner:
    outcome = lead.outcome
    return Winner(
        lead.initial.lead_id,
        lead.initial.score,
        lead.initial.tier,
        lead.initial.explanation(),
        outcome.won_at if outcome else None,
        outcome.feedback if outcome else None,
    )
