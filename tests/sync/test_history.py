"""Score history on a real database (SQLite and PostgreSQL): its migration and queries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from leadsync.connectors.base import ScoreWrite
from leadsync.sync import migrations
from leadsync.sync.history import reasons_digest
from leadsync.sync.state import StateStore

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)


def write(lead_id: str, score: str, at: datetime, tier: str = "warm") -> ScoreWrite:
    return ScoreWrite(lead_id, "contact", Decimal(score), tier, f"+{score} demo", "m@1", at)


def test_a_database_at_the_previous_version_gains_the_history_and_keeps_its_state(state_url):
    engine = create_engine(state_url)
    step = migrations.STEPS.index(migrations._v5)
    with engine.begin() as conn:
        migrations.current_version(conn)
        for upgrade in migrations.STEPS[:step]:
            upgrade(conn)
        conn.execute(migrations.schema_version.insert().values(version=step))
        conn.execute(
            text(
                "insert into cursors (account_id, kind, value, updated_at) values ('a', 'incremental', 'c9', :t)"
            ),
            {"t": T0},
        )
        assert "score_history" not in inspect(conn).get_table_names()
    engine.dispose()
    store = StateStore(state_url)
    try:
        assert store.cursor("a", "incremental") == "c9"
        with store.engine.connect() as conn:
            assert "score_history" in inspect(conn).get_table_names()
            assert conn.scalar(text("select version from schema_version")) == len(migrations.STEPS)
    finally:
        store.close()


def test_score_at_a_moment_and_forget(state_url):
    store = StateStore(state_url)
    try:
        plus_two = timezone(timedelta(hours=2))
        with store.transaction() as conn:
            store.history.record(
                conn, "a", [write("l1", "40", T0), write("l2", "10", T0)], Decimal(71)
            )
        with store.transaction() as conn:
            later = (T0 + timedelta(days=3)).astimezone(plus_two)
            store.history.record(conn, "a", [write("l1", "80.5", later, "mql")], Decimal(71))
            store.history.record(conn, "b", [write("l1", "5", later)], Decimal(71))
        first, second = store.history.of("a", "l1")
        assert (first.score, first.tier, first.mql) == (Decimal(40), "warm", False)
        assert (second.score, second.tier, second.mql) == (Decimal("80.5"), "mql", True)
        assert second.scored_at == T0 + timedelta(days=3) and second.scored_at.tzinfo is not None
        assert second.reasons_digest == reasons_digest("+80.5 demo") != first.reasons_digest
        assert store.history.at("a", "l1", T0 - timedelta(seconds=1)) is None
        assert store.history.at("a", "l1", T0) == first
        assert store.history.at("a", "l1", T0 + timedelta(days=2)) == first
        assert store.history.at("a", "l1", T0 + timedelta(days=90)) == second
        assert store.history.became_mql("a", "l1") == second
        assert store.history.became_mql("a", "l2") is None
        removed = store.forget("a", ["l1"])
        assert removed == 2
        assert store.history.of("a", "l1") == [] and len(store.history.of("a", "l2")) == 1
        assert len(store.history.of("b", "l1")) == 1
    finally:
        store.close()


def test_the_history_command(tmp_path):
    path = tmp_path / "state.db"
    store = StateStore(f"sqlite:///{path}")
    with store.transaction() as conn:
        store.history.record(conn, "acme", [write("42", "40", T0)], Decimal(71))
        store.history.record(
            conn, "acme", [write("42", "75", T0 + timedelta(days=5), "mql")], Decimal(71)
        )
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEADSYNC_")}
    env["LEADSYNC_STATE_PATH"] = str(path)
    leadsync = str(Path(sys.executable).with_name("leadsync"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [leadsync, "history", "-a", "acme", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    both = run("-c", "42", "--json")
    assert both.returncode == 0, both.stderr
    assert [json.loads(x)["score"] for x in both.stdout.splitlines()] == ["40", "75"]
    then = run("-c", "42", "--at", "2026-11-03T00:00:00Z", "--json")
    assert [json.loads(x)["tier"] for x in then.stdout.splitlines()] == ["warm"]
    mql = run("-c", "42", "--became-mql", "--json")
    assert [json.loads(x)["score"] for x in mql.stdout.splitlines()] == ["75"]
    table = run("-c", "42")
    assert "scores written for 42" in table.stdout and "mql" in table.stdout
    none = run("-c", "42", "--at", "2026-01-01T00:00:00Z")
    assert none.returncode == 0 and "no score written for 42 at 2026-01-01" in none.stdout
    naive = run("-c", "42", "--at", "2026-01-01T00:00:00")
    assert (
        naive.returncode == 2
        and "has no timezone" in naive.stderr
        and "Traceback" not in naive.stderr
    )


def test_milestones_are_each_leads_first_score_and_first_mql_in_one_query(state_url):
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from leadsync.connectors.base import ScoreWrite

    t0 = datetime(2026, 5, 1, tzinfo=UTC)
    store = StateStore(state_url)

    def write(lead: str, days: int, score: int) -> ScoreWrite:
        return ScoreWrite(lead, "contact", Decimal(score), "x", "r", "m@1", t0 + timedelta(days))

    with store.transaction() as conn:
        store.history.record(
            conn, "acme", [write("1", 0, 10), write("1", 3, 80), write("1", 5, 90)], Decimal(71)
        )
        store.history.record(conn, "acme", [write("2", 1, 20)], Decimal(71))
    try:
        assert store.history.milestones("acme") == {
            "1": (t0, t0 + timedelta(3)),
            "2": (t0 + timedelta(1), None),
        }
    finally:
        store.close()
