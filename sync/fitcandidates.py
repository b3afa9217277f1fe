"""The kinds of candidate rule ``leadsync model fit`` chooses from, and how each is written.

A candidate is one rule the fitted model may hold, and the 0/1 (or count) columns a
regression fits its points on; :meth:`Candidate.rule` writes it in the model language
once the points are known, so that the engine gives each lead exactly ``columns @
points`` (a test checks it for every candidate):

- :class:`CategoryCandidate`: a property's values in groups — a bucket rule whose cases
  are the groups (one of them 0 points), ``default`` for other values and none;
- :class:`NumericCandidate`: a number in bands, a bucket rule of ``between`` cases;
- :class:`EventCandidate`: an event family counted over all time or a recent window —
  one rule ``max_count: 1``, or a bucket rule over the count whose cases are cumulative
  (thermometer columns: ``at least 5`` gets the points of ``at least 2`` and more);
- :class:`StartCandidate`: a start model's rule, its points re-fitted (a bucket rule's
  cases each).

:mod:`~leadsync.sync.fitfind` finds them in a history; :func:`check_leaks` refuses one
that ranks the outcome almost perfectly on its own.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from leadsync.errors import LeadsyncError
from leadsync.scoring import model as m
from leadsync.sync.fithistory import Family

#: Points per unit of log-odds: 10 points double a lead's odds of converting.
POINTS_TO_DOUBLE = 10
SCALE = POINTS_TO_DOUBLE / math.log(2)
#: Above this AUC on its own, a candidate is the outcome in disguise.
LEAK_AUC = 0.95
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
    """One column per group; other values and none are the default, 0 points."""

    def rule(self, points: np.ndarray) -> dict[str, Any] | None:
        """Groups with the same points merged into one case, those with 0 points left to
        the default (0); a single case is a ``when`` rule."""
        merged: dict[float, list[Any]] = {}
        for values, p in zip(self.groups, points, strict=True):
            if p:
                merged.setdefault(float(p), []).extend(values)
        if not merged:
            return None
        if len(merged) == 1 and self.prop not in ("any", "all", "not"):
            ((p, values),) = merged.items()
            when = {self.prop: self._test(tuple(values))}
            return {"id": self.id, "label": self.label, "when": when, "points": _number(p)}
        cases = [
            {
                "when": self._test(tuple(values)),
                "points": _number(p),
                "label": _values_label(tuple(values)),
            }
            for p, values in sorted(merged.items(), reverse=True)
        ]
        buckets = {"property": self.prop, "cases": cases}
        return {"id": self.id, "label": self.label, "buckets": buckets, "default": 0}

    def _test(self, values: tuple[Any, ...]) -> Any:
        if self.mode == "domain":
            return {"domain_in": list(values)}
        return list(values)


@dataclass
class NumericCandidate(Candidate):
    prop: str = ""
    bands: tuple[tuple[float | None, float | None], ...] = ()
    """One column per band; a missing number is the default, 0 points."""
    whole: bool = True
    """Whole numbers: bands are ``between`` ranges; else ``at_most`` cases, first match."""

    def rule(self, points: np.ndarray) -> dict[str, Any] | None:
        """Whole-number bands: adjacent ones with the same points merged, those with 0
        left to the default (0); ``at_most`` cases all kept, since the first match wins."""
        if not points.any():
            return None
        if self.whole:
            bands = [b for b in _merged(list(self.bands), list(points)) if b[2]]
        else:
            bands = [(*band, p) for band, p in zip(self.bands, points, strict=True)]
        cases = []
        for low, high, p in bands:
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
        return {"id": self.id, "label": self.label, "buckets": buckets, "default": 0}


def _merged(
    bands: list[tuple[float | None, float | None]], points: list[float]
) -> list[tuple[float | None, float | None, float]]:
    """Adjacent whole-number bands with the same points as one (never all numbers: a
    band needs a bound, or a non-number would match it)."""
    out: list[tuple[float | None, float | None, float]] = []
    for (low, high), p in zip(bands, points, strict=True):
        if out and out[-1][2] == p and not (out[-1][0] is None and high is None):
            out[-1] = (out[-1][0], high, p)
        else:
            out.append((low, high, p))
    return out


@dataclass
class EventCandidate(Candidate):
    family: Family = ("", None, None)
    window: int | None = None
    edges: tuple[int, ...] = (1,)

    def points(self, coefs: np.ndarray) -> np.ndarray:
        """Cumulative: a count of at least ``edges[k]`` gets the first k+1 increments."""
        return np.diff(np.rint(np.cumsum(coefs) * SCALE), prepend=0.0)

    def rule(self, points: np.ndarray) -> dict[str, Any] | None:
        """A band adding no points is left out (its count scores as the one below it)."""
        totals = np.cumsum(points)
        kept = [(e, t) for e, t, p in zip(self.edges, totals, points, strict=True) if p]
        if not kept:
            return None
        on = self.on()
        window = {"within_days": self.window} if self.window else {}
        if [e for e, _ in kept] == [1]:
            return {"id": self.id, "label": self.label, "on": on, "points": _number(kept[0][1]),
                    "max_count": 1, **window}  # fmt: skip
        cases = [
            {"when": {"at_least": edge}, "points": _number(total), "label": f"{edge}+"}
            for edge, total in reversed(kept)
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
