"""Fitting a model's points on outcomes: the learning half of ``leadsync model fit``.

The rules come from :mod:`~leadsync.sync.fitfind`; this chooses among them and
gives them points, with scikit-learn's logistic regression (no optimiser of our own):

1. **choose** (forward selection, the scorecard way): on the training part's fit rows
   (three quarters of it), starting from the start model's rules (always kept), add
   the candidate whose columns would most improve the fit (its score statistic, from
   the current model's residuals), refit, and measure the ROC AUC on the check rows
   (the last quarter); up to ``max_rules``. The rules kept are those up to the best
   check AUC, less each added rule whose removal costs the check rows less than 0.001
   of AUC: a rule that does not improve the ranking of unseen leads does not earn its
   place;
2. **fit** the chosen rules' points on the whole training part (L2-regularised,
   ``C=1``), in log-odds, then round them to whole points on a fixed scale:
   :data:`~leadsync.sync.fitcandidates.POINTS_TO_DOUBLE` points double a lead's odds;
3. **tiers** from the target: the MQL threshold keeps ``mql_rate`` of the training
   leads at or above it, or is the lowest whose MQLs convert at ``mql_precision``;
   *warm* takes the leads below it up to three times the MQL volume (at most half).

A model is additive (no caps, weights or clamp), so a lead's score is the sum of its
rules' points: :attr:`Fit.intended` is what the engine must give each training lead,
and the command checks that it does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from threadpoolctl import threadpool_limits

from leadsync.errors import LeadsyncError
from leadsync.scoring import model as m
from leadsync.sync.fitcandidates import Candidate, StartCandidate, check_leaks
from leadsync.sync.fitfind import find_candidates
from leadsync.sync.fithistory import History

#: Fewer leads with an outcome than this, or fewer of either outcome, is too little data.
MIN_LEADS = 500
MIN_EACH = 50
_TOLERANCE = 0.001


@dataclass(frozen=True)
class Target:
    """What the MQL threshold aims at: a share of leads, or a precision (one of them)."""

    mql_rate: float | None = 0.1
    mql_precision: float | None = None


@dataclass
class Fit:
    """A fitted model, before it is written and checked by the engine."""

    rules: list[dict[str, Any]]
    tiers: list[dict[str, Any]]
    mql_threshold: float
    intended: np.ndarray
    """Every row's score as the fit means it: what the engine must give."""
    candidates: int
    path: list[tuple[str, float]]
    """Each rule as it was chosen, and the inner validation AUC with it."""
    mql_share: float
    """The share of training leads at or above the threshold."""


def check_data(history: History) -> None:
    """Refuse too little data and a constant outcome, saying what was read."""
    rows, converted = history.rows, sum(history.converted)
    read = f"{history.source}: {history.read} leads read, {rows} with an outcome"
    if rows == 0:
        raise LeadsyncError(
            f"{read}: a fit needs outcomes: give each lead an outcome.converted, or name "
            "the CSV column with --outcome-column"
        )
    if converted in (0, rows):
        which = "converted" if converted else "did not convert"
        raise LeadsyncError(
            f"{read}, and every one {which}: a constant outcome teaches nothing "
            "(is the outcome column the right one?)"
        )
    if rows < MIN_LEADS or min(converted, rows - converted) < MIN_EACH:
        raise LeadsyncError(
            f"{read} ({converted} converted, {rows - converted} not): too little data to fit "
            f"points; a fit needs at least {MIN_LEADS} leads with an outcome and {MIN_EACH} "
            "of each outcome"
        )


def fit(
    history: History,
    start: m.ScoringModel | None,
    target: Target,
    max_rules: int,
    exclude: frozenset[str] = frozenset(),
) -> Fit:
    """Choose rules and fit their points on the training part of ``history``."""
    check_data(history)
    y, parts = history.arrays()
    train = parts > 0
    if min(int(y[train].sum()), int((~y[train]).sum())) < MIN_EACH // 2:
        raise LeadsyncError(f"{history.source}: too few of one outcome in the training part")
    with threadpool_limits(1):  # small matrices: more BLAS threads only contend for the cores
        return _fit(history, start, target, max_rules, exclude, y, parts)


def _fit(
    history: History,
    start: m.ScoringModel | None,
    target: Target,
    max_rules: int,
    exclude: frozenset[str],
    y: np.ndarray,
    parts: np.ndarray,
) -> Fit:
    train = parts > 0
    candidates = find_candidates(history, start, exclude)
    forced = len(start.rules) if start is not None else 0
    check_leaks(candidates[forced:], y, parts == 2)
    if len(candidates) == forced == 0:
        raise LeadsyncError(f"{history.source}: no property or event repeats enough to fit on")
    chosen, path = _choose(candidates, y, parts, forced, max(max_rules, forced))
    picked = [candidates[i] for i in chosen]
    if not picked:
        raise LeadsyncError(
            f"{history.source}: no property or event ranks the converted leads better than "
            "chance on leads the fit did not see: nothing to learn from these outcomes"
        )
    coefs = _refit(picked, y, train)
    rules: list[dict[str, Any]] = []
    intended = np.zeros(history.rows)
    offset = 0
    for candidate in picked:
        points = candidate.points(coefs[offset : offset + candidate.width])
        offset += candidate.width
        rule = candidate.rule(points)
        if rule is None and isinstance(candidate, StartCandidate):
            rule = candidate.rule(np.zeros(candidate.width))
        if rule is None:
            continue
        rules.append(rule)
        intended += candidate.columns @ points
    if not rules:
        raise LeadsyncError(f"{history.source}: no rule earns any points on these outcomes")
    if roc_auc_score(y[train], intended[train]) >= 0.995:
        raise LeadsyncError(
            f"{history.source}: the fitted rules separate converted leads perfectly "
            "(training AUC ≥ 0.995): some property or event records the outcome itself; "
            "leave it out with --exclude"
        )
    threshold, share = _mql_threshold(intended[train], y[train], target)
    tiers = _tiers(intended[train], threshold, share, start)
    return Fit(rules, tiers, _number(threshold), intended, len(candidates), path, share)


def _choose(
    candidates: list[Candidate], y: np.ndarray, parts: np.ndarray, forced: int, most: int
) -> tuple[list[int], list[tuple[str, float]]]:
    inner, check = np.flatnonzero(parts == 2), np.flatnonzero(parts == 1)
    design = sparse.hstack([c.columns for c in candidates], format="csr")
    x_fit, x_check = design[inner].tocsc(), design[check].tocsc()
    y_fit, y_check = y[inner], y[check]
    squares = x_fit.multiply(x_fit).tocsc()
    spans = np.cumsum([0] + [c.width for c in candidates])
    chosen = list(range(forced))
    path: list[tuple[str, float]] = []
    aucs: list[float] = []
    while True:
        if chosen:
            cols = np.concatenate([np.arange(spans[i], spans[i + 1]) for i in chosen])
            dense_fit, dense_check = x_fit[:, cols].toarray(), x_check[:, cols].toarray()
            model = _regression().fit(dense_fit, y_fit)
            p = model.predict_proba(dense_fit)[:, 1]
            aucs.append(float(roc_auc_score(y_check, model.decision_function(dense_check))))
        else:
            p = np.full(len(y_fit), y_fit.mean())
            aucs.append(0.5)
        if len(chosen) >= forced:
            path.append((candidates[chosen[-1]].label if chosen else "(none)", aucs[-1]))
        if len(chosen) >= min(most, len(candidates)):
            break
        gradient = x_fit.T @ (y_fit - p)
        information = squares.T @ (p * (1 - p))
        stat = np.where(information > 0, gradient**2 / np.maximum(information, 1e-12), 0.0)
        per_candidate = np.add.reduceat(stat, spans[:-1])
        per_candidate[chosen] = -1
        best = int(np.argmax(per_candidate))
        if per_candidate[best] < 4:  # not even a weak signal left
            break
        chosen.append(best)
    keep = chosen[: forced + int(np.argmax(aucs))]  # aucs[i]: with forced + i rules
    return _prune(keep, forced, x_fit, y_fit, x_check, y_check, spans), path


def _check_auc(
    chosen: list[int],
    x_fit: Any,
    y_fit: np.ndarray,
    x_check: Any,
    y_check: np.ndarray,
    spans: np.ndarray,
) -> float:
    """The check rows' AUC of a regression on ``chosen``, fitted on the fit rows."""
    if not chosen:
        return 0.5
    cols = np.concatenate([np.arange(spans[i], spans[i + 1]) for i in chosen])
    model = _regression().fit(x_fit[:, cols].toarray(), y_fit)
    return float(roc_auc_score(y_check, model.decision_function(x_check[:, cols].toarray())))


def _prune(
    chosen: list[int],
    forced: int,
    x_fit: Any,
    y_fit: np.ndarray,
    x_check: Any,
    y_check: np.ndarray,
    spans: np.ndarray,
) -> list[int]:
    """Drop, latest first, each added rule the check rows do without (it does not earn
    its place: without it their AUC falls by less than the tolerance)."""
    kept = list(chosen)
    best = _check_auc(kept, x_fit, y_fit, x_check, y_check, spans)
    for index in reversed(chosen[forced:]):
        without = [i for i in kept if i != index]
        if not without:
            continue
        auc = _check_auc(without, x_fit, y_fit, x_check, y_check, spans)
        if auc >= best - _TOLERANCE:
            kept, best = without, max(best, auc)
    return kept


def _regression() -> LogisticRegression:
    """L2-regularised, by Newton steps: exact and quick with many leads and few columns."""
    return LogisticRegression(C=1.0, solver="newton-cholesky", max_iter=200)


def _refit(picked: list[Candidate], y: np.ndarray, train: np.ndarray) -> np.ndarray:
    design = sparse.hstack([c.columns for c in picked], format="csr")
    model = _regression().fit(design[train].toarray(), y[train])
    return model.coef_[0]


def _at_or_above(scores: np.ndarray, y: np.ndarray) -> list[tuple[float, int, int]]:
    """Every distinct score, highest first, with the leads and conversions at or above it."""
    values, inverse = np.unique(scores, return_inverse=True)
    leads = np.bincount(inverse, minlength=len(values))
    converted = np.bincount(inverse, weights=y.astype(float), minlength=len(values))
    out = []
    total = hits = 0
    for i in range(len(values) - 1, -1, -1):
        total += int(leads[i])
        hits += int(converted[i])
        out.append((float(values[i]), total, hits))
    return out


def _mql_threshold(scores: np.ndarray, y: np.ndarray, target: Target) -> tuple[float, float]:
    steps = _at_or_above(scores, y)
    best: tuple[float, int, int] | None = None
    if target.mql_precision is not None:
        for step in steps:
            if step[2] / step[1] >= target.mql_precision:
                best = step
        if best is None:
            top = max(s[2] / s[1] for s in steps)
            raise LeadsyncError(
                f"no threshold gives MQLs converting at {target.mql_precision:.0%} on the "
                f"training leads (at best {top:.0%}): ask less of --mql-precision, or give "
                "--mql-rate"
            )
    else:
        rate = target.mql_rate if target.mql_rate is not None else 0.1
        for step in steps:
            if step[1] > rate * len(scores):
                break
            best = step
        if best is None:
            best = steps[0]
    return best[0], best[1] / len(scores)


def _tiers(
    scores: np.ndarray, threshold: float, share: float, start: m.ScoringModel | None
) -> list[dict[str, Any]]:
    names = ["cold", "warm", "mql"]
    if start is not None and len(start.tiers) >= 3:
        names = [start.tiers[0].name, start.tiers[-2].name, start.tiers[-1].name]
    elif start is not None and len(start.tiers) == 2:
        names = [start.tiers[0].name, "", start.tiers[1].name]
    warm_share = min(0.5, 3 * share)
    ordered = np.sort(scores)[::-1]
    warm = float(ordered[min(len(ordered) - 1, max(0, math.floor(warm_share * len(ordered)) - 1))])
    tiers: list[dict[str, Any]] = [{"name": names[0]}]
    if names[1] and float(ordered[-1]) < warm < threshold:
        tiers.append({"name": names[1], "min": _number(warm)})
    tiers.append({"name": names[2], "min": _number(threshold)})
    return tiers


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(float(value), 2)
