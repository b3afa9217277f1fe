"""The state store on a real SQLite file: versions, cursors, scores, crossings, runs."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text

from leadsync.errors import ConfigError
from leadsync.sync import migrations
from leadsync.sync.state import Crossing, FailedWrite, StateStore


@pytest.fixture
def store(tmp_path):
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    yield store
    store.close()


def row(lead_id, score="10", **extra):
    return {
        "lead_id": lead_id,
        "score": Decimal(score),
        "tier": "cold",
        "model": "m@1",
        "digest": "d" + lead_id,
        "mql_armed": True,
        "last_task_at": None,
        "crm_stamp": None,
        **extra,
    }


def test_schema_is_versioned_and_reopening_keeps_state(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    first = StateStore(url)
    with first.transaction() as conn:
        first.set_cursor(conn, "acme", "incremental", "c1")
    first.close()
    again = StateStore(url)
    assert again.cursor("acme", "incremental") == "c1"
    with again.engine.connect() as conn:
        assert conn.scalar(text("select version from schema_version")) == len(migrations.STEPS)
        assert conn.scalar(text("pragma journal_mode")) == "wal"
    again.close()


def test_a_newer_schema_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    StateStore(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("update schema_version set version = 99"))
    with pytest.raises(ConfigError, match="upgrade leadsync"):
        StateStore(url)


def test_scores_upsert_and_own_writes(store):
    with store.transaction() as conn:
        store.save_scores(conn, "acme", [row("1"), row("2", crm_stamp="1700")])
        store.save_scores(conn, "acme", [row("1", score="12.5")])
    scores = store.scores("acme", ["1", "2", "3"])
    assert scores["1"].score == Decimal("12.5")
    assert set(scores) == {"1", "2"}
    assert store.own_writes("acme", ["1", "2"]) == {"2": "1700"}
    assert store.scores("other", ["1"]) == {}


def test_cursor_moves_only_with_its_transaction(store):
    with pytest.raises(RuntimeError), store.transaction() as conn:
        store.set_cursor(conn, "acme", "incremental", "new")
        store.save_scores(conn, "acme", [row("1")])
        raise RuntimeError("crash mid-page")
    assert store.cursor("acme", "incremental") is None
    assert store.scores("acme", ["1"]) == {}


def test_crossings_pending_until_created(store):
    with store.transaction() as conn:
        store.add_crossing(
            conn, "acme", Crossing("k1", "1", "contact", "intent", None, {"subject": "s"})
        )
        store.add_crossing(conn, "acme", Crossing("k2", "2", "contact", "intent", None, {}))
    assert [c.key for c in store.pending_crossings("acme")] == ["k1", "k2"]
    store.mark_crossings("acme", {"k1": ("created", "t-9"), "k2": ("failed", None)})
    assert [c.key for c in store.pending_crossings("acme")] == ["k2"]
    assert store.crossing_count("acme", "1") == 1
    assert [(c.key, c.task_id) for c in store.tasks("acme")] == [("k1", "t-9"), ("k2", None)]
    with pytest.raises(Exception), store.transaction() as conn:  # noqa: B017 - unique key
        store.add_crossing(conn, "acme", Crossing("k1", "1", "contact", "intent", None, {}))


def test_failed_writes_count_attempts(store):
    failure = FailedWrite("1", "contact", {"score": "5"}, "locked", 0)
    for _ in range(2):
        with store.transaction() as conn:
            store.record_failed_writes(conn, "acme", [failure])
    assert store.failed_writes("acme")[0].attempts == 2
    with store.transaction() as conn:
        store.clear_failed_writes(conn, "acme", ["1"])
    assert store.failed_writes("acme") == []


def test_runs_and_forget(store):
    run_id = store.start_run("acme", "backfill")
    store.finish_run(run_id, "ok", {"leads": 3}, None)
    (run,) = store.runs("acme")
    assert (run.status, run.counts, run.ended_at.tzinfo is not None) == ("ok", {"leads": 3}, True)
    with store.transaction() as conn:
        store.save_scores(conn, "acme", [row("1"), row("2")])
        store.add_crossing(conn, "acme", Crossing("k1", "1", "contact", "created", "t", {}))
    assert store.forget("acme", ["1"]) == 2
    assert list(store.known_leads("acme")) == ["2"]
