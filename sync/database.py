"""Opening the state database, SQLite or PostgreSQL, and the statements both accept.

A plain ``postgresql://`` (or ``postgres://``) URL means psycopg 3, the driver leadsync
installs, not SQLAlchemy's default psycopg2. A database that cannot be reached, or
refuses the schema, is a :class:`ConfigError` naming the URL without its credentials
(the password, and any ``?password=``-like query parameter), not a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Engine, Table, create_engine, event, insert, make_url, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from leadsync.errors import ConfigError
from leadsync.sync import migrations

__all__ = ["IDLE_IN_TRANSACTION_S", "open_engine", "safe_url", "scrub", "upsert", "url_secrets"]

#: The databases leadsync's schema and statements are written and tested for.
SUPPORTED = ("sqlite", "postgresql")
EXAMPLES = "sqlite:///PATH/state.db or postgresql://USER@HOST:5432/DATABASE"
URL_VARIABLE = "LEADSYNC_DATABASE_URL"

#: Seconds to wait for a PostgreSQL server to answer before saying it cannot be reached,
#: unless the URL sets ``connect_timeout`` itself (libpq's default is to wait forever).
CONNECT_TIMEOUT_S = 10

#: Seconds a PostgreSQL session may sit idle inside a transaction before the server ends
#: it, unless the URL's ``options`` set ``idle_in_transaction_session_timeout`` itself.
#: leadsync's transactions hold no network call, so only a stopped process idles there.
IDLE_IN_TRANSACTION_S = 60


def open_engine(url: str, *, create: bool = True) -> Engine:
    """An engine on ``url`` whose schema is at the latest version.

    Without ``create`` a SQLite file that does not exist is a :class:`ConfigError`
    naming it, and neither it nor its folder is made: a command that only reads the
    state would otherwise show an empty history for a mistyped path, and leave a file.
    """
    parsed = _engine_url(url)
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        file = parsed.database
        if file and file != ":memory:" and not file.startswith("file:") and not create:
            if not Path(file).exists():
                raise ConfigError(
                    f"no state database at {file}: no leadsync run has saved state there "
                    "yet, or LEADSYNC_STATE_PATH names the wrong file (it was not created); "
                    "check LEADSYNC_STATE_PATH or LEADSYNC_DATABASE_URL"
                )
        elif parsed.database and parsed.database != ":memory:":
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(
                    f"cannot create the folder of the state database {parsed.database}: "
                    f"{exc.strerror}; check LEADSYNC_STATE_PATH"
                ) from None
    else:
        # a server connection may have been dropped while idle in the pool (a
        # failover, a proxy's timeout): test it before each use instead of failing a page
        options["pool_pre_ping"] = True
        if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
            options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    try:
        engine = create_engine(parsed, **options)
    except Exception as exc:  # a driver that is not installed (postgresql+asyncpg://…)
        raise ConfigError(
            f"state database {safe_url(url)}: {scrub(str(exc), url)}; check {URL_VARIABLE}"
        ) from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    elif engine.dialect.name == "postgresql" and _IDLE_SETTING not in str(parsed.query):
        event.listen(engine, "connect", _postgresql_settings)
    hint = (
        "check LEADSYNC_STATE_PATH or LEADSYNC_DATABASE_URL"
        if engine.dialect.name == "sqlite"
        else "check LEADSYNC_DATABASE_URL"
    )
    try:
        with engine.connect():
            pass
    except (OperationalError, InterfaceError) as exc:
        engine.dispose()
        raise ConfigError(
            f"cannot reach the state database at {safe_url(url)}: {_reason(exc, parsed)}; {hint}"
        ) from None
    except DBAPIError as exc:  # reached, but not a database (SQLite: any other file)
        engine.dispose()
        raise ConfigError(
            f"cannot open the state database at {safe_url(url)}: {_reason(exc, parsed)}; {hint}"
        ) from None
    try:
        migrations.upgrade(engine)
    except DBAPIError as exc:
        engine.dispose()
        raise ConfigError(
            f"the state database at {safe_url(url)} refused leadsync's schema: "
            f"{_reason(exc, parsed)}; {hint}"
        ) from None
    except BaseException:
        engine.dispose()
        raise
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


_IDLE_SETTING = "idle_in_transaction_session_timeout"


def _postgresql_settings(dbapi_connection: Any, _record: Any) -> None:
    """A process stopped inside a transaction (SIGSTOP, a frozen VM) would keep its row
    locks, the lease's among them, until it resumed: the server ends it instead."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute(f"SET {_IDLE_SETTING} = '{int(IDLE_IN_TRANSACTION_S)}s'")
    dbapi_connection.commit()


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    keep: Sequence[str] = (),
    on_conflict: dict[str, Any] | None = None,
) -> None:
    """Insert ``rows``, or update the rows already there with the same primary key.

    One ``INSERT … ON CONFLICT DO UPDATE`` (SQLite ≥ 3.24 and PostgreSQL alike) rather
    than an UPDATE then an INSERT: on PostgreSQL two transactions could both find no row
    and the second INSERT would fail, where SQLite's single writer never sees the race.
    On a conflict, every column given is overwritten but the key, those in ``keep``
    and those ``on_conflict`` sets itself (an expression over the stored row).
    """
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "postgresql":
        builder: Any = postgresql.insert
    elif dialect == "sqlite":
        builder = sqlite.insert
    else:  # another database: the portable two-step, safe under a single writer
        _update_or_insert(conn, table, rows, keep=keep, on_conflict=on_conflict)
        return
    keys = [c.name for c in table.primary_key.columns]
    # one statement per set of columns given: executemany needs the same keys in each row
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(row)), []).append(row)
    for columns, group in groups.items():
        statement = builder(table)
        changes: dict[str, Any] = {
            name: statement.excluded[name]
            for name in columns
            if name not in keys and name not in keep
        }
        changes.update(on_conflict or {})
        conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes), group)


def _update_or_insert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    keep: Sequence[str],
    on_conflict: dict[str, Any] | None,
) -> None:
    keys = [c.name for c in table.primary_key.columns]
    for row in rows:
        changes = {k: v for k, v in row.items() if k not in keys and k not in keep}
        changes.update(on_conflict or {})
        done = conn.execute(
            update(table).where(*(table.c[k] == row[k] for k in keys)).values(**changes)
        )
        if done.rowcount == 0:
            conn.execute(insert(table).values(**row))


def _engine_url(url: str) -> URL:
    """The URL SQLAlchemy is given: psycopg 3 for a plain PostgreSQL one, ``~`` expanded."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # any parsing fault is in the URL given
        raise ConfigError(f"state database {safe_url(url)}: {_unparsable(exc, url)}") from None
    if parsed.get_backend_name() not in SUPPORTED:
        raise ConfigError(
            f"state database {safe_url(url)}: leadsync supports SQLite and PostgreSQL only "
            f"({EXAMPLES}); check {URL_VARIABLE}"
        )
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if (
        parsed.get_backend_name() == "sqlite"
        and parsed.database
        and parsed.database != ":memory:"
        and not parsed.database.startswith("file:")
    ):
        parsed = parsed.set(database=str(Path(parsed.database).expanduser()))
    return parsed


def _unparsable(exc: Exception, url: str) -> str:
    """Why ``url`` does not parse, in a user's words (SQLAlchemy's ``int()`` fault on a
    port says nothing of a port), with what a URL looks like and where it was set."""
    port = re.search(r"invalid literal for int\(\) with base 10: '(.*)'", str(exc))
    if port and port[1] in safe_url(url):  # the port as shown, never part of a password
        why = f"the port {port[1]!r} is not a number"
    else:
        why = f"not a database URL ({scrub(str(exc), url)})"
    return f"{why}; write it like {EXAMPLES}; check {URL_VARIABLE}"


def _reason(exc: DBAPIError, url: URL) -> str:
    """The driver's own words on one line, without any credential should it quote one."""
    lines = [" ".join(line.split()) for line in str(exc.orig or exc).splitlines()]
    reason = ""
    for line in filter(None, lines):  # libpq's hint goes on a line of its own
        reason += (" " if not reason or reason[-1] in ".:;?!" else ". ") + line
    reason = reason.strip() or type(exc.orig or exc).__name__
    return scrub(reason, url.render_as_string(hide_password=False))


#: Query parameters that carry a credential: libpq's ``password`` and ``sslpassword``,
#: and anything named like a secret, token or key.
_SECRET_PARAM = re.compile(r"(?i)pass|pwd|secret|token|credential|auth|^key$|api_?key")
_RAW_PARAM = re.compile(r"([?&;]([^=&;#]*)=)([^&;#]*)")
_RAW_USERINFO = re.compile(r"^([^:/?#]*://[^:@/?#]*):[^@/?#]*@")


def safe_url(url: str) -> str:
    """The URL without its credentials: the password, and every secret query parameter
    (``?password=…`` is as much a password as ``user:password@``)."""
    try:
        parsed = make_url(url)
    except Exception:  # not parsable: hide what looks like a credential
        masked = _RAW_USERINFO.sub(r"\1:***@", url)
        return _RAW_PARAM.sub(
            lambda m: m[1] + "***" if _SECRET_PARAM.search(m[2]) else m[0], masked
        )
    shown = parsed.render_as_string(hide_password=True)
    return _RAW_PARAM.sub(lambda m: m[1] + "***" if _SECRET_PARAM.search(m[2]) else m[0], shown)


def url_secrets(url: str) -> list[str]:
    """The credential values in ``url`` (its password, its secret query parameters)."""
    try:
        parsed = make_url(url)
    except Exception:
        return [m[3] for m in _RAW_PARAM.finditer(url) if m[3] and _SECRET_PARAM.search(m[2])]
    found = [parsed.password] if parsed.password else []
    for key, value in parsed.query.items():
        if _SECRET_PARAM.search(key):
            found += [value] if isinstance(value, str) else list(value)
    return [str(v) for v in found if v]


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's or SQLAlchemy's message) with ``url`` shown only as
    :func:`safe_url` shows it and none of its credentials, wherever they appear."""
    text = text.replace(url, safe_url(url))
    for secret in sorted(url_secrets(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def now() -> datetime:
    """The moment every stored time is taken at (UTC)."""
    return datetime.now(UTC)


def db_text(value: str | None) -> str | None:
    """Error text as both databases store it: PostgreSQL refuses NUL characters."""
    return None if value is None else value.replace("\x00", "")


def clip(value: str | None, length: int | None) -> str | None:
    """A label cut to its column: PostgreSQL refuses a longer one, SQLite would keep it."""
    if value is None or length is None:
        return value
    return value[:length]
