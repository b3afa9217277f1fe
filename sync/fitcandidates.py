"""Candidate rules for ``leadsync model fit``, found in the data, each with its columns.

A candidate is one rule the fitted model may hold, and the 0/1 (or count) columns a
regression fits its points on; :meth:`Candidate.rule` writes it in the model language
once the points are known. From a :class:`~leadsync.sync.fithistory.History`:

- a **category** property (industry, title, a yes/no flag, an email's domain): its
  frequent values grouped by how their leads converted — a bucket rule whose cases
  are the groups (the largest group 0 points), ``default`` for other values and none;
- a **numeric** property (company size, age): bands cut where conversion changes (a
  shallow decision tree), a bucket rule of ``between`` cases;
- an **event family** (demo requests, page views of /pricing…) counted over all time
  or within 30, 90 or 180 days: one rule ``max_count: 1`` when having one is what
  matters, else a bucket rule over the count (``at least 5``, ``at least 2``,
  ``at least 1``), its cases cumulative (thermometer columns);
- each rule of a **start** model: its own points re-fitted (a bucket rule's cases each).

Groups and bands are chosen on the training part only. A candidate that ranks the
outcome almost perfectly on its own is refused as a leak (:func:`check_leaks`).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.tree import DecisionTreeClassifier

from leadsync.errors import LeadsyncError
from leadsync.scoring import model as m
from leadsync.scoring.conditions import email_domain, is_missing, to_bool, to_number
from leadsync.sync.fithistory import AGE_BANDS, Family, History, text_key

#: Points per unit of log-odds: 10 points double a lead's odds of converting.
POINTS_TO_DOUBLE = 10
SCALE = POINTS_TO_DOUBLE / math.log(2)
#: Above this AUC on its own, a candidate is the outcome in disguise.
LEAK_AUC = 0.95
WINDOWS: tuple[int | None, ...] = (None, *AGE_BANDS)
_MAX_VALUES = 15  # event attribute values tried per attribute
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass
class Candidate:
    """One rule the fit may choose, and its design columns (rows × ``width``)."""

    id: str
    label: str
    columns: sparse.csc_matrix
    source: str
    """What it reads (a property or an event type), named in leak messages and --exclude."""

    @property
    def width(self) -> int:
        return int(self.columns.shape[1])

    def points(self, coefs: np.ndarray) -> np.ndarray:
        """Whole points per column from fitted coefficients (log-odds)."""
        return np.rint(coefs * SCALE)

    def rule(self, points: np.ndarray) -> dict[str, Any] | None:
        """The rule in the model language (None when every point rounds to 0)."""
        raise NotImplementedError

    def band_codes(self) -> np.ndarray:
        """Which combination of its columns each row has: for the leak check."""
        weights = 2.0 ** np.arange(self.width)
        return np.asarray(self.columns @ weights).ravel()


@dataclass
class CategoryCandidate(Candidate):
    prop: str = ""
    mode: str = "text"  # text, bool or domain
    groups: tuple[tuple[Any, ...], ...] = ()
    reference: int = 0
    """The group scored 0 (no column); the last column is 'other or missing'."""

    def rule(self, points: np.ndarray) -> dict[str, Any] | None:
        others = float(points[-1])
        group_points = list(points[:-1])
        group_points.insert(self.reference, 0.0)
        if not any(group_points) and not others:
            return None
        tests = [self._test(values) for values in self.groups]
        scored = [(t, p) for t, p in zip(tests, group_points, strict=True) if p]
        if len(scored) == 1 and not others and self.prop not in ("any", "all", "not"):
            return {"id": self.id, "label": self.label, "when": {self.prop: scored[0][0]},
                    "points": _number(scored[0][1])}  # fmt: skip
        cases = [
            {"when": test, "points": _number(p), "label": _values_label(values)}
            for test, p, values in zip(tests, group_points, self.groups, strict=True)
        ]
        buckets = {"property": self.prop, "cases": cases}
        return {"id": self.id, "label": self.label, "buckets": buckets, "default": _number(others)}

    def _test(self, values: tuple[Any, ...]) -> Any:
        if self.mode == "domain":
            return {"domain_in": list(values)}
        return list(values)


@dataclass
class NumericCandidate(Candidate):
    prop: str = ""
    bands: tuple[tuple[float | None, float | None], ...] = ()
    reference: int = 0

    def rule(self, points: np.ndarray) -> dict[str, Any] | None:
        missing = float(points[-1])
        band_points = list(points[:-1])
        band_points.insert(self.reference, 0.0)
        if not any(band_points) and not missing:
            return None
        cases = []
        for (low, high), p in zip(self.bands, band_points, strict=True):
            if low is None:
                test: dict[str, Any] = {"at_most": _number(high)}
                label = f"up to {_number(high)}"
            elif high is None:
                test, label = {"at_least": _number(low)}, f"{_number(low)} or more"
            else:
                test = {"between": [_number(low), _number(high)]}
                label = f"{_number(low)}–{_number(high)}"
            cases.append({"when": test, "points": _number(p), "label": label})
        buckets = {"property": self.prop, "cases": cases}
        return {"id": self.id, "label": self.label, "buckets": buckets, "default": _number(missing)}


@dataclass
class EventCandidate(Candidate):
    family: Family = ("", None, None)
    window: int | None = None
    edges: tuple[int, ...] = (1,)

    def points(self, coefs: np.ndarray) -> np.ndarray:
        """Cumulative: a count of at least ``edges[k]`` gets the first k+1 increments."""
        return np.diff(np.rint(np.cumsum(coefs) * SCALE), prepend=0.0)

    def rule(self, points: np.ndarray) -> dict[str, Any] | None:
        totals = np.cumsum(points)
        if not totals.any():
            return None
        on = self.on()
        window = {"within_days": self.window} if self.window else {}
        if len(self.edges) == 1:
            return {"id": self.id, "label": self.label, "on": on, "points": _number(totals[0]),
                    "max_count": 1, **window}  # fmt: skip
        cases = [
            {"when": {"at_least": edge}, "points": _number(total), "label": f"{edge}+"}
            for edge, total in reversed(list(zip(self.edges, totals, strict=True)))
        ]
        buckets = {"count": {"on": on, **window}, "cases": cases}
        return {"id": self.id, "label": self.label, "buckets": buckets, "default": 0}

    def on(self) -> dict[str, Any] | str:
        kind, attr, value = self.family
        return kind if attr is None else {"type": kind, attr: value}


@dataclass
class StartCandidate(Candidate):
    """A start model's rule: one column (its count) or one per bucket case."""

    spec: m.AnyRule | None = None

    def rule(self, points: np.ndarray) -> dict[str, Any] | None:
        assert self.spec is not None
        data = self.spec.model_dump(mode="json", by_alias=True, exclude_none=True,
                                    exclude={"kind"})  # fmt: skip
        data = _without_defaults(data)
        data["label"] = self.spec.label or self.spec.id
        data.pop("group", None)
        if isinstance(self.spec, m.BucketRule):
            found = iter(points)
            for source in data["buckets"]:
                for case in source["cases"]:
                    case["points"] = _number(next(found))
            data["default"] = 0
            return data
        new = float(points[0])
        if isinstance(self.spec, m.EventRule) and self.spec.max_points is not None:
            if new and self.spec.points:
                data["max_points"] = _number(self.spec.max_points * abs(new / self.spec.points))
            else:
                data.pop("max_points", None)
        data["points"] = _number(new)
        return data


def _without_defaults(data: Any) -> Any:
    """A dumped rule without the empty mappings and lists pydantic adds."""
    if isinstance(data, dict):
        out = {k: _without_defaults(v) for k, v in data.items()}
        if "properties" in out and isinstance(out["properties"], dict):
            out.update(out.pop("properties"))
        if "attributes" in out and isinstance(out["attributes"], dict):
            out.update(out.pop("attributes"))
        return {k: v for k, v in out.items() if v not in ({}, [])}
    if isinstance(data, list):
        return [_without_defaults(v) for v in data]
    return data


def _number(value: float | int | None) -> int | float:
    assert value is not None
    number = float(value)
    return int(number) if number.is_integer() else round(number, 2)


def _values_label(values: tuple[Any, ...]) -> str:
    shown = [str(v).lower() if isinstance(v, bool) else str(v) for v in values[:3]]
    more = f" +{len(values) - 3} more" if len(values) > 3 else ""
    return ", ".join(shown) + more


def slug(text: str) -> str:
    return _SLUG.sub("-", text.casefold()).strip("-")[:60] or "rule"


# --- finding candidates ------------------------------------------------------------------


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
    sizes = [int(((group_of == g) & train).sum()) for g in range(len(groups))]
    reference = int(np.argmax(sizes))
    columns = [group_of == g for g in range(len(groups)) if g != reference]
    columns.append(group_of == -1)
    matrix = sparse.csc_matrix(np.stack(columns, axis=1).astype(np.float64))
    return CategoryCandidate(slug(label), label, matrix, name, prop=name, mode=mode,
                             groups=tuple(groups), reference=reference)  # fmt: skip


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
    sizes = [int(((band_of == b) & train).sum()) for b in range(len(bands))]
    reference = int(np.argmax(sizes))
    columns = [band_of == b for b in range(len(bands)) if b != reference]
    columns.append(band_of == -1)
    matrix = sparse.csc_matrix(np.stack(columns, axis=1).astype(np.float64))
    return NumericCandidate(slug(label), label, matrix, name, prop=name, bands=tuple(bands),
                            reference=reference)  # fmt: skip


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


# --- leaks ---------------------------------------------------------------------------------


def check_leaks(candidates: list[Candidate], y: np.ndarray, rows: np.ndarray) -> None:
    """Refuse a candidate that ranks the outcome almost perfectly on its own (on ``rows``)."""
    outcome = y[rows]
    for candidate in candidates:
        auc = _alone_auc(candidate.band_codes()[rows], outcome)
        if auc is not None and auc >= LEAK_AUC:
            raise LeadsyncError(
                f"{candidate.source!r} ({candidate.label}) predicts the outcome almost "
                f"perfectly on its own (AUC {auc:.3f} over {len(outcome)} training leads): "
                "it looks like the outcome in disguise (set when the lead converted). Leave it "
                f"out with --exclude {candidate.source}, or remove it from the leads"
            )


def _alone_auc(codes: np.ndarray, outcome: np.ndarray) -> float | None:
    """The ROC AUC of ranking leads by their band's conversion rate (ties count half)."""
    _, band = np.unique(codes, return_inverse=True)
    leads = np.bincount(band)
    converted = np.bincount(band, weights=outcome.astype(float))
    order = np.argsort(converted / leads)
    positives, negatives = converted[order], (leads - converted)[order]
    if len(leads) < 2 or not positives.sum() or not negatives.sum():
        return None
    below = np.concatenate(([0.0], np.cumsum(negatives)[:-1]))
    wins = float((positives * (below + negatives / 2)).sum())
    return wins / float(positives.sum() * negatives.sum())
