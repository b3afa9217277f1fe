"""A model in words, for ``leadsync model show``."""

from __future__ import annotations

from rich.console import Group as RenderGroup
from rich.table import Table
from rich.text import Text

from leadsync.scoring import model as m
from leadsync.scoring.engine import format_points


def describe_model(spec: m.ScoringModel) -> RenderGroup:
    """Rules by group (with caps and weights), tiers and the MQL threshold."""
    parts: list[Text | Table] = [Text(spec.ref, style="bold")]
    if spec.description:
        parts.append(Text(spec.description, style="dim"))
    order: dict[str, list[m.AnyRule]] = {}
    for rule in spec.rules:
        order.setdefault(m.rule_group(rule), []).append(rule)
    for group, rules in order.items():
        table = Table(title=_group_title(group, spec.groups.get(group)), title_justify="left")
        table.add_column("points", justify="right")
        table.add_column("rule")
        table.add_column("when")
        for rule in rules:
            table.add_row(_points(rule), rule.label or rule.id, _condition(rule))
        parts.append(table)
    if spec.clamp:
        parts.append(Text(f"Total clamped to {_bounds(spec.clamp.min, spec.clamp.max)}."))
    bands = []
    for i, tier in enumerate(spec.tiers):
        upper = spec.tiers[i + 1].min if i + 1 < len(spec.tiers) else None
        low = "" if tier.min is None else f"{tier.min:g} ≤ "
        high = "" if upper is None else f" < {upper:g}"
        bands.append(f"{low}{tier.name}{high}")
    parts.append(Text("Tiers: " + " · ".join(bands)))
    parts.append(Text(f"MQL at {spec.mql_threshold:g} and above.", style="bold"))
    return RenderGroup(*parts)


def _group_title(name: str, group: m.Group | None) -> str:
    notes = []
    if group is not None:
        if group.weight != 1:
            notes.append(f"weight {group.weight * 100:g} %")
        if group.min is not None or group.max is not None:
            notes.append(f"capped to {_bounds(group.min, group.max)}")
    return name + (f" ({', '.join(notes)})" if notes else "")


def _bounds(low: float | None, high: float | None) -> str:
    return f"[{'-∞' if low is None else f'{low:g}'}, {'+∞' if high is None else f'{high:g}'}]"


def _points(rule: m.AnyRule) -> str:
    if isinstance(rule, m.BucketRule):
        return "buckets"
    return format_points(rule.points)


def _events(matches: list[m.EventMatch] | None) -> str:
    if matches is None:
        return "any event"
    alternatives = []
    for match in matches:
        text = " or ".join(match.type)
        tests = [f"{name} {test.describe()}" for name, test in match.attributes.items()]
        alternatives.append(text + (f" where {' and '.join(tests)}" if tests else ""))
    return "; or ".join(alternatives)


def _properties(test: m.PropertyTest) -> str:
    parts = [f"{name} {value.describe()}" for name, value in test.properties.items()]
    if test.all:
        parts.append("all of (" + "; ".join(_properties(t) for t in test.all) + ")")
    if test.any:
        parts.append("any of (" + "; ".join(_properties(t) for t in test.any) + ")")
    if test.not_:
        parts.append(f"not ({_properties(test.not_)})")
    return " and ".join(parts)


def _condition(rule: m.AnyRule) -> str:
    if isinstance(rule, m.FitRule):
        return _properties(rule.when)
    if isinstance(rule, m.InactivityRule):
        return f"newest {_events(rule.on)} older than {rule.inactive_days:g} days"
    if isinstance(rule, m.EventRule):
        limits = []
        if rule.within_days:
            limits.append(f"in the last {rule.within_days:g} days")
        if rule.max_count:
            limits.append(f"at most {rule.max_count}×")
        if rule.max_points:
            limits.append(f"at most {rule.max_points:g} points")
        if rule.half_life_days:
            limits.append(f"half-life {rule.half_life_days:g} days")
        return f"each {_events(rule.on)}" + (f" ({', '.join(limits)})" if limits else "")
    lines = []
    for source in rule.buckets:
        if source.property is not None:
            subject = source.property
        else:
            assert source.count is not None
            window = (
                f" in the last {source.count.within_days:g} days"
                if source.count.within_days
                else ""
            )
            subject = f"count of {_events(source.count.on)}{window}"
        cases = ", ".join(f"{c.when.describe()} → {format_points(c.points)}" for c in source.cases)
        lines.append(f"{subject}: {cases}")
    lines.append(f"otherwise → {format_points(rule.default)}")
    return "\n".join(lines)
