"""The state schema and its versions.

``schema_version`` holds the version a database is at; :func:`upgrade` applies the
missing steps of :data:`STEPS` in order, each in its own transaction, so every
release can read the state an older one left. A new step is appended, never edited.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.engine import Connection

metadata = MetaData()

schema_version = Table("schema_version", metadata, Column("version", Integer, nullable=False))

cursors = Table(
    "cursors",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("value", Text),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

lead_scores = Table(
    "lead_scores",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("lead_id", String(64), primary_key=True),
    Column("score", String(32), nullable=False),
    Column("tier", String(64), nullable=False),
    Column("model", String(128), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("mql_armed", Boolean, nullable=False, default=True),
    Column("last_task_at", DateTime(timezone=True)),
    Column("crm_stamp", String(64)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

crossings = Table(
    "crossings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64), nullable=False, index=True),
    Column("key", String(200), nullable=False),
    Column("lead_id", String(64), nullable=False),
    Column("object_type", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("task_id", String(64)),
    Column("payload", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True)),
    UniqueConstraint("account_id", "key"),
)

failed_writes = Table(
    "failed_writes",
    metadata,
    Column("account_id", String(64), primary_key=True),
    Column("lead_id", String(64), primary_key=True),
    Column("object_type", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account_id", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False),
    Column("counts", Text, nullable=False),
    Column("error", Text),
)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[cursors, lead_scores, crossings, failed_writes, runs])


#: Version n is reached by running STEPS[n - 1].
STEPS: list[Callable[[Connection], None]] = [_v1]


def current_version(conn: Connection) -> int:
    schema_version.create(conn, checkfirst=True)
    return conn.scalar(select(schema_version.c.version)) or 0


def upgrade(engine: Engine) -> int:
    """Bring the database to the latest version; returns it."""
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
