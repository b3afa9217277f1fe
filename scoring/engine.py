"""The engine: ``score(lead, model, as_of)`` and nothing else that touches the world.

Order of computation, for every lead:

1. each rule yields raw points (engagement rules after their window, count cap, decay
   and points cap), counting only events at or before ``as_of``;
2. rules add up per group; a group over its ``max`` (under its ``min``) scales its
   positive (negative) rules down just enough to fit, then the group's weight applies;
3. the total is clamped the same way, if the model has a clamp;
4. every rule's points are rounded to hundredths so that they add up exactly to the
   score (the total rounded half away from zero, the cents apportioned by largest
   remainder);
5. the score falls in the highest tier whose ``min`` it reaches; it is an MQL at or
   above ``mql_threshold``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import NamedTuple, TypeAlias

from leadsync.scoring import model as m
from leadsync.scoring.conditions import Predicate, compile_test, is_missing
from leadsync.scoring.lead import Event, Lead, Scalar

DAY = 86_400.0

EventIndex: TypeAlias = Mapping[str, Sequence[tuple[float, Event]]]
"""A lead's events at or before ``as_of``, by type, newest first, with their timestamps."""


class Reason(NamedTuple):
    """One rule's contribution to a score."""

    rule: str
    label: str | None
    group: str
    count: int
    points: Decimal
    """After group caps, weights and clamp, rounded: the reasons add up to the score."""
    raw_points: float
    """What the rule gave before group caps, weights and clamp."""
    detail: str | None = None

    @property
    def title(self) -> str:
        return self.label or self.rule


class ScoreResult(NamedTuple):
    lead_id: str
    score: Decimal
    tier: str
    is_mql: bool
    reasons: tuple[Reason, ...]
    model: str

    def explanation(self, separator: str = " · ") -> str:
        """Reasons by weight: ``+50 demo request · +20 pricing page ×2 · -10 generic email``."""
        ordered = sorted(self.reasons, key=lambda r: -r.points)
        return separator.join(_reason_text(r) for r in ordered)


def score(lead: Lead, model: m.ScoringModel, as_of: datetime) -> ScoreResult:
    """Score one lead against a model as of a moment (timezone-aware)."""
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError("as_of must be timezone-aware")
    return compiled(model).score(lead, as_of.timestamp())


def index_events(events: Iterable[Event], now: float) -> dict[str, list[tuple[float, Event]]]:
    """Group events by type, newest first, leaving out those after ``now``."""
    by_type: dict[str, list[tuple[float, Event]]] = {}
    for event in events:
        ts = event.ts
        if ts <= now:
            by_type.setdefault(event.type, []).append((ts, event))
    for items in by_type.values():
        if len(items) > 1:
            items.sort(key=_TIMESTAMP, reverse=True)
    return by_type


_TIMESTAMP = itemgetter(0)


# --- compiled rules -------------------------------------------------------------------

Outcome: TypeAlias = tuple[float, int, str | None] | None  # raw points, count, detail


AttrsMatch: TypeAlias = Callable[[Mapping[str, Scalar]], bool]


def _attrs_match(alternatives: list[list[tuple[str, Predicate]]]) -> AttrsMatch:
    """One function for "all tests of some alternative hold", specialised for speed."""
    if len(alternatives) == 1 and len(alternatives[0]) == 1:
        ((name, test),) = alternatives[0]
        return lambda attrs: test(attrs.get(name))
    return lambda attrs: any(
        all(test(attrs.get(name)) for name, test in tests) for tests in alternatives
    )


class _EventFilter:
    """The events an ``on:`` list selects (all events when there is none)."""

    def __init__(self, matches: Sequence[m.EventMatch] | None) -> None:
        self.everything = matches is None
        alternatives: dict[str, list[list[tuple[str, Predicate]]] | None] = {}
        for match in matches or ():
            tests = [
                (name, compile_test(test, url_path=(name == "url")))
                for name, test in match.attributes.items()
            ]
            for event_type in match.type:
                known = alternatives.get(event_type, [])
                alternatives[event_type] = None if not tests or known is None else [*known, tests]
        # Per event type: None when every event of the type matches, else an attribute test.
        self.by_type: list[tuple[str, AttrsMatch | None]] = [
            (event_type, None if alts is None else _attrs_match(alts))
            for event_type, alts in alternatives.items()
        ]

    def count(self, events: EventIndex, since: float | None) -> int:
        """How many events match, at or after ``since``."""
        total = 0
        for match, items in self._selected(events):
            for ts, event in items:
                if since is not None and ts < since:
                    break
                if match is None or match(event.attrs):
                    total += 1
        return total

    def _selected(
        self, events: EventIndex
    ) -> list[tuple[AttrsMatch | None, Sequence[tuple[float, Event]]]]:
        if self.everything:
            return [(None, items) for items in events.values()]
        return [(match, events[t]) for t, match in self.by_type if t in events]

    def newest(self, events: EventIndex, since: float | None, limit: int | None) -> list[float]:
        """Timestamps of matching events at or after ``since``, newest first, ``limit`` at most."""
        selected = self._selected(events)
        found: list[float] = []
        for match, items in selected:
            taken = 0
            for ts, event in items:
                if since is not None and ts < since:
                    break
                if match is None or match(event.attrs):
                    found.append(ts)
                    taken += 1
                    if taken == limit:
                        break
        if len(selected) > 1:
            found.sort(reverse=True)
            if limit is not None:
                del found[limit:]
        return found


def _property_test(test: m.PropertyTest) -> Callable[[Mapping[str, Scalar]], bool]:
    checks: list[Callable[[Mapping[str, Scalar]], bool]] = []
    for name, value_test in test.properties.items():
        predicate = compile_test(value_test)
        checks.append(lambda props, n=name, p=predicate: p(props.get(n)))
    if test.all:
        nested = [_property_test(t) for t in test.all]
        checks.append(lambda props: all(c(props) for c in nested))
    if test.any:
        options = [_property_test(t) for t in test.any]
        checks.append(lambda props: any(c(props) for c in options))
    if test.not_:
        negated = _property_test(test.not_)
        checks.append(lambda props: not negated(props))
    if len(checks) == 1:
        return checks[0]
    return lambda props: all(c(props) for c in checks)


class _Rule:
    def __init__(self, spec: m.AnyRule) -> None:
        self.id = spec.id
        self.label = spec.label
        self.group = m.rule_group(spec)

    def evaluate(self, lead: Lead, events: EventIndex, now: float) -> Outcome:
        raise NotImplementedError


class _FitRule(_Rule):
    def __init__(self, spec: m.FitRule) -> None:
        super().__init__(spec)
        self.test = _property_test(spec.when)
        self.points = spec.points

    def evaluate(self, lead: Lead, events: EventIndex, now: float) -> Outcome:
        return (self.points, 1, None) if self.test(lead.properties) else None


class _EventRule(_Rule):
    def __init__(self, spec: m.EventRule) -> None:
        super().__init__(spec)
        self.filter = _EventFilter(spec.on)
        self.points = spec.points
        self.max_count = spec.max_count
        self.max_points = spec.max_points
        self.window = spec.within_days * DAY if spec.within_days else None
        self.half_life = spec.half_life_days * DAY if spec.half_life_days else None

    def evaluate(self, lead: Lead, events: EventIndex, now: float) -> Outcome:
        since = now - self.window if self.window is not None else None
        stamps = self.filter.newest(events, since, self.max_count)
        if not stamps:
            return None
        if self.half_life is None:
            total = self.points * len(stamps)
        else:
            total = math.fsum(self.points * 0.5 ** ((now - ts) / self.half_life) for ts in stamps)
        if self.max_points is not None:
            total = max(-self.max_points, min(self.max_points, total))
        return total, len(stamps), None


class _BucketRule(_Rule):
    def __init__(self, spec: m.BucketRule) -> None:
        super().__init__(spec)
        self.default = spec.default
        self.sources = [
            (
                source.property,
                _EventFilter(source.count.on) if source.count else None,
                source.count.within_days * DAY
                if source.count and source.count.within_days
                else None,
                [(compile_test(case.when), case.points, case.label) for case in source.cases],
            )
            for source in spec.buckets
        ]

    def evaluate(self, lead: Lead, events: EventIndex, now: float) -> Outcome:
        for name, event_filter, window, cases in self.sources:
            value: Scalar
            if name is not None:
                value = lead.properties.get(name)
                if is_missing(value):
                    continue
                count = 1
            else:
                assert event_filter is not None
                since = now - window if window is not None else None
                value = count = event_filter.count(events, since)
            for test, points, label in cases:
                if test(value):
                    return points, count, label or str(value)
            return self.default, count, "default"
        return self.default, 0, "default"


class _InactivityRule(_Rule):
    def __init__(self, spec: m.InactivityRule) -> None:
        super().__init__(spec)
        self.filter = _EventFilter(spec.on)
        self.limit = spec.inactive_days * DAY
        self.points = spec.points

    def evaluate(self, lead: Lead, events: EventIndex, now: float) -> Outcome:
        stamps = self.filter.newest(events, None, 1)
        if not stamps or now - stamps[0] <= self.limit:
            return None
        return self.points, 1, f"inactive {int((now - stamps[0]) // DAY)} days"


def _compile_rule(spec: m.AnyRule) -> _Rule:
    if isinstance(spec, m.FitRule):
        return _FitRule(spec)
    if isinstance(spec, m.EventRule):
        return _EventRule(spec)
    if isinstance(spec, m.BucketRule):
        return _BucketRule(spec)
    return _InactivityRule(spec)


# --- the compiled model -----------------------------------------------------------------


class CompiledModel:
    """A model turned into closures once, so scoring a lead interprets nothing."""

    def __init__(self, spec: m.ScoringModel) -> None:
        self.ref = spec.ref
        self.rules = [_compile_rule(rule) for rule in spec.rules]
        groups = spec.groups
        self.weights = {
            r.group: groups[r.group].weight if r.group in groups else 1.0 for r in self.rules
        }
        self.caps = {
            name: (g.min, g.max)
            for name, g in groups.items()
            if g.min is not None or g.max is not None
        }
        self.clamp = (spec.clamp.min, spec.clamp.max) if spec.clamp else None
        self.tiers = [
            (_cents(t.min), t.name) for t in reversed(spec.tiers[1:]) if t.min is not None
        ]
        self.lowest_tier = spec.tiers[0].name
        self.mql_cents = _cents(spec.mql_threshold)

    def score(self, lead: Lead, now: float) -> ScoreResult:
        events = index_events(lead.events, now)
        hits: list[tuple[_Rule, float, int, str | None]] = []
        for rule in self.rules:
            outcome = rule.evaluate(lead, events, now)
            if outcome is not None and outcome[0] != 0:
                hits.append((rule, *outcome))
        values = [raw for _, raw, _, _ in hits]
        for group, (low, high) in self.caps.items():
            members = [i for i, hit in enumerate(hits) if hit[0].group == group]
            fitted = _fit([values[i] for i in members], low, high)
            for i, value in zip(members, fitted, strict=True):
                values[i] = value
        weights = self.weights
        values = [value * weights[hit[0].group] for value, hit in zip(values, hits, strict=True)]
        if self.clamp is not None:
            values = _fit(values, *self.clamp)
        cents = apportion_cents(values)
        total = sum(cents)
        reasons = tuple(
            [
                Reason(rule.id, rule.label, rule.group, count, _points(c), raw, detail)
                for (rule, raw, count, detail), c in zip(hits, cents, strict=True)
            ]
        )
        tier = self.lowest_tier
        for low_cents, name in self.tiers:
            if total >= low_cents:
                tier = name
                break
        return ScoreResult(
            lead.id, _points(total), tier, total >= self.mql_cents, reasons, self.ref
        )


_last_compiled: tuple[m.ScoringModel | None, CompiledModel | None] = (None, None)


def compiled(spec: m.ScoringModel) -> CompiledModel:
    """The compiled form of ``spec``, built on first use and kept on it."""
    global _last_compiled
    last_spec, last = _last_compiled
    if last_spec is spec and last is not None:
        return last  # the common case, one model for many leads, without pydantic's getattr
    found = spec._compiled
    if found is None:
        found = spec._compiled = CompiledModel(spec)
    _last_compiled = (spec, found)
    return found


def _fit(values: list[float], low: float | None, high: float | None) -> list[float]:
    """Scale positive (or negative) values down so their sum fits in [low, high].

    ``low`` ≤ 0 ≤ ``high`` (the model guarantees it), so scaling one sign always suffices.
    """
    total = math.fsum(values)
    if high is not None and total > high:
        positive = math.fsum(v for v in values if v > 0)
        factor = (high - (total - positive)) / positive
        return [v * factor if v > 0 else v for v in values]
    if low is not None and total < low:
        negative = math.fsum(v for v in values if v < 0)
        factor = (low - (total - negative)) / negative
        return [v * factor if v < 0 else v for v in values]
    return values


def apportion_cents(values: Sequence[float]) -> list[int]:
    """Round values to whole cents so they add up to their rounded total.

    The total (to 1e-6 of a cent, to shed float noise) is rounded half away from zero;
    each value is floored and the missing cents go to the largest remainders, ties to
    the earlier value.
    """
    whole = [int(v * 100) for v in values]
    if all(w == v * 100 for w, v in zip(whole, values, strict=True)):
        return whole
    exact = [round(v * 100, 6) for v in values]
    target = _round_half_away(math.fsum(exact))
    floors = [math.floor(x) for x in exact]
    missing = target - sum(floors)
    if missing:
        order = sorted(range(len(exact)), key=lambda i: (floors[i] - exact[i], i))
        for i in order[:missing]:
            floors[i] += 1
    return floors


def _round_half_away(x: float) -> int:
    x = round(x, 6)
    return math.floor(abs(x) + 0.5) * (1 if x >= 0 else -1)


def _cents(points: float) -> int:
    return _round_half_away(points * 100)


def format_points(points: Decimal | float, signed: bool = True) -> str:
    """``55``, ``14.9`` or ``-2.25``: whole numbers without decimals, else up to two."""
    value = Decimal(str(points)).quantize(Decimal("0.01"))
    text = f"{value:f}".rstrip("0").rstrip(".") if "." in f"{value:f}" else f"{value:f}"
    if text in ("-0", ""):
        text = "0"
    return f"+{text}" if signed and value > 0 else text


def _reason_text(reason: Reason) -> str:
    if reason.detail:
        suffix = f" ({reason.detail})"
    else:
        suffix = f" ×{reason.count}" if reason.count > 1 else ""
    return f"{format_points(reason.points)} {reason.title}{suffix}"


_DECIMALS: dict[int, Decimal] = {}


def _points(cents: int) -> Decimal:
    found = _DECIMALS.get(cents)
    if found is None:
        found = Decimal(cents) / 100
        if len(_DECIMALS) < 8192:
            _DECIMALS[cents] = found
    return found
