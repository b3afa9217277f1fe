"""A lead history read once into the columns a fit needs: ``leadsync model fit``'s input.

One pass over the file (:func:`~leadsync.sync.leadfile.read_leads`, so JSON Lines and
CSV read as everywhere else) keeps, for each lead with a known outcome and never the
lead itself: its properties (one column per property), how many events of each *event
family* it had in each age band, and — given a start model — what each of that model's
rules gave it (through the real engine). A family is an event type, or a type with
one value of one of its documented attributes (``page_view`` with ``url`` /pricing).
Event counts are kept per age band (:data:`AGE_BANDS`), so that a count over any of
the fit's recency windows is a sum of bands, as the engine counts ``within_days``.

Every lead falls in the training or the held-out part by a hash of its id
(:func:`held_out`): the same split on every run, and in the report's backtest.
"""

from __future__ import annotations

import zlib
from array import array
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

from leadsync.errors import LeadError
from leadsync.scoring import model as m
from leadsync.scoring.conditions import is_missing
from leadsync.scoring.engine import DAY, compiled
from leadsync.scoring.lead import EVENT_TYPES, Lead, Scalar
from leadsync.sync.leadfile import Columns, read_leads

#: Ages (days) that bound the bands event counts are kept in; the fit's recency windows.
AGE_BANDS: tuple[int, ...] = (30, 90, 180)
#: One lead in this many is held out of the fit, to measure it; as many again (the
#: training part's *check* rows) measure each rule the fit considers while it chooses.
HOLDOUT_ONE_IN = 5

Family = tuple[str, str | None, str | None]
"""An event type, optionally with one attribute and one of its values (normalised)."""


def part(lead_id: str) -> int:
    """0 for a held-out lead, 1 for a check lead, else 2: a stable hash of its id."""
    return min(2, zlib.crc32(lead_id.encode("utf-8")) % HOLDOUT_ONE_IN)


def held_out(lead_id: str) -> bool:
    """Whether a lead belongs to the held-out part (one in five)."""
    return part(lead_id) == 0


def text_key(value: Scalar) -> str | None:
    """A value as conditions compare text: stripped and case-folded (None when missing)."""
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().casefold()


def attribute_key(name: str, value: Scalar) -> str | None:
    """An event attribute as an ``equals`` condition sees it (a URL by its path)."""
    if name == "url" and isinstance(value, str):
        value = urlsplit(value.strip()).path or "/"
    return text_key(value)


@dataclass
class History:
    """The leads of a file with an outcome, as columns (row ``i`` is the ``i``-th of them)."""

    source: str
    now: float
    converted: array = field(default_factory=lambda: array("b"))
    parts: array = field(default_factory=lambda: array("b"))
    """Per row, :func:`part`: held out (0), check (1) or fit (2)."""
    properties: dict[str, list[Scalar]] = field(default_factory=dict)
    families: dict[Family, int] = field(default_factory=dict)
    family_leads: Counter[int] = field(default_factory=Counter)
    """How many leads have at least one event of each family (by index)."""
    event_rows: array = field(default_factory=lambda: array("i"))
    event_cells: array = field(default_factory=lambda: array("i"))
    """``family index × (bands + 1) + age band``: the cell one of a lead's counts is in."""
    event_counts: array = field(default_factory=lambda: array("i"))
    start_values: list[array] = field(default_factory=list)
    """Per start-model rule, per row, what :func:`start_probe` gave (see there)."""
    read: int = 0
    without_outcome: int = 0
    _attribute_keys: dict[tuple[str, Scalar], str] = field(default_factory=dict, repr=False)

    @property
    def rows(self) -> int:
        return len(self.converted)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The outcome (converted or not) and the part of every row, as arrays."""
        return (
            np.frombuffer(self.converted, dtype=np.int8).astype(bool),
            np.frombuffer(self.parts, dtype=np.int8).copy(),
        )

    def add(self, lead: Lead, probe: m.ScoringModel | None) -> None:
        """Keep one lead (counted and left out when its outcome is unknown)."""
        self.read += 1
        outcome = lead.outcome.converted if lead.outcome else None
        if outcome is None:
            self.without_outcome += 1
            return
        row = self.rows
        self.converted.append(1 if outcome else 0)
        self.parts.append(part(lead.id))
        for name, value in lead.properties.items():
            column = self.properties.get(name)
            if column is None:
                column = self.properties[name] = []
            column.extend([None] * (row - len(column)))
            column.append(_interned(value))
        self._add_events(lead, row)
        if probe is not None:
            self._add_start(lead, probe)

    def _add_events(self, lead: Lead, row: int) -> None:
        cells: Counter[int] = Counter()
        now = self.now
        limits = [now - days * DAY for days in AGE_BANDS]
        bands = len(AGE_BANDS) + 1
        families = self.families
        for event in lead.events:
            ts = event.ts
            if ts > now:
                continue
            band = 0
            for limit in limits:
                if ts >= limit:
                    break
                band += 1
            for key in self._keys(event.type, event.attrs):
                index = families.get(key)
                if index is None:
                    index = families[key] = len(families)
                cells[index * bands + band] += 1
        seen: set[int] = set()
        for cell, count in cells.items():
            self.event_rows.append(row)
            self.event_cells.append(cell)
            self.event_counts.append(count)
            seen.add(cell // bands)
        self.family_leads.update(seen)

    def _keys(self, kind: str, attrs: Mapping[str, Scalar]) -> list[Family]:
        """The families an event counts in: its type, and its type with each attribute."""
        keys: list[Family] = [(kind, None, None)]
        for name in EVENT_TYPES.get(kind, ()):
            value = attrs.get(name)
            if value is None:
                continue
            memo = (name, value)
            key = self._attribute_keys.get(memo)
            if key is None:
                key = attribute_key(name, value) or ""
                if len(self._attribute_keys) < 100_000:
                    self._attribute_keys[memo] = key
            if key:
                keys.append((kind, name, key))
        return keys

    def _add_start(self, lead: Lead, probe: m.ScoringModel) -> None:
        if not self.start_values:
            self.start_values = [array("d") for _ in probe.rules]
        raw = {r.rule: r.raw_points for r in compiled(probe).score(lead, self.now).reasons}
        for rule, column in zip(probe.rules, self.start_values, strict=True):
            column.append(raw.get(rule.id, 0.0))

    def finish(self) -> None:
        """Pad every property column to the number of rows."""
        for column in self.properties.values():
            column.extend([None] * (self.rows - len(column)))


_INTERNED: dict[str, str] = {}


def _interned(value: Scalar) -> Scalar:
    """Short strings shared between leads (titles, industries) held once."""
    if isinstance(value, str) and len(value) <= 40:
        found = _INTERNED.get(value)
        if found is None:
            if len(_INTERNED) >= 200_000:
                return value
            found = _INTERNED[value] = value
        return found
    return value


def start_probe(start: m.ScoringModel) -> m.ScoringModel:
    """The start model's rules turned into probes whose raw points the fit reads.

    A fit, engagement or inactivity rule gives its points times a count (or a decayed
    sum): the probe keeps it with 1 point, so its raw points are that count. A bucket
    rule's cases become 1, 2, … (the default 0), so its raw points say which case
    matched. Groups, caps, weights and the clamp go: raw points are taken before them.
    """
    rules: list[m.AnyRule] = []
    for rule in start.rules:
        if isinstance(rule, m.BucketRule):
            code = iter(range(1, 10_000))
            sources = [
                source.model_copy(
                    update={
                        "cases": [c.model_copy(update={"points": next(code)}) for c in source.cases]
                    }
                )
                for source in rule.buckets
            ]
            rules.append(rule.model_copy(update={"buckets": sources, "default": 0, "group": None}))
        elif isinstance(rule, m.EventRule):
            update: dict[str, object] = {"points": 1.0, "group": None}
            if rule.max_points is not None and rule.points:
                update["max_points"] = rule.max_points / abs(rule.points)
            rules.append(rule.model_copy(update=update))
        else:
            rules.append(rule.model_copy(update={"points": 1.0, "group": None}))
    return m.ScoringModel(
        name=start.name, version=start.version, rules=rules, tiers=start.tiers,
        mql_threshold=start.mql_threshold,
    )  # fmt: skip


def read_history(
    source: str,
    now: float,
    columns: Columns,
    start: m.ScoringModel | None,
    on_invalid: Callable[[LeadError], None] | None,
) -> History:
    """Read ``source`` once into a :class:`History` (leads without an outcome counted)."""
    history = History(source, now)
    probe = start_probe(start) if start is not None else None
    for lead in read_leads(source, on_invalid, columns):
        history.add(lead, probe)
    history.finish()
    return history
