"""Finding ``leadsync model fit``'s candidate rules in a lead history.

From a :class:`~leadsync.sync.fithistory.History`, on its fit rows only (the check
rows judge what is found here, the held-out rows measure the result):

- a **category** property (industry, title, a yes/no flag, an email's domain): its
  frequent values, ordered by how their leads converted and grouped by a shallow
  decision tree; a property none of whose values repeat (names, companies) is none;
- a **numeric** property (company size, age): bands cut where conversion changes (a
  shallow decision tree on the number);
- an **event family** (an event type, or a type with one value of one of its
  documented attributes) counted over all time and within each of
  :data:`~leadsync.sync.fithistory.AGE_BANDS` days, in bands cut at 1 and at the
  median and 85th percentile of the leads that have one;
- each rule of a **start** model, from what the engine gave it.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.tree import DecisionTreeClassifier

from leadsync.scoring import model as m
from leadsync.scoring.conditions import email_domain, is_missing, to_bool, to_number
from leadsync.sync.fitcandidates import (
    Candidate,
    CategoryCandidate,
    EventCandidate,
    NumericCandidate,
    StartCandidate,
    slug,
)
from leadsync.sync.fithistory import AGE_BANDS, Family, History, text_key

WINDOWS: tuple[int | None, ...] = (None, *AGE_BANDS)
_MAX_VALUES = 15  # event attribute values tried per attribute


def find_candidates(
    history: History, start: m.ScoringModel | None, exclude: frozenset[str]
) -> list[Candidate]:
    """Every candidate rule the data supports (start rules first), ids unique."""
    y, parts = history.arrays()
    train = parts == 2  # bands and groups from the fit rows alone: the check rows judge them
    found: list[Candidate] = []
    if start is not None:
        found += _start_candidates(history, start)
    for name, values in sorted(history.properties.items()):
        if name in exclude:
            continue
        candidate = _property_candidate(name, values, y, train)
        if candidate is not None:
            found.append(candidate)
    found += _event_candidates(history, train, exclude)
    seen: Counter[str] = Counter()
    for candidate in found:
        seen[candidate.id] += 1
        if seen[candidate.id] > 1:
            candidate.id = f"{candidate.id}-{seen[candidate.id]}"
    return found


def _start_candidates(history: History, start: m.ScoringModel) -> list[Candidate]:
    out: list[Candidate] = []
    for spec, values in zip(start.rules, history.start_values, strict=True):
        raw = np.frombuffer(values, dtype=np.float64)
        if isinstance(spec, m.BucketRule):
            cases = sum(len(source.cases) for source in spec.buckets)
            codes = np.rint(raw).astype(np.int64)
            columns = sparse.csc_matrix(
                np.stack([(codes == k + 1) for k in range(cases)], axis=1).astype(np.float64)
            )
        else:
            columns = sparse.csc_matrix(raw.reshape(-1, 1))
        out.append(StartCandidate(spec.id, spec.label or spec.id, columns, spec.id, spec=spec))
    return out


def _property_candidate(
    name: str, values: list[Any], y: np.ndarray, train: np.ndarray
) -> Candidate | None:
    counts = Counter(values)  # a few distinct values per property, bar names and emails
    present = {v: n for v, n in counts.items() if not is_missing(v)}
    if sum(present.values()) < max(30, 0.01 * len(values)):
        return None
    label = name.replace("_", " ")

    def column(convert: Any) -> list[Any]:
        found = {v: convert(v) for v in present}
        return [found.get(v) for v in values]

    total = sum(present.values())
    if all(isinstance(v, bool) for v in present):
        return _category(name, label, column(to_bool), y, train, "bool")
    if sum(n for v, n in present.items() if isinstance(v, str) and "@" in v) >= 0.8 * total:
        return _category(name, f"{label} domain", column(email_domain), y, train, "domain")
    numbers = {v: to_number(v) for v in present}
    numeric = sum(n for v, n in present.items() if numbers[v] is not None)
    if numeric >= 0.95 * total and len({x for x in numbers.values() if x is not None}) > 10:
        return _numeric(name, label, [numbers.get(v) for v in values], y, train)
    return _category(name, label, column(text_key), y, train, "text")


def _category(
    name: str, label: str, keys: list[Any], y: np.ndarray, train: np.ndarray, mode: str
) -> Candidate | None:
    train_keys = [k for k, t in zip(keys, train, strict=True) if t and k is not None]
    counts = Counter(train_keys)
    least = max(20, int(0.002 * int(train.sum())))
    frequent = [k for k, n in counts.items() if n >= least]
    covered = sum(counts[k] for k in frequent)
    if not frequent or (mode != "domain" and covered < 0.5 * len(train_keys)):
        return None  # an identifier (names, companies): no value repeats enough
    converted = Counter(k for k, t, c in zip(keys, train, y, strict=True) if t and c)
    base = y[train].mean()
    odds = {
        k: math.log((converted[k] + 20 * base) / (counts[k] - converted[k] + 20 * (1 - base)))
        for k in frequent
    }
    ordered = sorted(frequent, key=lambda k: (odds[k], str(k)))
    rank = {k: i for i, k in enumerate(ordered)}
    ranks = np.array([rank.get(k, -1) for k in keys])
    known = train & (ranks >= 0)
    cuts = _tree_cuts(ranks[known].astype(float), y[known], leaves=4)
    group_of = np.searchsorted(np.array(cuts), ranks, side="left")
    group_of[ranks < 0] = -1
    groups = [
        tuple(k for k in ordered if np.searchsorted(np.array(cuts), rank[k]) == g)
        for g in range(len(cuts) + 1)
    ]
    columns = [group_of == g for g in range(len(groups))]  # other values and none: 0 points
    matrix = sparse.csc_matrix(np.stack(columns, axis=1).astype(np.float64))
    return CategoryCandidate(slug(label), label, matrix, name, prop=name, mode=mode,
                             groups=tuple(groups))  # fmt: skip


def _numeric(
    name: str, label: str, numbers: list[float | None], y: np.ndarray, train: np.ndarray
) -> Candidate | None:
    x = np.array([np.nan if n is None else n for n in numbers])
    known = train & ~np.isnan(x)
    cuts = _tree_cuts(x[known], y[known], leaves=5)
    whole = bool(np.all(np.mod(x[known], 1) == 0))
    if whole:
        cuts = sorted({math.floor(c) for c in cuts})
    bands: list[tuple[float | None, float | None]] = []
    low: float | None = None
    for cut in cuts:
        bands.append((low, cut))
        low = cut + 1 if whole else cut
    bands.append((low, None))
    band_of = np.full(len(x), -1)
    for i, (lo, hi) in reversed(list(enumerate(bands))):
        inside = ~np.isnan(x)
        if hi is not None:
            inside &= x <= hi
        if lo is not None and whole:
            inside &= x >= lo
        band_of[inside] = i  # first match wins, as bucket cases are read
    if not whole:
        bands = [(None, hi) if hi is not None else (lo, None) for lo, hi in bands]
    columns = [band_of == b for b in range(len(bands))]  # a missing number: 0 points
    matrix = sparse.csc_matrix(np.stack(columns, axis=1).astype(np.float64))
    return NumericCandidate(slug(label), label, matrix, name, prop=name, bands=tuple(bands),
                            whole=whole)  # fmt: skip


def _tree_cuts(x: np.ndarray, y: np.ndarray, leaves: int) -> list[float]:
    """Where conversion changes along ``x``: a shallow tree's thresholds, sorted."""
    if len(x) < 50 or len(np.unique(x)) < 2:
        return []
    tree = DecisionTreeClassifier(
        max_leaf_nodes=leaves, min_samples_leaf=max(20, int(0.03 * len(x))), random_state=0
    )
    tree.fit(x.reshape(-1, 1), y)
    inner = tree.tree_.children_left != -1
    return sorted(float(t) for t in tree.tree_.threshold[inner])


def _event_candidates(
    history: History, train: np.ndarray, exclude: frozenset[str]
) -> list[Candidate]:
    rows = history.rows
    bands = len(AGE_BANDS) + 1
    width = max(1, len(history.families) * bands)
    cells = sparse.csc_matrix(
        (
            np.frombuffer(history.event_counts, dtype=np.int32).astype(np.float64),
            (np.frombuffer(history.event_rows, dtype=np.int32),
             np.frombuffer(history.event_cells, dtype=np.int32)),
        ),
        shape=(rows, width),
    )  # fmt: skip
    least = max(20, int(0.005 * rows))
    per_attribute: Counter[tuple[str, str]] = Counter()
    found: list[Candidate] = []
    for family, index in sorted(
        history.families.items(), key=lambda item: -history.family_leads[item[1]]
    ):
        kind, attr, _ = family
        if kind in exclude or history.family_leads[index] < least:
            continue
        if attr is not None:
            per_attribute[(kind, attr)] += 1
            if per_attribute[(kind, attr)] > _MAX_VALUES:
                continue
        block = cells[:, index * bands : (index + 1) * bands].toarray()
        for window in WINDOWS:
            upto = bands if window is None else AGE_BANDS.index(window) + 1
            counts = block[:, :upto].sum(axis=1)
            nonzero = counts[train & (counts > 0)]
            if len(nonzero) < least:
                continue
            edges = sorted({1, *(int(np.quantile(nonzero, q)) for q in (0.5, 0.85))})
            matrix = sparse.csc_matrix(
                np.stack([counts >= e for e in edges], axis=1).astype(np.float64)
            )
            label = _family_label(family, window)
            found.append(EventCandidate(slug(label), label, matrix, kind, family=family,
                                        window=window, edges=tuple(edges)))  # fmt: skip
    return found


def _family_label(family: Family, window: int | None) -> str:
    kind, attr, value = family
    text = kind.replace("_", " ")
    if attr is not None:
        text += f" {value}" if attr == "url" else f": {value}"
    return text + (f", last {window} days" if window else "")
