"""The state schema and its versions.

``schema_version`` holds the version a database is at; :func:`upgrade` applies the
missing steps of :data:`STEPS` in order, each in its own transaction, so every
release can read the state an older one left. A new step is appended, never edited.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import Connection, Dialect


def utc(moment: datetime | None) -> datetime | None:
    """``moment`` in UTC; a naive one is taken to be in UTC already (how it was stored)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A moment, written and read back as an aware UTC ``datetime`` on every database.

    SQLite keeps ``DateTime`` as text without an offset, so an aware value in another zone
    would be stored as its wall-clock time and read back naive; PostgreSQL's
    ``timestamptz`` reads back in the session's time zone and takes a naive value as local
    to it. Converting to UTC on the way in and out makes both give the same values, and
    keeps SQLite's text comparisons (lease expiries, ``WHERE expires_at < :now``)
    chronological. The DDL is plain ``DateTime(timezone=True)``: no migration needed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return utc(value)


metadata = MetaData()

schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

cursors = Table(
    "cursors",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("value", Text),
    Column("updated_at", UTCDateTime(), nullable=False),
)

lead_scores = Table(
    "lead_scores",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("lead_id", String(), primary_key=True),
    Column("score", String(), nullable=False),
    Column("tier", String(), nullable=False),
    Column("model", String(), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("mql_armed", Boolean, nullable=False, default=True),
    Column("last_task_at", UTCDateTime()),
    Column("crm_stamp", String()),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("inputs", String(64)),
)

crossings = Table(
    "crossings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64), nullable=False, index=True),
    Column("key", String(), nullable=False),
    Column("lead_id", String(), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("task_id", String()),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime()),
    Column("error", Text),
    UniqueConstraint("account_id", "key"),
)

failed_writes = Table(
    "failed_writes",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("lead_id", String(), primary_key=True),
    Column("object_type", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime()),
    Column("status", String(16), nullable=False),
    Column("counts", Text, nullable=False),
    Column("error", Text),
    Column("replica", String(128)),
    Column("instance", String(32)),
)


leases = Table(
    "leases",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("instance", String(32)),
    Column("token", Integer, nullable=False),
    Column("acquired_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

account_status = Table(
    "account_status",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("failures", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("last_error_kind", String(64)),
    Column("backoff_until", UTCDateTime()),
    Column("next_run_at", UTCDateTime()),
    Column("last_success_at", UTCDateTime()),
    Column("api_remaining", Integer),
    Column("api_limit", Integer),
    Column("updated_at", UTCDateTime(), nullable=False),
)


reviews = Table(
    "reviews",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("made_at", UTCDateTime(), nullable=False),
    Column("html", Text, nullable=False),
)

score_history = Table(
    "score_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64), nullable=False),
    Column("lead_id", String, nullable=False),
    Column("scored_at", UTCDateTime(), nullable=False),
    Column("score", String, nullable=False),
    Column("tier", String, nullable=False),
    Column("mql", Boolean, nullable=False),
    Column("model", String, nullable=False),
    Column("reasons_digest", String(32), nullable=False),
    Index("ix_score_history_lead", "account_id", "lead_id", "scored_at"),
)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[cursors, lead_scores, crossings, failed_writes, runs])


def _v2(conn: Connection) -> None:
    """The daemon: per-account leases, per-account status, the replica behind each run."""
    metadata.create_all(conn, tables=[leases, account_status])
    if "replica" not in {c["name"] for c in inspect(conn).get_columns("runs")}:
        conn.execute(text("ALTER TABLE runs ADD COLUMN replica VARCHAR(128)"))


def _v3(conn: Connection) -> None:
    """Values from the CRM or the model in columns without a length, and the process
    instance beside the replica id in leases and runs.

    A Bulk write's stamp (``bulk:<created>|<finished>|<user id>``, 73 characters) once
    overflowed ``crm_stamp``'s 64 on PostgreSQL and the page was lost; record ids, task
    ids, tier and model names have no bound leadsync controls either. PostgreSQL widens
    a VARCHAR in place (no rewrite); SQLite never enforced the lengths. Two processes
    may share a replica id (``hostname:pid`` is PID 1 in every container): the lease
    belongs to the random ``instance`` of one process.
    """
    if conn.dialect.name == "postgresql":
        unbounded = {
            "lead_scores": ("lead_id", "score", "tier", "model", "crm_stamp"),
            "crossings": ("key", "lead_id", "task_id"),
            "failed_writes": ("lead_id",),
        }
        for table, columns in unbounded.items():
            for column in columns:
                conn.execute(text(f'ALTER TABLE {table} ALTER COLUMN "{column}" TYPE VARCHAR'))
    for table in ("leases", "runs"):
        if "instance" not in {c["name"] for c in inspect(conn).get_columns(table)}:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN instance VARCHAR(32)"))


def _v4(conn: Connection) -> None:
    """What each score was computed from (a digest of the record as read), so that a
    record carrying leadsync's own stamp is skipped only if nothing else changed; and why
    the CRM refused a crossing's task."""
    if "inputs" not in {c["name"] for c in inspect(conn).get_columns("lead_scores")}:
        conn.execute(text("ALTER TABLE lead_scores ADD COLUMN inputs VARCHAR(64)"))
    if "error" not in {c["name"] for c in inspect(conn).get_columns("crossings")}:
        conn.execute(text("ALTER TABLE crossings ADD COLUMN error TEXT"))


def _v5(conn: Connection) -> None:
    """Score history: every score written to the CRM, with its time (a new table)."""
    metadata.create_all(conn, tables=[score_history])


def _v6(conn: Connection) -> None:
    """The latest review of each account (``leadsync review``), served by the daemon."""
    metadata.create_all(conn, tables=[reviews])


#: Version n is reached by running STEPS[n - 1].
STEPS: list[Callable[[Connection], None]] = [_v1, _v2, _v3, _v4, _v5, _v6]


def current_version(conn: Connection) -> int:
    schema_version.create(conn, checkfirst=True)
    return conn.scalar(select(schema_version.c.version)) or 0


#: The PostgreSQL advisory lock that serializes replicas upgrading one database at start.
MIGRATION_LOCK = 0x1EAD5C


def upgrade(engine: Engine) -> int:
    """Bring the database to the latest version; returns it.

    On PostgreSQL several replicas may start at once: an advisory lock lets one of them
    upgrade while the others wait, then find nothing left to do.
    """
    locking = engine.dialect.name == "postgresql"
    with engine.connect() as lock:
        if locking:
            lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        try:
            return _upgrade(engine)
        finally:
            if locking:
                lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                lock.commit()


def _upgrade(engine: Engine) -> int:
    with engine.begin() as conn:
        version = current_version(conn)
    if version > len(STEPS):
        from leadsync.errors import ConfigError

        raise ConfigError(
            f"the state database is at schema version {version}, newer than this leadsync "
            f"knows ({len(STEPS)}): upgrade leadsync"
        )
    for number in range(version + 1, len(STEPS) + 1):
        with engine.begin() as conn:
            STEPS[number - 1](conn)
            if number == 1:
                conn.execute(schema_version.insert().values(version=1))
            else:
                conn.execute(schema_version.update().values(version=number))
    return len(STEPS)
