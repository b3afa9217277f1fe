"""The run history and the daemon's view of each account: the ``runs`` and
``account_status`` tables of the state database (``leadsync runs``, ``leadsync status``).

:class:`RunHistory` is a part of :class:`~leadsync.sync.state.StateStore`, which gives
it its ``engine``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, insert, select, update

from leadsync.sync.database import clip, db_text, now, upsert
from leadsync.sync.migrations import account_status, runs

__all__ = ["AccountStatus", "Run", "RunHistory"]


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
    replica: str | None = None
    instance: str | None = None


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """What the daemon last knew of an account (``leadsync status`` reads it)."""

    account_id: str
    failures: int = 0
    last_error: str | None = None
    last_error_kind: str | None = None
    backoff_until: datetime | None = None
    next_run_at: datetime | None = None
    last_success_at: datetime | None = None
    api_remaining: int | None = None
    api_limit: int | None = None


class RunHistory:
    """How each run of an account went, and what the daemon last knew of it."""

    engine: Engine

    def start_run(self, account_id: str, kind: str, replica: str | None = None) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                insert(runs).values(
                    account_id=account_id,
                    kind=kind,
                    started_at=now(),
                    status="running",
                    counts="{}",
                    replica=clip(replica, runs.c.replica.type.length),
                )
            )
            return int(result.inserted_primary_key[0])

    def finish_run(
        self, run_id: int, status: str, counts: dict[str, int], error: str | None
    ) -> None:
        """Record how a run ended, unless it was marked ``interrupted`` meanwhile: another
        process took the account's lease over while this one stalled, and the history
        keeps the run ending there (:meth:`Leases.acquire`)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.status == "running")
                .values(
                    ended_at=now(), status=status, counts=json.dumps(counts), error=db_text(error)
                )
            )

    def set_run_instance(self, run_id: int, instance: str) -> None:
        """Name the process behind a run (its lease's instance) beside its replica id."""
        with self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(instance=instance))

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
                    r.started_at,
                    r.ended_at,
                    r.status,
                    json.loads(r.counts),
                    r.error,
                    r.replica,
                    r.instance,
                )
                for r in rows
            ]

    # --- account status (the daemon's) -----------------------------------------------

    def account_status(self, account_id: str | None = None) -> dict[str, AccountStatus]:
        """Every account's status, or only ``account_id``'s (a daemon run reads its own)."""
        query = select(account_status)
        if account_id is not None:
            query = query.where(account_status.c.account_id == account_id)
        with self.engine.connect() as conn:
            return {
                r.account_id: AccountStatus(
                    r.account_id,
                    r.failures,
                    r.last_error,
                    r.last_error_kind,
                    r.backoff_until,
                    r.next_run_at,
                    r.last_success_at,
                    r.api_remaining,
                    r.api_limit,
                )
                for r in conn.execute(query)
            }

    def set_account_status(self, status: AccountStatus) -> None:
        values = {
            "account_id": status.account_id,
            "failures": status.failures,
            "last_error": db_text(status.last_error),
            "last_error_kind": clip(
                status.last_error_kind, account_status.c.last_error_kind.type.length
            ),
            "backoff_until": status.backoff_until,
            "next_run_at": status.next_run_at,
            "last_success_at": status.last_success_at,
            "api_remaining": status.api_remaining,
            "api_limit": status.api_limit,
            "updated_at": now(),
        }
        with self.engine.begin() as conn:
            upsert(conn, account_status, [values])


def interruption(error: BaseException) -> str:
    """What stopped a run that did not end on a :class:`~leadsync.errors.LeadsyncError`,
    in a user's words for the history (``leadsync runs``, ``status``): a signal, or an
    unexpected fault, never only a Python class name such as ``KeyboardInterrupt``."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted by Ctrl-C (SIGINT); the next run resumes from its last saved page"
    if isinstance(error, SystemExit):
        return "interrupted: the process was told to exit; the next run resumes from there"
    return f"stopped by an unexpected {type(error).__name__} (see the log); the next run resumes"
