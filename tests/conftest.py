"""Fixtures shared by every test package: the shipped model templates, and state
databases on SQLite and PostgreSQL.

A test that takes ``state_url`` (or ``state_databases``, for more than one database)
runs once per backend, ``[sqlite]`` and ``[postgresql]``, each time on a database of
its own: a file under ``tmp_path``, or a fresh schema on the PostgreSQL server named by
``LEADSYNC_TEST_POSTGRES_URL`` (default :data:`DEFAULT_POSTGRES_URL`), dropped after
the test. To run such a test on one backend only, parametrize it directly:
``@pytest.mark.parametrize("state_backend", ["sqlite"])``.

Where that server cannot be reached, the PostgreSQL variants skip, saying why — a
fresh machine with only Python still passes — unless ``LEADSYNC_TEST_POSTGRES=require``
(CI sets it), which turns the skip into a failure.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError

from leadsync.config.templates import resolve_model
from leadsync.scoring.model import ScoringModel

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

#: Test schemas are named ``lst_<unix time>_<random>``; one older than this was left by
#: a session that was killed before its teardown, and the next session drops it.
STALE_SCHEMA_S = 6 * 3600

#: The PostgreSQL session time zone of every test connection: not UTC, and not a whole
#: number of hours from it, so a timestamp that skipped its UTC normalisation shows.
TEST_TIME_ZONE = "America/St_Johns"


@pytest.fixture(scope="session")
def b2b() -> ScoringModel:
    return resolve_model("b2b-saas")


@pytest.fixture(scope="session")
def b2c() -> ScoringModel:
    return resolve_model("b2c-ecommerce")


@pytest.fixture(scope="session")
def weighted() -> ScoringModel:
    return resolve_model("weighted-sme")


@pytest.fixture(scope="session")
def lifecycle() -> ScoringModel:
    return resolve_model("lifecycle-phases")


# --- state databases ---------------------------------------------------------------------


class PostgresServer:
    """The test PostgreSQL server: makes one throwaway schema per test database."""

    def __init__(self, url: str, admin: Engine) -> None:
        self.url = url
        self.admin = admin

    def create(self) -> tuple[str, str]:
        """A new empty schema, and the URL of a database whose default schema it is."""
        schema = f"lst_{int(time.time())}_{uuid.uuid4().hex[:12]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(self.url)
        options = " ".join(
            part
            for part in (
                url.query.get("options"),
                f"-csearch_path={schema}",
                f"-cTimeZone={TEST_TIME_ZONE}",
            )
            if part
        )
        # application_name marks the test's connections, for drop() to end stray ones
        url = url.update_query_dict({"options": options, "application_name": schema})
        return schema, url.render_as_string(hide_password=False)

    def drop(self, schema: str) -> None:
        """Drop ``schema`` and everything in it, ending connections the test left open
        (a ``kill -9``-ed subprocess's, a pool not disposed) rather than waiting on them."""
        with self.admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name AND pid <> pg_backend_pid()"
                ),
                {"name": schema},
            )
            conn.execute(text("SET lock_timeout = '30s'"))
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

    def drop_stale(self) -> None:
        """Drop test schemas left by sessions killed before their teardown; other test
        sessions running now (their schemas are recent) are left alone."""
        with self.admin.connect() as conn:
            names = conn.scalars(
                text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'lst\\_%'")
            ).all()
        for name in names:
            found = re.fullmatch(r"lst_(\d+)_[0-9a-f]+", name)
            if found and time.time() - int(found.group(1)) > STALE_SCHEMA_S:
                with contextlib.suppress(DBAPIError):  # another session got there first
                    self.drop(name)


class StateDatabases:
    """Fresh, isolated state databases of one backend, for one test."""

    def __init__(self, backend: str, folder: Path, server: PostgresServer | None) -> None:
        self.backend = backend
        self.folder = folder
        self.server = server
        self.schemas: list[str] = []
        self.count = 0

    def new(self) -> str:
        """The URL of a new, empty database (the state store creates the schema)."""
        self.count += 1
        if self.server is None:
            return f"sqlite:///{self.folder / f'state-{self.count}.db'}"
        schema, url = self.server.create()
        self.schemas.append(schema)
        return url

    def drop(self) -> None:
        if self.server is not None:
            for schema in self.schemas:
                self.server.drop(schema)


def _postgres_mode() -> str:
    return os.environ.get("LEADSYNC_TEST_POSTGRES", "auto").strip().lower()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The PostgreSQL server of the tests, checked once; skips (or fails) without it."""
    url = os.environ.get("LEADSYNC_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
    shown = make_url(url).render_as_string(hide_password=True)
    required = _postgres_mode() == "require"
    admin = create_engine(
        url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}, pool_size=1
    )
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        admin.dispose()
        reason = " ".join(str(exc.orig or exc).strip().splitlines()[0].split())
        message = (
            f"PostgreSQL is not reachable at {shown} ({reason}); start it, or point "
            "LEADSYNC_TEST_POSTGRES_URL at one"
        )
        if required:
            pytest.fail(f"{message} (LEADSYNC_TEST_POSTGRES=require)", pytrace=False)
        pytest.skip(f"{message}; LEADSYNC_TEST_POSTGRES=require makes this a failure")
    server = PostgresServer(url, admin)
    server.drop_stale()
    yield server
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_backend(request: pytest.FixtureRequest) -> str:
    """The database the test's state lives in; parametrize it directly to pick one."""
    return str(request.param)


@pytest.fixture
def state_databases(
    state_backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[StateDatabases]:
    """A maker of isolated state databases on the test's backend, dropped afterwards."""
    if state_backend not in ("sqlite", "postgresql"):
        raise ValueError(f"unknown state backend {state_backend!r}")
    server = request.getfixturevalue("postgres_server") if state_backend == "postgresql" else None
    databases = StateDatabases(state_backend, tmp_path, server)
    yield databases
    databases.drop()


@pytest.fixture
def state_url(state_databases: StateDatabases) -> str:
    """The URL of an empty state database of the test's own (SQLite or PostgreSQL)."""
    return state_databases.new()
