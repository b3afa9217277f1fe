"""Backtesting a model: how well its scores predicted what became of the leads.

Pure and streaming: :class:`Backtest` takes one scored lead and its outcome at a time
and keeps only a histogram of scores (scores are discrete — hundredths of a point, and
in practice a few hundred distinct values), the tier of each score, and the few
lowest-scored converted leads it shows. Memory does not grow with the number of
leads; every metric is computed exactly from the histogram:

- **ROC AUC**: the probability that a converted lead outscores one that did not
  (ties count half), summed over the histogram's buckets;
- **tiers**: leads, converted, conversion rate and lift (the tier's rate over the
  overall rate);
- **MQL**: precision (converted among MQLs) and recall (MQLs among converted) at the
  model's threshold;
- **deciles**: leads ranked by score in ten equal groups; a score shared across a
  decile boundary is split between them in proportion, its conversions with it;
- **suggested thresholds**: the lowest score whose MQL volume stays within a target
  share of leads, and the lowest whose precision reaches a target.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from leadsync.scoring.engine import ScoreResult, compiled
from leadsync.scoring.lead import Lead
from leadsync.scoring.model import ScoringModel


@dataclass(frozen=True, slots=True)
class TierStats:
    name: str
    leads: int
    converted: int
    rate: float | None
    """Converted over leads; None for an empty tier."""
    lift: float | None
    """The tier's rate over the overall rate; None when either is undefined."""


@dataclass(frozen=True, slots=True)
class Decile:
    decile: int
    """1 is the best-scored tenth."""
    min_score: Decimal
    max_score: Decimal
    leads: float
    converted: float
    rate: float | None


@dataclass(frozen=True, slots=True)
class Threshold:
    """A candidate MQL threshold and what it would have given."""

    score: Decimal
    mqls: int
    precision: float | None
    recall: float | None


@dataclass(frozen=True, slots=True)
class MqlStats:
    threshold: float
    mqls: int
    converted: int
    precision: float | None
    recall: float | None


@dataclass(frozen=True, slots=True)
class BacktestReport:
    """Everything a backtest found; built by :meth:`Backtest.report`."""

    model: str
    leads: int
    """Leads with a known outcome: the ones measured."""
    converted: int
    without_outcome: int
    """Leads read but left out: no ``outcome.converted``."""
    rate: float | None
    auc: float | None
    """None unless both converted and unconverted leads exist."""
    tiers: tuple[TierStats, ...]
    mql: MqlStats
    deciles: tuple[Decile, ...]
    lowest_converted: tuple[ScoreResult, ...]
    """Converted leads with the lowest scores, lowest first: who won that the model missed."""
    by_volume: Threshold | None
    target_volume: float
    by_precision: Threshold | None
    target_precision: float


@dataclass(frozen=True, slots=True)
class Counts:
    """A :class:`Backtest`'s tallies: leads and converted per score, the lowest-scored
    converted leads (a heap), leads seen and those without an outcome."""

    buckets: dict[Decimal, list[int]]
    lowest: list[tuple[Decimal, int, ScoreResult]]
    seen: int
    without_outcome: int


@dataclass(slots=True)
class Backtest:
    """Accumulates scored leads and their outcomes; :meth:`report` gives the metrics.

    ``lowest`` is how many lowest-scored converted leads to keep; ``target_volume``
    (a share of leads, 0..1) and ``target_precision`` (0..1) drive the suggested
    thresholds.
    """

    model: ScoringModel
    lowest: int = 10
    target_volume: float = 0.10
    target_precision: float = 0.5
    without_outcome: int = 0
    _buckets: dict[Decimal, list[int]] = field(default_factory=dict)
    _lowest: list[tuple[Decimal, int, ScoreResult]] = field(default_factory=list)
    _seen: int = 0

    def add(self, result: ScoreResult, converted: bool | None) -> None:
        """Count one scored lead; ``converted`` None (unknown) is counted and left out."""
        self._seen += 1
        if converted is None:
            self.without_outcome += 1
            return
        bucket = self._buckets.get(result.score)
        if bucket is None:
            bucket = self._buckets[result.score] = [0, 0]
        bucket[0] += 1
        if converted:
            bucket[1] += 1
            entry = (-result.score, -self._seen, result)
            if len(self._lowest) < self.lowest:
                heapq.heappush(self._lowest, entry)
            elif self.lowest and entry > self._lowest[0]:
                heapq.heapreplace(self._lowest, entry)

    def add_lead(self, lead: Lead, now: float) -> None:
        """Score ``lead`` with the backtest's model as of ``now`` (epoch seconds) and count it."""
        result = compiled(self.model).score(lead, now)
        self.add(result, lead.outcome.converted if lead.outcome else None)

    def counts(self) -> Counts:
        """What this backtest counted, without its model: small enough to send around."""
        return Counts(self._buckets, self._lowest, self._seen, self.without_outcome)

    def merge(self, other: Counts) -> None:
        """Add another backtest's :meth:`counts`, as if its leads came after this one's (a
        backtest split into chunks is merged back in chunk order: the same report)."""
        for score, (leads, converted) in other.buckets.items():
            bucket = self._buckets.setdefault(score, [0, 0])
            bucket[0] += leads
            bucket[1] += converted
        for neg_score, neg_seen, result in other.lowest:
            entry = (neg_score, neg_seen - self._seen, result)
            if len(self._lowest) < self.lowest:
                heapq.heappush(self._lowest, entry)
            elif self.lowest and entry > self._lowest[0]:
                heapq.heapreplace(self._lowest, entry)
        self._seen += other.seen
        self.without_outcome += other.without_outcome

    def report(self) -> BacktestReport:
        hist = sorted((s, n, c) for s, (n, c) in self._buckets.items())
        leads = sum(n for _, n, _ in hist)
        converted = sum(c for _, _, c in hist)
        rate = converted / leads if leads else None
        mql = _mql(hist, self.model.mql_threshold, converted)
        return BacktestReport(
            model=self.model.ref,
            leads=leads,
            converted=converted,
            without_outcome=self.without_outcome,
            rate=rate,
            auc=auc(hist),
            tiers=_tiers(hist, self.model, rate),
            mql=mql,
            deciles=deciles(hist),
            lowest_converted=tuple(r for _, _, r in sorted(self._lowest, reverse=True)),
            by_volume=_by_volume(hist, self.target_volume, converted),
            target_volume=self.target_volume,
            by_precision=_by_precision(hist, self.target_precision, converted),
            target_precision=self.target_precision,
        )


Histogram = list[tuple[Decimal, int, int]]
"""``(score, leads, converted)`` per distinct score, lowest score first."""


def auc(hist: Histogram) -> float | None:
    """ROC AUC from a score histogram: P(converted outscores not converted), ties half."""
    positives = sum(c for _, _, c in hist)
    negatives = sum(n - c for _, n, c in hist)
    if not positives or not negatives:
        return None
    below = 0
    wins = 0.0
    for _, n, c in hist:
        wins += c * (below + (n - c) / 2)
        below += n - c
    return wins / (positives * negatives)


def deciles(hist: Histogram, parts: int = 10) -> tuple[Decile, ...]:
    """Leads ranked best first in ``parts`` equal groups (a tied score split pro rata)."""
    total = sum(n for _, n, _ in hist)
    if not total:
        return ()
    size = total / parts
    out: list[Decile] = []
    remaining = [(s, float(n), float(c)) for s, n, c in reversed(hist)]
    i = 0
    for decile in range(1, parts + 1):
        room, leads, conv = size, 0.0, 0.0
        high = low = remaining[min(i, len(remaining) - 1)][0]
        while room > 1e-9 and i < len(remaining):
            score, n, c = remaining[i]
            take = min(room, n)
            share = take / n
            leads, conv, room = leads + take, conv + c * share, room - take
            low = score
            if take >= n - 1e-9:
                i += 1
            else:
                remaining[i] = (score, n - take, c - c * share)
        out.append(Decile(decile, low, high, leads, conv, conv / leads if leads else None))
    return tuple(out)


def _at_or_above(hist: Histogram, threshold: float | Decimal) -> tuple[int, int]:
    leads = conv = 0
    for score, n, c in hist:
        if score >= threshold:
            leads, conv = leads + n, conv + c
    return leads, conv


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _mql(hist: Histogram, threshold: float, converted: int) -> MqlStats:
    mqls, hits = _at_or_above(hist, Decimal(str(threshold)))
    return MqlStats(threshold, mqls, hits, _ratio(hits, mqls), _ratio(hits, converted))


def _tiers(hist: Histogram, model: ScoringModel, rate: float | None) -> tuple[TierStats, ...]:
    counts = {t.name: [0, 0] for t in model.tiers}
    bounds = [(Decimal(str(t.min)) if t.min is not None else None, t.name) for t in model.tiers]
    for score, n, c in hist:
        name = bounds[0][1]
        for low, tier in bounds:
            if low is None or score >= low:
                name = tier
        counts[name][0] += n
        counts[name][1] += c
    out = []
    for tier in model.tiers:
        n, c = counts[tier.name]
        tier_rate = _ratio(c, n)
        lift = tier_rate / rate if tier_rate is not None and rate else None
        out.append(TierStats(tier.name, n, c, tier_rate, lift))
    return tuple(out)


def _thresholds(hist: Histogram, converted: int) -> Iterable[Threshold]:
    """Every distinct score as a threshold, highest first, with what it would give."""
    mqls = hits = 0
    for score, n, c in reversed(hist):
        mqls, hits = mqls + n, hits + c
        yield Threshold(score, mqls, _ratio(hits, mqls), _ratio(hits, converted))


def _by_volume(hist: Histogram, share: float, converted: int) -> Threshold | None:
    """The lowest threshold whose MQLs stay within ``share`` of the leads."""
    limit = share * sum(n for _, n, _ in hist)
    best = None
    for candidate in _thresholds(hist, converted):
        if candidate.mqls > limit:
            break
        best = candidate
    return best


def _by_precision(hist: Histogram, target: float, converted: int) -> Threshold | None:
    """The lowest threshold whose precision still reaches ``target`` (the most recall)."""
    best = None
    for candidate in _thresholds(hist, converted):
        if candidate.precision is not None and candidate.precision >= target:
            best = candidate
    return best
