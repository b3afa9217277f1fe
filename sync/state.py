"""The state store: what leadsync remembers between runs, per account.

- ``cursors``        where the incremental sync and an interrupted backfill resume;
- ``lead_scores``    the last score/tier/model/reasons hash written per lead, and
                     whether its next MQL crossing may create a task (hysteresis);
- ``crossings``      MQL crossings and the task each created: the intent is recorded
                     before the task is created, so a crash never creates it twice;
- ``failed_writes``  score writes the CRM refused, retried at the next run;
- ``runs``           the run history, and the daemon's ``account_status``
                     (:mod:`leadsync.sync.runhistory`);
- ``score_history``  every score written, with its time (:mod:`leadsync.sync.history`).

SQLAlchemy Core on SQLite by default (WAL), PostgreSQL through the same code. The
schema is versioned (:mod:`leadsync.sync.migrations`). No secret is ever stored.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Engine,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, DBAPIError, InternalError, OperationalError

from leadsync.connectors.base import OwnWrite
from leadsync.errors import StateError
from leadsync.sync.database import db_text, now, open_engine, safe_url, scrub, upsert
from leadsync.sync.history import ScoreHistory
from leadsync.sync.migrations import (
    crossings,
    cursors,
    failed_writes,
    lead_scores,
    reviews,
    score_history,
)
from leadsync.sync.runhistory import RunHistory

#: Ids per ``IN (…)`` list: well under SQLite's 999 bound parameters (older builds) and
#: PostgreSQL's 65,535, with the account id and the other conditions beside them.
CHUNK = 500


@dataclass(frozen=True, slots=True)
class StoredScore:
    score: Decimal
    tier: str
    model: str
    digest: str
    mql_armed: bool
    last_task_at: datetime | None
    crm_stamp: str | None
    inputs: str | None = None


@dataclass(frozen=True, slots=True)
class Crossing:
    key: str
    lead_id: str
    object_type: str
    state: str
    task_id: str | None
    payload: dict[str, Any]
    created_at: datetime | None = None
    """When the crossing was recorded (its task's creation follows it at once)."""


@dataclass(frozen=True, slots=True)
class FailedWrite:
    lead_id: str
    object_type: str
    payload: dict[str, Any]
    error: str
    attempts: int


def default_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).expanduser()}"


class StateStore(RunHistory):
    """The state of every account, in one database (SQLite or PostgreSQL, same schema)."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        """Open the database at ``url`` (see :func:`open_engine`), its schema up to date;
        without ``create``, a SQLite file that does not exist is an error, not made."""
        self.url = url
        self.engine: Engine = open_engine(url, create=create)
        self.history = ScoreHistory(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- cursors ---------------------------------------------------------------------

    def cursor(self, account_id: str, kind: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.scalar(
                select(cursors.c.value).where(
                    cursors.c.account_id == account_id, cursors.c.kind == kind
                )
            )

    def set_cursor(self, conn: Connection, account_id: str, kind: str, value: str | None) -> None:
        """Part of a page's transaction: the cursor moves with the writes it covers."""
        upsert(
            conn,
            cursors,
            [{"account_id": account_id, "kind": kind, "value": value, "updated_at": now()}],
        )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """``with store.transaction() as conn:`` — everything inside commits together.

        A value the database refuses (a string longer than its column, say), or a
        transaction the database ends (PostgreSQL's idle-in-transaction timeout, a lost
        connection), rolls the whole transaction back and is a :class:`StateError` naming
        the database and the driver's reason, not a traceback.
        """
        try:
            with self.engine.begin() as conn:
                yield conn
        except DataError as error:
            raise StateError(
                f"the state database at {safe_url(self.url)} refused a value: "
                f"{_first_line(error)}; nothing of this step was saved and the "
                "run stopped (it resumes from its last saved page): please report this as "
                "a leadsync bug"
            ) from None
        except (OperationalError, InternalError) as error:
            raise StateError(
                f"the state database at {safe_url(self.url)} did not complete this step "
                f"({scrub(_first_line(error), self.url)}); nothing of it was saved and the "
                "run stopped: the next run resumes from its last saved page"
            ) from None

    # --- scores ------------------------------------------------------------------------

    def scores(self, account_id: str, lead_ids: Iterable[str]) -> dict[str, StoredScore]:
        ids = list(lead_ids)
        found: dict[str, StoredScore] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(ids, CHUNK):
                rows = conn.execute(
                    select(lead_scores).where(
                        lead_scores.c.account_id == account_id, lead_scores.c.lead_id.in_(chunk)
                    )
                )
                for row in rows:
                    found[row.lead_id] = StoredScore(
                        Decimal(row.score),
                        row.tier,
                        row.model,
                        row.digest,
                        row.mql_armed,
                        row.last_task_at,
                        row.crm_stamp,
                        row.inputs,
                    )
        return found

    def own_writes(self, account_id: str, lead_ids: Iterable[str]) -> dict[str, OwnWrite]:
        """The stamp each lead's last score write left and the inputs it was scored on."""
        return {
            lead_id: OwnWrite(stored.crm_stamp, stored.inputs or "")
            for lead_id, stored in self.scores(account_id, lead_ids).items()
            if stored.crm_stamp
        }

    def save_scores(
        self, conn: Connection, account_id: str, rows: Iterable[dict[str, Any]]
    ) -> None:
        """Upsert rows of ``lead_scores`` columns (``lead_id``, ``score``, ``tier``…).

        Scores are stored as the text of their ``Decimal`` (``"12.50"`` reads back as
        ``Decimal("12.50")``), so no database rounds them through a float. A column a row
        leaves out keeps its stored value (or its default, for a new lead).
        """
        moment = now()
        values = [
            {**row, "account_id": account_id, "score": str(row["score"]), "updated_at": moment}
            for row in rows
        ]
        upsert(conn, lead_scores, values)

    # --- MQL crossings -----------------------------------------------------------------

    def add_crossing(self, conn: Connection, account_id: str, crossing: Crossing) -> None:
        conn.execute(
            insert(crossings).values(
                account_id=account_id,
                key=crossing.key,
                lead_id=crossing.lead_id,
                object_type=crossing.object_type,
                state=crossing.state,
                task_id=crossing.task_id,
                payload=json.dumps(crossing.payload),
                created_at=now(),
            )
        )

    def crossing_count(self, account_id: str, lead_id: str) -> int:
        with self.engine.connect() as conn:
            return (
                conn.scalar(
                    select(func.count())
                    .select_from(crossings)
                    .where(crossings.c.account_id == account_id, crossings.c.lead_id == lead_id)
                )
                or 0
            )

    def pending_crossings(self, account_id: str) -> list[Crossing]:
        """Crossings whose task may not exist yet: create or reconcile them first."""
        return self.tasks(account_id, pending=True)

    def mark_crossings(
        self,
        account_id: str,
        outcomes: Mapping[str, tuple[str, str | None] | tuple[str, None, str]],
    ) -> None:
        """Record ``key → (state, task id[, reason])``: ``created`` with the CRM's task id,
        ``failed`` (retried) or ``gone`` (its record no longer exists) with the CRM's reason."""
        with self.engine.begin() as conn:
            for key, (state, task_id, *reason) in outcomes.items():
                conn.execute(
                    update(crossings)
                    .where(crossings.c.account_id == account_id, crossings.c.key == key)
                    .values(
                        state=state,
                        task_id=task_id,
                        error=db_text(reason[0]) if reason else None,
                        updated_at=now(),
                    )
                )

    def tasks(self, account_id: str, pending: bool = False) -> list[Crossing]:
        """Every crossing in order (``pending``: only those without a created task)."""
        query = select(crossings).where(crossings.c.account_id == account_id)
        if pending:
            query = query.where(crossings.c.state.not_in(("created", "gone")))
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(crossings.c.id))
            return [
                Crossing(
                    r.key,
                    r.lead_id,
                    r.object_type,
                    r.state,
                    r.task_id,
                    json.loads(r.payload),
                    r.created_at,
                )
                for r in rows
            ]

    # --- failed writes -----------------------------------------------------------------

    def failed_writes(self, account_id: str) -> list[FailedWrite]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(failed_writes)
                .where(failed_writes.c.account_id == account_id)
                .order_by(failed_writes.c.lead_id)
            )
            return [
                FailedWrite(r.lead_id, r.object_type, json.loads(r.payload), r.error, r.attempts)
                for r in rows
            ]

    def record_failed_writes(
        self, conn: Connection, account_id: str, failures: Iterable[FailedWrite]
    ) -> None:
        """Remember refused writes; one already remembered counts one more attempt."""
        moment = now()
        upsert(
            conn,
            failed_writes,
            [
                {
                    "account_id": account_id,
                    "lead_id": failure.lead_id,
                    "object_type": failure.object_type,
                    "payload": json.dumps(failure.payload),
                    "error": db_text(failure.error),
                    "attempts": 1,
                    "updated_at": moment,
                }
                for failure in failures
            ],
            keep=("object_type",),
            on_conflict={"attempts": failed_writes.c.attempts + 1},
        )

    def clear_failed_writes(
        self, conn: Connection, account_id: str, lead_ids: Iterable[str]
    ) -> None:
        ids = list(lead_ids)
        for chunk in _chunks(ids, CHUNK):
            conn.execute(
                failed_writes.delete().where(
                    failed_writes.c.account_id == account_id, failed_writes.c.lead_id.in_(chunk)
                )
            )

    # --- privacy -------------------------------------------------------------------------

    def forget(self, account_id: str, lead_ids: Iterable[str]) -> int:
        """Erase everything stored about these leads (GDPR); returns the rows removed."""
        ids = list(lead_ids)  # once: an iterator would be spent after the first table
        removed = 0
        with self.engine.begin() as conn:
            for table in (lead_scores, crossings, failed_writes, score_history):
                for chunk in _chunks(ids, CHUNK):
                    removed += conn.execute(
                        table.delete().where(
                            table.c.account_id == account_id, table.c.lead_id.in_(chunk)
                        )
                    ).rowcount
            if ids:  # a stored review may name them: made again by the next `leadsync review`
                conn.execute(reviews.delete().where(reviews.c.account_id == account_id))
        return removed

    def save_review(self, account_id: str, html: str) -> None:
        """Keep ``html`` as the account's latest review (the daemon serves it)."""
        with self.engine.begin() as conn:
            upsert(conn, reviews, [{"account_id": account_id, "made_at": now(), "html": html}])

    def latest_review(self, account_id: str) -> str | None:
        """The account's latest review as HTML, if one was made."""
        with self.engine.connect() as conn:
            return conn.scalar(select(reviews.c.html).where(reviews.c.account_id == account_id))

    def known_leads(self, account_id: str) -> Iterator[str]:
        with self.engine.connect() as conn:
            yield from conn.scalars(
                select(lead_scores.c.lead_id).where(lead_scores.c.account_id == account_id)
            )


def _first_line(error: DBAPIError) -> str:
    """The driver's reason, without the statement and parameters SQLAlchemy appends."""
    lines = str(error.orig or error).strip().splitlines()
    return " ".join(lines[0].split()) if lines else type(error.orig or error).__name__


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
