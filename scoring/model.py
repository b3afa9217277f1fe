"""The scoring model language: what a model file may say, validated with pydantic.

A model is a list of rules, each of one of four kinds, recognised by its key:

- ``when``           a *fit* rule: points once if the lead's properties match;
- ``on``             an *engagement* rule: points per matching event, with caps,
                     a recency window and optional time decay;
- ``buckets``        a *bucket* rule: ordered cases over a property or an event count,
                     the first match gives its points, else ``default``;
- ``inactive_days``  an *inactivity* rule: points (usually negative) when the newest
                     event is older than that many days.

Rules add up within groups (``fit``, ``engagement`` or any named group), which may be
capped and weighted; the total may be clamped, then falls in a tier. The reference
is ``docs/model-language.md``; :mod:`leadsync.scoring.loader` reads files into this.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)

from leadsync.scoring.conditions import ValueTest
from leadsync.scoring.lead import EVENT_TYPES

RULE_KEYS = ("when", "on", "buckets", "inactive_days")
DEFAULT_GROUPS = ("fit", "engagement")

RuleId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
Days = Annotated[float, Field(gt=0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, dict | str) else value


class PropertyTest(_Strict):
    """Conditions on a lead's properties: all listed properties must match.

    ``any``, ``all`` and ``not`` combine nested property tests.
    """

    properties: dict[str, ValueTest] = Field(default_factory=dict)
    any: list[PropertyTest] | None = None
    all: list[PropertyTest] | None = None
    not_: PropertyTest | None = Field(default=None, alias="not")

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        combinators = {k: v for k, v in data.items() if k in ("any", "all", "not")}
        properties = {k: v for k, v in data.items() if k not in ("any", "all", "not")}
        return {**combinators, "properties": properties}

    @model_validator(mode="after")
    def _not_empty(self) -> PropertyTest:
        if not (self.properties or self.any or self.all or self.not_):
            raise ValueError("a condition needs at least one property (or any/all/not)")
        return self

    def names(self) -> set[str]:
        """Every property name this test reads."""
        found = set(self.properties)
        for nested in [*(self.any or []), *(self.all or []), *([self.not_] if self.not_ else [])]:
            found |= nested.names()
        return found


class EventMatch(_Strict):
    """Which events count: their type(s), and conditions on their attributes."""

    type: list[str]
    attributes: dict[str, ValueTest] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"type": [data]}
        if not isinstance(data, dict):
            return data
        rest = {k: v for k, v in data.items() if k != "type"}
        return {"type": data.get("type"), "attributes": rest}

    @field_validator("type", mode="before")
    @classmethod
    def _types(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("every event condition needs a 'type'")
        return _one_or_many(value)

    @field_validator("type")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in EVENT_TYPES:
                raise ValueError(
                    f"unknown event type {name!r} (known: {', '.join(sorted(EVENT_TYPES))})"
                )
        return value


EventMatches = Annotated[list[EventMatch], BeforeValidator(_one_or_many), Field(min_length=1)]


class _RuleBase(_Strict):
    id: RuleId
    label: str | None = None
    group: str | None = None


class FitRule(_RuleBase):
    """Points once when the lead's properties match."""

    kind: Literal["fit"] = "fit"
    when: PropertyTest
    points: float


class EventRule(_RuleBase):
    """Points for each matching event, capped, windowed and optionally decayed."""

    kind: Literal["engagement"] = "engagement"
    on: EventMatches
    points: float
    max_count: Annotated[int, Field(ge=1)] | None = None
    max_points: Annotated[float, Field(gt=0)] | None = None
    within_days: Days | None = None
    half_life_days: Days | None = None


class EventCount(_Strict):
    """A number to bucket: how many matching events, optionally in the last N days."""

    on: EventMatches
    within_days: Days | None = None


class BucketCase(_Strict):
    when: ValueTest
    points: float
    label: str | None = None


class BucketSource(_Strict):
    """One value to bucket (a property or an event count) and its ordered cases."""

    property: str | None = None
    count: EventCount | None = None
    cases: Annotated[list[BucketCase], Field(min_length=1)]

    @model_validator(mode="after")
    def _one_value(self) -> BucketSource:
        if (self.property is None) == (self.count is None):
            raise ValueError("a bucket source has exactly one of 'property' or 'count'")
        return self


class BucketRule(_RuleBase):
    """The first source with a value decides: its first matching case, else ``default``."""

    kind: Literal["bucket"] = "bucket"
    buckets: Annotated[list[BucketSource], BeforeValidator(_one_or_many), Field(min_length=1)]
    default: float = 0


class InactivityRule(_RuleBase):
    """Points when the newest (matching) event is more than ``inactive_days`` old."""

    kind: Literal["inactivity"] = "inactivity"
    inactive_days: Days
    points: float
    on: EventMatches | None = None


def _rule_kind(data: Any) -> str | None:
    if isinstance(data, BaseModel):
        return getattr(data, "kind", None)
    if not isinstance(data, dict):
        return None
    for key, kind in (
        ("inactive_days", "inactivity"),
        ("buckets", "bucket"),
        ("on", "engagement"),
        ("when", "fit"),
    ):
        if key in data:
            return kind
    return None


Rule = Annotated[
    Annotated[FitRule, Tag("fit")]
    | Annotated[EventRule, Tag("engagement")]
    | Annotated[BucketRule, Tag("bucket")]
    | Annotated[InactivityRule, Tag("inactivity")],
    Discriminator(
        _rule_kind,
        custom_error_type="rule_kind",
        custom_error_message="a rule needs one of 'when', 'on', 'buckets' or 'inactive_days'",
    ),
]


class Group(_Strict):
    """Caps and a weight applied to the sum of a group's rules (cap first, then weight)."""

    min: Annotated[float, Field(le=0)] | None = None
    max: Annotated[float, Field(ge=0)] | None = None
    weight: Annotated[float, Field(ge=0)] = 1.0


class Clamp(_Strict):
    min: Annotated[float, Field(le=0)] | None = None
    max: Annotated[float, Field(ge=0)] | None = None


class Tier(_Strict):
    """A score band from ``min`` (inclusive) up to the next tier's ``min``."""

    name: Annotated[str, Field(min_length=1)]
    min: float | None = None
    label: str | None = None


class ScoringModel(_Strict):
    name: Annotated[str, Field(min_length=1)]
    version: str
    description: str | None = None
    groups: dict[str, Group] = Field(default_factory=dict)
    rules: Annotated[list[Rule], Field(min_length=1)]
    clamp: Clamp | None = None
    tiers: Annotated[list[Tier], Field(min_length=1)]
    mql_threshold: float
    _compiled: Any = PrivateAttr(default=None)  # the engine's compiled form, built on first use

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )

    @property
    def ref(self) -> str:
        """``name@version``, as written to the CRM."""
        return f"{self.name}@{self.version}"


AnyRule = FitRule | EventRule | BucketRule | InactivityRule


def rule_group(rule: AnyRule) -> str:
    """The rule's group: as written, else ``fit`` for property rules, ``engagement`` otherwise."""
    if rule.group is not None:
        return rule.group
    if isinstance(rule, FitRule):
        return "fit"
    if isinstance(rule, BucketRule) and rule.buckets[0].property is not None:
        return "fit"
    return "engagement"


def semantic_problems(model: ScoringModel) -> list[tuple[tuple[str | int, ...], str]]:
    """Faults pydantic cannot see field by field, as ``(location, message)`` pairs."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    groups = {*DEFAULT_GROUPS, *model.groups}
    first_with_id: dict[str, int] = {}
    for i, rule in enumerate(model.rules):
        if rule.id in first_with_id:
            where = f"rules[{first_with_id[rule.id]}]"
            problems.append((("rules", i, "id"), f"duplicate rule id {rule.id!r} ({where} has it)"))
        first_with_id.setdefault(rule.id, i)
        if rule.group is not None and rule.group not in groups:
            problems.append(
                (
                    ("rules", i, "group"),
                    f"unknown group {rule.group!r} "
                    f"(declare it under 'groups'; known: {', '.join(sorted(groups))})",
                )
            )
    tier_names: set[str] = set()
    previous: float | None = None
    for i, tier in enumerate(model.tiers):
        if tier.name in tier_names:
            problems.append((("tiers", i, "name"), f"duplicate tier name {tier.name!r}"))
        tier_names.add(tier.name)
        if i == 0:
            if tier.min is not None:
                problems.append(
                    (
                        ("tiers", 0, "min"),
                        "the lowest tier takes every score below the next one: no min",
                    )
                )
        elif tier.min is None:
            problems.append((("tiers", i, "min"), "required: every tier but the lowest has a min"))
        elif previous is not None and tier.min <= previous:
            problems.append(
                (
                    ("tiers", i, "min"),
                    f"{tier.min:g} overlaps the tier before it, which starts at {previous:g} "
                    "(list tiers from lowest to highest)",
                )
            )
        previous = tier.min if tier.min is not None else previous
    clamp = model.clamp
    if clamp and clamp.min is not None and clamp.max is not None and clamp.min > clamp.max:
        problems.append((("clamp",), "min is above max"))
    return problems
