"""Comparing two models on the same leads: what an edit would change, before it ships.

Pure and streaming, like :mod:`leadsync.scoring.backtest`: :class:`ModelDiff` takes
both scores of one lead at a time and keeps a tier-to-tier matrix, the counts of new
and lost MQLs with a few examples of each, and the leads that moved most — with the
rules that moved them: every rule whose points differ between the two scores.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from decimal import Decimal

from leadsync.scoring.engine import ScoreResult
from leadsync.scoring.model import ScoringModel


@dataclass(frozen=True, slots=True)
class RuleMove:
    rule: str
    old: Decimal
    new: Decimal

    @property
    def delta(self) -> Decimal:
        return self.new - self.old


@dataclass(frozen=True, slots=True)
class Move:
    """One lead's two scores and the rules whose points changed, largest change first."""

    lead_id: str
    old: ScoreResult
    new: ScoreResult
    rules: tuple[RuleMove, ...]

    @property
    def delta(self) -> Decimal:
        return self.new.score - self.old.score


@dataclass(frozen=True, slots=True)
class DiffReport:
    old_model: str
    new_model: str
    leads: int
    old_tiers: tuple[str, ...]
    new_tiers: tuple[str, ...]
    matrix: tuple[tuple[int, ...], ...]
    """``matrix[i][j]``: leads in old tier ``i`` and new tier ``j``."""
    changed: int
    """Leads whose score changed."""
    new_mqls: int
    lost_mqls: int
    new_mql_examples: tuple[Move, ...]
    lost_mql_examples: tuple[Move, ...]
    top_moves: tuple[Move, ...]
    """The leads whose score moved most (either way), largest first."""


@dataclass(slots=True)
class ModelDiff:
    """Accumulates both models' scores per lead; :meth:`report` gives the comparison."""

    old_model: ScoringModel
    new_model: ScoringModel
    top: int = 10
    _matrix: dict[tuple[str, str], int] = field(default_factory=dict)
    _leads: int = 0
    _changed: int = 0
    _new_mqls: int = 0
    _lost_mqls: int = 0
    _new_examples: list[tuple[Decimal, int, ScoreResult, ScoreResult]] = field(default_factory=list)
    _lost_examples: list[tuple[Decimal, int, ScoreResult, ScoreResult]] = field(
        default_factory=list
    )
    _moves: list[tuple[Decimal, int, ScoreResult, ScoreResult]] = field(default_factory=list)

    def add(self, old: ScoreResult, new: ScoreResult) -> None:
        self._leads += 1
        key = (old.tier, new.tier)
        self._matrix[key] = self._matrix.get(key, 0) + 1
        delta = new.score - old.score
        if delta:
            self._changed += 1
            self._keep(self._moves, abs(delta), old, new)
        if new.is_mql and not old.is_mql:
            self._new_mqls += 1
            self._keep(self._new_examples, delta, old, new)
        elif old.is_mql and not new.is_mql:
            self._lost_mqls += 1
            self._keep(self._lost_examples, -delta, old, new)

    def _keep(
        self,
        heap: list[tuple[Decimal, int, ScoreResult, ScoreResult]],
        weight: Decimal,
        old: ScoreResult,
        new: ScoreResult,
    ) -> None:
        entry = (weight, -self._leads, old, new)
        if len(heap) < self.top:
            heapq.heappush(heap, entry)
        elif self.top and entry[:2] > heap[0][:2]:
            heapq.heapreplace(heap, entry)

    def report(self) -> DiffReport:
        old_tiers = tuple(t.name for t in self.old_model.tiers)
        new_tiers = tuple(t.name for t in self.new_model.tiers)
        matrix = tuple(tuple(self._matrix.get((o, n), 0) for n in new_tiers) for o in old_tiers)
        return DiffReport(
            old_model=self.old_model.ref,
            new_model=self.new_model.ref,
            leads=self._leads,
            old_tiers=old_tiers,
            new_tiers=new_tiers,
            matrix=matrix,
            changed=self._changed,
            new_mqls=self._new_mqls,
            lost_mqls=self._lost_mqls,
            new_mql_examples=_moves(self._new_examples),
            lost_mql_examples=_moves(self._lost_examples),
            top_moves=_moves(self._moves),
        )


def _moves(heap: list[tuple[Decimal, int, ScoreResult, ScoreResult]]) -> tuple[Move, ...]:
    ordered = sorted(heap, key=lambda e: (e[0], e[1]), reverse=True)
    return tuple(Move(old.lead_id, old, new, rule_moves(old, new)) for _, _, old, new in ordered)


def rule_moves(old: ScoreResult, new: ScoreResult) -> tuple[RuleMove, ...]:
    """The rules whose points differ between two scores of a lead, largest change first."""
    before = {r.rule: r.points for r in old.reasons}
    after = {r.rule: r.points for r in new.reasons}
    zero = Decimal(0)
    moves = [
        RuleMove(rule, before.get(rule, zero), after.get(rule, zero))
        for rule in dict.fromkeys([*before, *after])
        if before.get(rule, zero) != after.get(rule, zero)
    ]
    return tuple(sorted(moves, key=lambda m: -abs(m.delta)))
