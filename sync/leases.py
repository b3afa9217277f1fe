"""Leases: which daemon replica may sync an account right now.

A replica runs an account only while it holds that account's lease, a row in the
state database (``leases``) with a holder, an expiry and a fencing ``token``:

- :meth:`Leases.acquire` takes a free or expired lease, or re-takes one's own, and
  increments the token. A lease whose holder died (``kill -9``) is free once it expires.
- :meth:`Leases.fence` runs inside each page's state transaction: it extends the lease
  *only if the token is still ours*, else raises :class:`LeaseLost` and the transaction
  (cursor, scores, task intents) rolls back. A replica that stalled past its expiry
  while another took over can therefore never move a cursor or record a task intent;
  on PostgreSQL the row lock taken by the fencing UPDATE also makes a concurrent
  ``acquire`` wait for the page's commit.
- :meth:`Leases.renew` does the same outside a page (a heartbeat while a long page is
  being written); :meth:`Leases.release` frees the lease at the end of a run.

The token, not the clock, decides: a lease past its expiry that nobody re-took is still
safe to renew. Expiries are compared with the replicas' own clocks (UTC), so replicas
need clocks that agree to well within the lease time (NTP does).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from leadsync.errors import ConfigError, LeadsyncError
from leadsync.sync.migrations import leases
from leadsync.sync.state import now

__all__ = ["Lease", "LeaseLost", "Leases"]


class LeaseLost(LeadsyncError):
    """Another replica took this account over: the run stops without saving its page."""


@dataclass(frozen=True, slots=True)
class Lease:
    account_id: str
    holder: str
    token: int
    expires_at: datetime

    @property
    def live(self) -> bool:
        return self.expires_at > now()


class Leases:
    """The leases of one state database, taken in the name of ``holder`` (a replica id)."""

    def __init__(self, engine: Engine, holder: str, ttl: timedelta) -> None:
        width = leases.c.holder.type.length or 0
        if not holder or len(holder) > width:  # PostgreSQL would refuse it at the first write
            raise ConfigError(
                f"replica id {holder[:40]!r}: give 1 to {width} characters (it names the "
                "holder of each lease)"
            )
        self.engine = engine
        self.holder = holder
        self.ttl = ttl

    def acquire(self, account_id: str) -> Lease | None:
        """The account's lease if it is free, expired or already ours; else ``None``.

        One transaction: take the row over where it is expired or ours, else create it
        unless it exists. Two replicas acquiring at once get one lease between them: on
        PostgreSQL the second waits on the first's row lock (or its inserted key) and then
        finds the lease live; on SQLite the database's single writer orders them.
        """
        moment = now()
        expires = moment + self.ttl
        with self.engine.begin() as conn:
            token = conn.scalar(
                update(leases)
                .where(
                    leases.c.account_id == account_id,
                    (leases.c.expires_at < moment) | (leases.c.holder == self.holder),
                )
                .values(
                    holder=self.holder,
                    token=leases.c.token + 1,
                    acquired_at=moment,
                    expires_at=expires,
                )
                .returning(leases.c.token)
            )
            if token is not None:
                return Lease(account_id, self.holder, int(token), expires)
            # RETURNING, not rowcount: SQLAlchemy reports -1 for an INSERT on psycopg
            created = conn.scalar(
                _insert_if_absent(conn)
                .values(
                    account_id=account_id,
                    holder=self.holder,
                    token=1,
                    acquired_at=moment,
                    expires_at=expires,
                )
                .returning(leases.c.token)
            )
            if created is None:  # another replica holds it (or took it this instant)
                return None
        return Lease(account_id, self.holder, 1, expires)

    def fence(self, conn: Connection, lease: Lease) -> None:
        """Inside a state transaction: extend ``lease``, or raise :class:`LeaseLost`."""
        done = conn.execute(
            update(leases)
            .where(
                leases.c.account_id == lease.account_id,
                leases.c.holder == lease.holder,
                leases.c.token == lease.token,
            )
            .values(expires_at=now() + self.ttl)
        )
        if done.rowcount == 0:
            raise LeaseLost(
                f"account {lease.account_id}: another leadsync replica took over its lease; "
                "this replica stopped its run without saving the current page"
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
            conn.execute(
                update(leases)
                .where(
                    leases.c.account_id == lease.account_id,
                    leases.c.holder == lease.holder,
                    leases.c.token == lease.token,
                )
                .values(expires_at=now())
            )

    def expire_all(self) -> None:
        """Free every lease now: for the only daemon allowed on a SQLite file, whose
        predecessor's leases can only be stale (it died without releasing them)."""
        with self.engine.begin() as conn:
            conn.execute(update(leases).values(expires_at=now()))

    def all(self) -> dict[str, Lease]:
        """Every account's lease, live or not (``leadsync status``)."""
        with self.engine.connect() as conn:
            return {
                r.account_id: Lease(
                    r.account_id,
                    r.holder,
                    r.token,
                    r.expires_at,
                )
                for r in conn.execute(select(leases))
            }


def _insert_if_absent(conn: Connection) -> Any:
    """``INSERT INTO leases … ON CONFLICT DO NOTHING``: a lease another replica holds is
    an answer (no rows), not an error PostgreSQL would log at every contested acquire."""
    builder: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    return builder(leases).on_conflict_do_nothing(index_elements=[leases.c.account_id])
