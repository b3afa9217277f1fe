"""The state store: what leadsync remembers between runs, per account.

- ``cursors``        where the incremental sync and an interrupted backfill resume;
- ``lead_scores``    the last score/tier/model/reasons hash written per lead, and
                     whether its next MQL crossing may create a task (hysteresis);
- ``crossings``      MQL crossings and the task each created: the intent is recorded
                     before the task is created, so a crash never creates it twice;
- ``failed_writes``  score writes the CRM refused, retried at the next run;
- ``runs``           the run history.

SQLAlchemy Core on SQLite by default (WAL), PostgreSQL through the same code. The
schema is versioned (:mod:`leadsync.sync.migrations`). No secret is ever stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, insert, select, update
from sqlalchemy.engine import Connection

from leadsync.errors import ConfigError
from leadsync.sync import migrations
from leadsync.sync.migrations import crossings, cursors, failed_writes, lead_scores, runs


@dataclass(frozen=True, slots=True)
class StoredScore:
    score: Decimal
    tier: str
    model: str
    digest: str
    mql_armed: bool
    last_task_at: datetime | None
    crm_stamp: str | None


@dataclass(frozen=True, slots=True)
class Crossing:
    key: str
    lead_id: str
    object_type: str
    state: str
    task_id: str | None
    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class FailedWrite:
    lead_id: str
    object_type: str
    payload: dict[str, Any]
    error: str
    attempts: int


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    account_id: str
    kind: str
    started_at: datetime
    ended_at: datetime | None
    status: str
    counts: dict[str, int]
    error: str | None


def now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back naive; they were stored in UTC."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def default_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path).expanduser()}"


class StateStore:
    """The state of every account, in one database."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(
                parents=True, exist_ok=True
            )
        try:
            self.engine: Engine = create_engine(url, future=True)
        except Exception as exc:  # an unparsable URL or a missing driver
            raise ConfigError(f"state database {_safe(url)}: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        migrations.upgrade(self.engine)

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
        done = conn.execute(
            update(cursors)
            .where(cursors.c.account_id == account_id, cursors.c.kind == kind)
            .values(value=value, updated_at=now())
        )
        if done.rowcount == 0:
            conn.execute(
                insert(cursors).values(
                    account_id=account_id, kind=kind, value=value, updated_at=now()
                )
            )

    def transaction(self) -> Any:
        """``with store.transaction() as conn:`` — everything inside commits together."""
        return self.engine.begin()

    # --- scores ------------------------------------------------------------------------

    def scores(self, account_id: str, lead_ids: Iterable[str]) -> dict[str, StoredScore]:
        ids = list(lead_ids)
        found: dict[str, StoredScore] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(ids, 500):
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
                        _aware(row.last_task_at),
                        row.crm_stamp,
                    )
        return found

    def own_writes(self, account_id: str, lead_ids: Iterable[str]) -> dict[str, str]:
        """The CRM modification stamp each lead's last score write left, where known."""
        return {
            lead_id: stored.crm_stamp
            for lead_id, stored in self.scores(account_id, lead_ids).items()
            if stored.crm_stamp
        }

    def save_scores(
        self, conn: Connection, account_id: str, rows: Iterable[dict[str, Any]]
    ) -> None:
        """Upsert rows of ``lead_scores`` columns (``lead_id``, ``score``, ``tier``…)."""
        for row in rows:
            values = {**row, "score": str(row["score"]), "updated_at": now()}
            done = conn.execute(
                update(lead_scores)
                .where(
                    lead_scores.c.account_id == account_id,
                    lead_scores.c.lead_id == row["lead_id"],
                )
                .values(**values)
            )
            if done.rowcount == 0:
                conn.execute(insert(lead_scores).values(account_id=account_id, **values))

    def mark_written(
        self, conn: Connection, account_id: str, written: dict[str, tuple[str, str | None]]
    ) -> None:
        """Record ``lead_id → (digest, CRM stamp)`` for scores a retry finally wrote."""
        for lead_id, (digest, stamp) in written.items():
            conn.execute(
                update(lead_scores)
                .where(lead_scores.c.account_id == account_id, lead_scores.c.lead_id == lead_id)
                .values(digest=digest, crm_stamp=stamp, updated_at=now())
            )

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

    def mark_crossings(self, account_id: str, outcomes: dict[str, tuple[str, str | None]]) -> None:
        """Record ``key → (state, task id)``: ``created`` with the CRM id, or ``failed``."""
        with self.engine.begin() as conn:
            for key, (state, task_id) in outcomes.items():
                conn.execute(
                    update(crossings)
                    .where(crossings.c.account_id == account_id, crossings.c.key == key)
                    .values(state=state, task_id=task_id, updated_at=now())
                )

    def tasks(self, account_id: str, pending: bool = False) -> list[Crossing]:
        """Every crossing in order (``pending``: only those without a created task)."""
        query = select(crossings).where(crossings.c.account_id == account_id)
        if pending:
            query = query.where(crossings.c.state != "created")
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(crossings.c.id))
            return [
                Crossing(r.key, r.lead_id, r.object_type, r.state, r.task_id, json.loads(r.payload))
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
        for failure in failures:
            done = conn.execute(
                update(failed_writes)
                .where(
                    failed_writes.c.account_id == account_id,
                    failed_writes.c.lead_id == failure.lead_id,
                )
                .values(
                    payload=json.dumps(failure.payload),
                    error=failure.error,
                    attempts=failed_writes.c.attempts + 1,
                    updated_at=now(),
                )
            )
            if done.rowcount == 0:
                conn.execute(
                    insert(failed_writes).values(
                        account_id=account_id,
                        lead_id=failure.lead_id,
                        object_type=failure.object_type,
                        payload=json.dumps(failure.payload),
                        error=failure.error,
                        attempts=1,
                        updated_at=now(),
                    )
                )

    def clear_failed_writes(
        self, conn: Connection, account_id: str, lead_ids: Iterable[str]
    ) -> None:
        ids = list(lead_ids)
        for chunk in _chunks(ids, 500):
            conn.execute(
                failed_writes.delete().where(
                    failed_writes.c.account_id == account_id, failed_writes.c.lead_id.in_(chunk)
                )
            )

    # --- runs ----------------------------------------------------------------------------

    def start_run(self, account_id: str, kind: str) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(runs).values(
                    account_id=account_id,
                    kind=kind,
                    started_at=now(),
                    status="running",
                    counts="{}",
                )
            )
            return int(result.inserted_primary_key[0])

    def finish_run(
        self, run_id: int, status: str, counts: dict[str, int], error: str | None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(ended_at=now(), status=status, counts=json.dumps(counts), error=error)
            )

    def runs(self, account_id: str, limit: int = 20) -> list[Run]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(runs)
                .where(runs.c.account_id == account_id)
                .order_by(runs.c.id.desc())
                .limit(limit)
            )
            return [
                Run(
                    r.id,
                    r.account_id,
                    r.kind,
                    _aware(r.started_at),  # type: ignore[arg-type]
                    _aware(r.ended_at),
                    r.status,
                    json.loads(r.counts),
                    r.error,
                )
                for r in rows
            ]

    # --- privacy -------------------------------------------------------------------------

    def forget(self, account_id: str, lead_ids: Iterable[str]) -> int:
        """Erase everything stored about these leads (GDPR); returns the rows removed."""
        removed = 0
        with self.engine.begin() as conn:
            for table in (lead_scores, crossings, failed_writes):
                for chunk in _chunks(list(lead_ids), 500):
                    removed += conn.execute(
                        table.delete().where(
                            table.c.account_id == account_id, table.c.lead_id.in_(chunk)
                        )
                    ).rowcount
        return removed

    def known_leads(self, account_id: str) -> Iterator[str]:
        with self.engine.connect() as conn:
            yield from conn.scalars(
                select(lead_scores.c.lead_id).where(lead_scores.c.account_id == account_id)
            )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _safe(url: str) -> str:
    """The URL without its password."""
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme, _, credentials = head.partition("://")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}"
