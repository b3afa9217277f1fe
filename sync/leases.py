"""Leases: which process may sync an account right now.

Every run of an account — a daemon replica's, or a ``leadsync backfill``/``sync``/
``forget`` — holds the account's lease, a row in the state database (``leases``) with a
holder, an expiry and a fencing ``token``:

- The holder is a replica id (``--replica-id``, default ``hostname:pid``) *and* the
  random ``instance`` of the process that took it (:func:`new_instance`): two
  processes given one replica id — every container's daemon is PID 1 — are two holders.
- :meth:`Leases.acquire` takes a free or expired lease, re-takes one this very process
  holds, or (SQLite) one whose holder's process is gone (:mod:`~leadsync.sync.liveness`);
  each acquisition increments the token. In the same transaction, runs of the account
  still ``running`` in the history are marked ``interrupted``: whoever started them no
  longer holds the lease, so they will never finish.
- :meth:`Leases.fence` runs inside each page's state transaction: it extends the lease
  *only if the token is still ours*, else raises :class:`LeaseLost` and the transaction
  (cursor, scores, task intents) rolls back. A process that stalled past its expiry
  while another took over can therefore never move a cursor or record a task intent;
  on PostgreSQL the row lock taken by the fencing UPDATE also makes a concurrent
  ``acquire`` wait for the page's commit — or, if the page's process stopped inside it,
  for the server to end its transaction (``IDLE_IN_TRANSACTION_S``, in
  :mod:`~leadsync.sync.database`).
- :meth:`Leases.renew` does the same outside a page (a heartbeat while a long page is
  being written); :meth:`Leases.release` frees the lease at the end of a run.

The token, not the clock, decides: a lease past its expiry that nobody re-took is still
safe to renew. Expiries are compared with the replicas' own clocks (UTC), so replicas
need clocks that agree to well within the lease time (NTP does).
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from leadsync.errors import ConfigError, LeadsyncError
from leadsync.sync.database import now
from leadsync.sync.liveness import Liveness
from leadsync.sync.migrations import leases, runs

__all__ = ["Lease", "LeaseHeld", "LeaseLost", "Leases", "default_replica_id", "new_instance"]


def new_instance() -> str:
    """A process's own id (16 hex digits), kept beside its replica id in leases and runs."""
    return secrets.token_hex(8)


def default_replica_id() -> str:
    """``hostname:pid``, cut to fit the holder column."""
    pid = f":{os.getpid()}"
    width = (leases.c.holder.type.length or 128) - len(pid)
    return socket.gethostname()[:width] + pid


class LeaseLost(LeadsyncError):
    """Another replica took this account over: the run stops without saving its page."""


class LeaseHeld(LeadsyncError):
    """Another run holds the account's lease: this one does not start."""

    def __init__(self, lease: Lease) -> None:
        self.lease = lease
        since = _clock(lease.acquired_at) if lease.acquired_at else "a moment ago"
        super().__init__(
            f"account {lease.account_id!r} is being synced by another leadsync run "
            f"({lease.holder}, since {since}); this one did not start: run it again once "
            f"that run has ended (if its process died, the account is free by "
            f"{_clock(lease.expires_at)})"
        )


@dataclass(frozen=True, slots=True)
class Lease:
    account_id: str
    holder: str
    token: int
    expires_at: datetime
    instance: str | None = None
    acquired_at: datetime | None = None

    @property
    def live(self) -> bool:
        return self.expires_at > now()


class Leases:
    """The leases of one state database, taken in the name of ``holder`` (a replica id)
    and of this process's ``instance``."""

    def __init__(
        self, engine: Engine, holder: str, ttl: timedelta, *, instance: str | None = None
    ) -> None:
        width = leases.c.holder.type.length or 0
        if not holder or len(holder) > width:  # PostgreSQL would refuse it at the first write
            raise ConfigError(
                f"replica id {holder[:40]!r}: give 1 to {width} characters (it names the "
                "holder of each lease)"
            )
        self.engine = engine
        self.holder = holder
        self.ttl = ttl
        self.instance = instance or new_instance()
        self._liveness = Liveness.for_engine(engine, self.instance)

    def acquire(self, account_id: str) -> Lease | None:
        """The account's lease if it is free, expired, this process's, or (SQLite) left by
        a process that is gone; else ``None``.

        One transaction: take the row over where one of those holds, else create it
        unless it exists; then mark the account's runs still ``running`` interrupted. Two
        processes acquiring at once get one lease between them: on PostgreSQL the second
        waits on the first's row lock (or its inserted key) and then finds the lease live;
        on SQLite the database's single writer orders them.
        """
        width = leases.c.account_id.type.length or 0
        if len(account_id) > width:  # accounts files refuse such an id; --account may not
            raise ConfigError(
                f"account {account_id[:40]!r}…: no account id is longer than {width} characters"
            )
        if self._liveness is not None:
            self._liveness.claim()  # before any lease names this instance
        moment = now()
        expires = moment + self.ttl
        mine = (leases.c.holder == self.holder) & (leases.c.instance == self.instance)
        with self.engine.begin() as conn:
            token = self._take(conn, account_id, (leases.c.expires_at < moment) | mine, moment)
            if token is None:
                token = self._take_from_the_dead(conn, account_id, moment)
            if token is None:
                # RETURNING, not rowcount: SQLAlchemy reports -1 for an INSERT on psycopg
                token = conn.scalar(
                    _insert_if_absent(conn)
                    .values(
                        account_id=account_id,
                        holder=self.holder,
                        instance=self.instance,
                        token=1,
                        acquired_at=moment,
                        expires_at=expires,
                    )
                    .returning(leases.c.token)
                )
            if token is None:  # another process holds it (or took it this instant)
                return None
            self._interrupt_runs(conn, account_id, moment)
        return Lease(account_id, self.holder, int(token), expires, self.instance, moment)

    def _take(self, conn: Connection, account_id: str, where: Any, moment: datetime) -> Any:
        return conn.scalar(
            update(leases)
            .where(leases.c.account_id == account_id, where)
            .values(
                holder=self.holder,
                instance=self.instance,
                token=leases.c.token + 1,
                acquired_at=moment,
                expires_at=moment + self.ttl,
            )
            .returning(leases.c.token)
        )

    def _take_from_the_dead(self, conn: Connection, account_id: str, moment: datetime) -> Any:
        """The live lease of a process known to be gone (SQLite only), by its token."""
        if self._liveness is None:
            return None
        held = conn.execute(select(leases).where(leases.c.account_id == account_id)).first()
        if held is None or self._liveness.alive(held.instance):
            return None
        return self._take(conn, account_id, leases.c.token == held.token, moment)

    def _interrupt_runs(self, conn: Connection, account_id: str, moment: datetime) -> None:
        """Runs of the account left ``running`` by a process that no longer holds its
        lease (killed, or stalled past it): they will never finish."""
        conn.execute(
            update(runs)
            .where(runs.c.account_id == account_id, runs.c.status == "running")
            .values(
                status="interrupted",
                ended_at=moment,
                error=(
                    "interrupted: its process stopped (killed, or stalled past its lease) "
                    f"before the run ended; found when {self.holder} took the account's lease"
                ),
            )
        )

    def fence(self, conn: Connection, lease: Lease) -> None:
        """Inside a state transaction: extend ``lease``, or raise :class:`LeaseLost`."""
        done = conn.execute(
            update(leases).where(*self._same(lease)).values(expires_at=now() + self.ttl)
        )
        if done.rowcount == 0:
            raise LeaseLost(
                f"account {lease.account_id}: another leadsync run took over its lease; "
                "this one stopped without saving the current page"
            )

    def renew(self, lease: Lease) -> bool:
        """Extend ``lease``; ``False`` if it is no longer ours."""
        try:
            with self.engine.begin() as conn:
                self.fence(conn, lease)
        except LeaseLost:
            return False
        return True

    def release(self, lease: Lease) -> None:
        """Free the lease now (a clean end of run), if it is still ours."""
        with self.engine.begin() as conn:
            conn.execute(update(leases).where(*self._same(lease)).values(expires_at=now()))

    def close(self) -> None:
        """This process takes no more leases (its own are released or expire)."""
        if self._liveness is not None:
            self._liveness.close()

    def get(self, account_id: str) -> Lease | None:
        """The account's lease, live or not."""
        return self.all(account_id).get(account_id)

    def all(self, account_id: str | None = None) -> dict[str, Lease]:
        """Every account's lease (or ``account_id``'s), live or not (``leadsync status``)."""
        query = select(leases)
        if account_id is not None:
            query = query.where(leases.c.account_id == account_id)
        with self.engine.connect() as conn:
            return {
                r.account_id: Lease(
                    r.account_id, r.holder, r.token, r.expires_at, r.instance, r.acquired_at
                )
                for r in conn.execute(query)
            }

    def _same(self, lease: Lease) -> tuple[Any, ...]:
        return (
            leases.c.account_id == lease.account_id,
            leases.c.holder == lease.holder,
            leases.c.instance == lease.instance,
            leases.c.token == lease.token,
        )


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _insert_if_absent(conn: Connection) -> Any:
    """``INSERT INTO leases … ON CONFLICT DO NOTHING``: a lease another replica holds is
    an answer (no rows), not an error PostgreSQL would log at every contested acquire."""
    builder: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    return builder(leases).on_conflict_do_nothing(index_elements=[leases.c.account_id])
