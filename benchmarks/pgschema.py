"""A throwaway PostgreSQL schema for a benchmark's state database, dropped afterwards."""

from __future__ import annotations

from collections.abc import Callable


def throwaway_schema(server: str, schema: str) -> tuple[str, Callable[[], None]]:
    """Create ``schema`` on the ``server`` URL; the state database URL that uses it (its
    search path), and the function that drops it."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(server)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        engine.dispose()

    sep = "&" if "?" in server else "?"
    return f"{server}{sep}options=-csearch_path%3D{schema}", drop
