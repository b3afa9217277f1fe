"""Score history: every score leadsync wrote to the CRM, when, and why, per lead.

One row per successful score write (a run's page or a retried write): the moment the
score was computed and written (the ``lead_score_updated_at`` leadsync sets), the
score, tier, whether it was an MQL, the model and a digest of the reasons text, so
that "the score a lead had when it became MQL / when it was created / 90 days ago"
can be answered from the state database. ``leadsync forget`` erases it with the rest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Engine, insert, select
from sqlalchemy.engine import Connection, Row

from leadsync.connectors.base import ScoreWrite
from leadsync.sync.migrations import score_history


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    lead_id: str
    scored_at: datetime
    score: Decimal
    tier: str
    mql: bool
    model: str
    reasons_digest: str


def reasons_digest(reasons: str) -> str:
    """A short fingerprint of a reasons text: equal texts, equal digests."""
    return hashlib.sha256(reasons.encode()).hexdigest()[:16]


class ScoreHistory:
    """Reads and appends one database's score history (the state store's engine)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self,
        conn: Connection,
        account_id: str,
        writes: Iterable[ScoreWrite],
        mql_threshold: Decimal,
    ) -> int:
        """Append the scores of ``writes`` (those the CRM took) in the caller's transaction."""
        rows = [
            {
                "account_id": account_id,
                "lead_id": w.lead_id,
                "scored_at": w.updated_at,
                "score": str(w.score),
                "tier": w.tier,
                "mql": w.score >= mql_threshold,
                "model": w.model,
                "reasons_digest": reasons_digest(w.reasons),
            }
            for w in writes
        ]
        if rows:
            conn.execute(insert(score_history), rows)
        return len(rows)

    def of(self, account_id: str, lead_id: str) -> list[HistoryEntry]:
        """Every score written for the lead, oldest first."""
        query = (
            select(score_history)
            .where(score_history.c.account_id == account_id, score_history.c.lead_id == lead_id)
            .order_by(score_history.c.scored_at, score_history.c.id)
        )
        with self.engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query)]

    def at(self, account_id: str, lead_id: str, moment: datetime) -> HistoryEntry | None:
        """The score the lead had at ``moment``: the last one written at or before it."""
        query = (
            select(score_history)
            .where(
                score_history.c.account_id == account_id,
                score_history.c.lead_id == lead_id,
                score_history.c.scored_at <= moment,
            )
            .order_by(score_history.c.scored_at.desc(), score_history.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _entry(row) if row is not None else None

    def milestones(self, account_id: str) -> dict[str, tuple[datetime, datetime | None]]:
        """Every lead of the account → when leadsync first scored it, and when it was
        first scored an MQL (None if never): one query for the whole account."""
        query = (
            select(score_history.c.lead_id, score_history.c.scored_at, score_history.c.mql)
            .where(score_history.c.account_id == account_id)
            .order_by(score_history.c.scored_at, score_history.c.id)
        )
        found: dict[str, tuple[datetime, datetime | None]] = {}
        with self.engine.connect() as conn:
            for lead_id, scored_at, mql in conn.execute(query):
                first, became = found.get(lead_id, (scored_at, None))
                found[lead_id] = (first, became or (scored_at if mql else None))
        return found

    def became_mql(self, account_id: str, lead_id: str) -> HistoryEntry | None:
        """The score with which the lead last crossed into MQL (from a non-MQL score or
        none), or None if it never was one."""
        crossed = None
        was_mql = False
        for entry in self.of(account_id, lead_id):
            if entry.mql and not was_mql:
                crossed = entry
            was_mql = entry.mql
        return crossed


def _entry(row: Row) -> HistoryEntry:
    return HistoryEntry(
        row.lead_id,
        row.scored_at,
        Decimal(row.score),
        row.tier,
        row.mql,
        row.model,
        row.reasons_digest,
    )
