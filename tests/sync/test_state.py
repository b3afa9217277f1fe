"""The state store on a real database, SQLite and PostgreSQL alike: versions, cursors,
scores, crossings, runs, account status, and what each database would do differently
(time zones, decimals, booleans, long id lists, unreachable servers)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, make_url, text

from leadsync.config.settings import Settings
from leadsync.connectors.base import OwnWrite
from leadsync.errors import ConfigError, StateError
from leadsync.sync import migrations
from leadsync.sync.database import safe_url as _safe
from leadsync.sync.runhistory import AccountStatus
from leadsync.sync.state import Crossing, FailedWrite, StateStore

PLUS_TWO = timezone(timedelta(hours=2))


@pytest.fixture
def store(state_url):
    store = StateStore(state_url)
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


def test_schema_is_versioned_and_reopening_keeps_state(state_url):
    first = StateStore(state_url)
    with first.transaction() as conn:
        first.set_cursor(conn, "acme", "incremental", "c1")
    first.close()
    again = StateStore(state_url)
    assert again.cursor("acme", "incremental") == "c1"
    with again.engine.connect() as conn:
        assert conn.scalar(text("select version from schema_version")) == len(migrations.STEPS)
        if again.engine.dialect.name == "sqlite":
            assert conn.scalar(text("pragma journal_mode")) == "wal"
        else:
            assert conn.scalar(text("select count(*) from schema_version")) == 1
    again.close()


def test_a_newer_schema_is_refused(state_url):
    StateStore(state_url).close()
    engine = create_engine(state_url)
    with engine.begin() as conn:
        conn.execute(text("update schema_version set version = 99"))
    engine.dispose()
    with pytest.raises(ConfigError, match="upgrade leadsync"):
        StateStore(state_url)


@pytest.mark.parametrize("state_backend", ["postgresql"])
def test_replicas_starting_together_upgrade_once(state_url):
    """Four stores opening one empty PostgreSQL database at once: the advisory lock lets
    one create the schema, the others find it done."""
    opened: list[StateStore] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def open_store() -> None:
        start.wait()
        try:
            opened.append(StateStore(state_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(opened) == 4
    with opened[0].engine.connect() as conn:
        assert conn.scalar(text("select count(*) from schema_version")) == 1
    for store in opened:
        store.close()


#: Columns with a length, and why no value can outgrow it: the others take values from
#: the CRM or the model (record and task ids, stamps, tier and model names) and have none.
BOUNDED = {
    "account_id": "accounts are validated to 64 characters when the file is loaded",
    "cursors.kind": "leadsync's own names",
    "lead_scores.digest": "leadsync's own hash (32 characters)",
    "lead_scores.inputs": "leadsync's own hash of a record's inputs (32 characters)",
    "score_history.reasons_digest": "leadsync's own hash (32 characters)",
    "crossings.object_type": "leadsync's own names (contact, Lead, Contact)",
    "crossings.state": "leadsync's own names",
    "failed_writes.object_type": "leadsync's own names",
    "runs.kind": "leadsync's own names",
    "runs.status": "leadsync's own names",
    "runs.replica": "cut to its width (StateStore.start_run)",
    "runs.instance": "leadsync's own random id (16 characters)",
    "leases.holder": "a replica id is checked against it at start (Leases)",
    "leases.instance": "leadsync's own random id (16 characters)",
    "account_status.last_error_kind": "cut to its width (StateStore.set_account_status)",
}


def test_no_column_with_a_length_takes_a_value_from_outside():
    bounded = {
        f"{table.name}.{column.name}"
        for table in migrations.metadata.tables.values()
        for column in table.columns
        if getattr(column.type, "length", None)
    }
    explained = {name for name in bounded if name in BOUNDED or name.endswith(".account_id")}
    assert bounded == explained, f"say why these cannot overflow: {bounded - explained}"


def test_long_crm_values_are_saved_whole(store):
    """A Bulk window stamp (73 characters, too long for v2's 64 on PostgreSQL), and ids,
    tiers and model names far longer than any CRM or model uses today."""
    stamp = "bulk:2026-12-02T21:57:27.706Z|2026-12-02T21:57:27.774Z|0055g0000000001AAA"
    lead = "L" * 300
    with store.transaction() as conn:
        store.save_scores(
            conn, "acme", [row(lead, digest="d", tier="t" * 300, model="m" * 300, crm_stamp=stamp)]
        )
        store.add_crossing(conn, "acme", Crossing("k" * 400, lead, "Lead", "intent", None, {}))
        store.record_failed_writes(conn, "acme", [FailedWrite(lead, "Lead", {}, "no", 0)])
    store.mark_crossings("acme", {"k" * 400: ("created", "T" * 300)})
    saved = store.scores("acme", [lead])[lead]
    assert (saved.crm_stamp, saved.tier, saved.model) == (stamp, "t" * 300, "m" * 300)
    assert [(c.key, c.task_id) for c in store.tasks("acme")] == [("k" * 400, "T" * 300)]
    assert [f.lead_id for f in store.failed_writes("acme")] == [lead]


def test_a_v2_database_is_upgraded_in_place(state_url):
    """A database left by the previous release (crm_stamp 64 characters, no instance,
    inputs or task error columns) keeps its rows and takes the long stamp once upgraded."""
    StateStore(state_url).close()
    engine = create_engine(state_url)
    with engine.begin() as conn:  # back to what version 2 created
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE lead_scores ALTER COLUMN crm_stamp TYPE VARCHAR(64)"))
        for table, column in (("leases", "instance"), ("runs", "instance"),
                              ("lead_scores", "inputs"), ("crossings", "error")):  # fmt: skip
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        conn.execute(text("UPDATE schema_version SET version = 2"))
        conn.execute(
            text(
                "INSERT INTO lead_scores (account_id, lead_id, score, tier, model, digest, "
                "mql_armed, crm_stamp, updated_at) VALUES ('acme', '1', '5', 'cold', 'm@1', "
                "'d', true, 's', '2026-01-01 00:00:00+00')"
            )
        )
    engine.dispose()
    store = StateStore(state_url)
    try:
        stamp = "bulk:2026-12-02T21:57:27.706Z|2026-12-02T21:57:27.774Z|0055g0000000001AAA"
        with store.transaction() as conn:
            store.save_scores(conn, "acme", [row("2", crm_stamp=stamp)])
        assert store.own_writes("acme", ["1", "2"]) == {
            "1": OwnWrite("s", ""),
            "2": OwnWrite(stamp, ""),
        }
        with store.engine.connect() as conn:
            assert conn.scalar(text("select version from schema_version")) == len(migrations.STEPS)
            assert conn.execute(text("select instance from runs")).all() == []
    finally:
        store.close()


def test_scores_upsert_and_own_writes(store):
    with store.transaction() as conn:
        store.save_scores(conn, "acme", [row("1"), row("2", crm_stamp="1700", inputs="in2")])
        store.save_scores(conn, "acme", [row("1", score="12.5")])
    scores = store.scores("acme", ["1", "2", "3"])
    assert scores["1"].score == Decimal("12.5")
    assert set(scores) == {"1", "2"}
    assert store.own_writes("acme", ["1", "2"]) == {"2": OwnWrite("1700", "in2")}
    assert store.scores("other", ["1"]) == {}


def test_values_read_back_the_same_on_every_database(store):
    """Decimals keep their digits, booleans stay booleans, moments come back aware in
    UTC whatever zone they were given in (and whatever the session's zone is)."""
    crossed = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=PLUS_TWO)
    with store.transaction() as conn:
        store.save_scores(
            conn,
            "acme",
            [
                row("1", score="12.50", mql_armed=False, last_task_at=crossed),
                row("2", score="-7.125"),
                row("3", score="71"),
            ],
        )
    scores = store.scores("acme", ["1", "2", "3"])
    assert [str(scores[i].score) for i in "123"] == ["12.50", "-7.125", "71"]
    assert scores["1"].mql_armed is False and scores["2"].mql_armed is True
    assert scores["1"].last_task_at == crossed
    assert scores["1"].last_task_at.tzinfo == UTC
    assert scores["1"].last_task_at.hour == 7
    assert scores["2"].last_task_at is None

    # a column left out keeps its value; one given is overwritten
    partial = {"lead_id": "1", "score": Decimal("13"), "tier": "warm", "model": "m", "digest": "x"}
    with store.transaction() as conn:
        store.save_scores(conn, "acme", [partial])
    again = store.scores("acme", ["1"])["1"]
    assert (again.score, again.tier, again.mql_armed, again.last_task_at) == (
        Decimal("13"), "warm", False, crossed,
    )  # fmt: skip


def test_account_status_round_trips(store):
    backoff = datetime(2026, 3, 1, 12, 0, tzinfo=PLUS_TWO)
    naive = datetime(2026, 3, 1, 12, 0)  # taken to be UTC, as leadsync stores moments
    store.set_account_status(
        AccountStatus(
            "acme",
            failures=2,
            last_error="HTTP 503\x00 from the CRM",
            last_error_kind="X" * 100,
            backoff_until=backoff,
            next_run_at=naive,
            api_remaining=10,
            api_limit=100,
        )
    )
    store.set_account_status(AccountStatus("other"))
    status = store.account_status()
    acme = status["acme"]
    assert acme.backoff_until == backoff and acme.backoff_until.tzinfo == UTC
    assert acme.next_run_at == naive.replace(tzinfo=UTC)
    assert acme.last_error == "HTTP 503 from the CRM"  # PostgreSQL refuses NULs
    assert acme.last_error_kind == "X" * 64  # the column's length, on both
    assert (acme.failures, acme.api_remaining, acme.api_limit) == (2, 10, 100)
    assert status["other"] == AccountStatus("other")

    store.set_account_status(AccountStatus("acme", failures=0))  # an update, not a second row
    assert store.account_status()["acme"] == AccountStatus("acme")


def test_long_id_lists_are_read_and_erased_in_chunks(store):
    ids = [str(n) for n in range(1234)]
    with store.transaction() as conn:
        store.save_scores(conn, "acme", [row(i) for i in ids])
        store.record_failed_writes(
            conn, "acme", [FailedWrite(i, "contact", {}, "locked", 0) for i in ids[:700]]
        )
    assert len(store.scores("acme", [*ids, "missing"])) == 1234
    with store.transaction() as conn:
        store.clear_failed_writes(conn, "acme", ids[:600])
    assert len(store.failed_writes("acme")) == 100
    # an iterator: every table is cleared, not only the first
    assert store.forget("acme", iter(ids)) == 1234 + 100
    assert list(store.known_leads("acme")) == []


def test_cursor_moves_only_with_its_transaction(store):
    with pytest.raises(RuntimeError), store.transaction() as conn:
        store.set_cursor(conn, "acme", "incremental", "new")
        store.save_scores(conn, "acme", [row("1")])
        raise RuntimeError("crash mid-page")
    assert store.cursor("acme", "incremental") is None
    assert store.scores("acme", ["1"]) == {}
    with store.transaction() as conn:
        store.set_cursor(conn, "acme", "incremental", "a")
        store.set_cursor(conn, "acme", "incremental", "b")
    assert store.cursor("acme", "incremental") == "b"


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
    assert store.crossing_count("acme", "1") == 1


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
    run_id = store.start_run("acme", "backfill", replica="pod-" + "x" * 200)
    store.finish_run(run_id, "ok", {"leads": 3}, None)
    (run,) = store.runs("acme")
    assert (run.status, run.counts, run.ended_at.tzinfo) == ("ok", {"leads": 3}, UTC)
    assert run.started_at <= run.ended_at and run.replica == ("pod-" + "x" * 200)[:128]
    second = store.start_run("acme", "incremental")
    store.finish_run(second, "failed", {}, "boom\x00")
    assert [(r.id, r.error) for r in store.runs("acme")] == [(second, "boom"), (run_id, None)]
    with store.transaction() as conn:
        store.save_scores(conn, "acme", [row("1"), row("2")])
        store.add_crossing(conn, "acme", Crossing("k1", "1", "contact", "created", "t", {}))
    assert store.forget("acme", ["1"]) == 2
    assert list(store.known_leads("acme")) == ["2"]


# --- URLs and unreachable databases --------------------------------------------------


@pytest.mark.parametrize("state_backend", ["postgresql"])
def test_a_plain_postgresql_url_uses_psycopg_3(state_url):
    plain = make_url(state_url).set(drivername="postgresql").render_as_string(False)
    store = StateStore(plain)
    try:
        assert store.engine.dialect.driver == "psycopg"
        assert store.url == plain
        with store.transaction() as conn:
            store.set_cursor(conn, "acme", "backfill", "p1")
        assert store.cursor("acme", "backfill") == "p1"
    finally:
        store.close()


def test_an_unreachable_server_is_one_clear_message():
    with pytest.raises(ConfigError) as caught:
        StateStore("postgresql+psycopg://leadsync:pg-s3cret@127.0.0.1:1/state")
    message = str(caught.value)
    assert message.startswith(
        "cannot reach the state database at postgresql+psycopg://leadsync:***@127.0.0.1:1/state: "
    )
    assert message.endswith("; check LEADSYNC_DATABASE_URL")
    assert "refused" in message.lower() and "pg-s3cret" not in message
    assert "\n" not in message


def test_an_unopenable_sqlite_file_is_one_clear_message(tmp_path):
    (tmp_path / "state.db").mkdir()  # a folder where the file should be
    with pytest.raises(ConfigError, match="cannot reach the state database at sqlite:///"):
        StateStore(f"sqlite:///{tmp_path / 'state.db'}")


def test_a_missing_driver_or_bad_url_is_a_config_error():
    with pytest.raises(ConfigError, match=r"postgresql\+nosuchdriver://u:\*\*\*@h/db"):
        StateStore("postgresql+nosuchdriver://u:pw@h/db")
    with pytest.raises(ConfigError, match="not a database URL"):
        StateStore("not a url")


def test_safe_hides_the_password_only():
    assert (
        _safe("postgresql+psycopg://u:p%40ss@h:5432/db") == "postgresql+psycopg://u:***@h:5432/db"
    )
    assert _safe("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    assert _safe("sqlite:////var/lib/state.db") == "sqlite:////var/lib/state.db"
    assert "s3cret" not in _safe("garbage://u:s3cret@host")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u@h/db?password=s3cret", "postgresql://u@h/db?password=***"),
        (
            "postgresql+psycopg://u:s3cret@h/db?sslmode=require&sslpassword=s3cret2",
            "postgresql+psycopg://u:***@h/db?sslmode=require&sslpassword=***",
        ),
        ("postgresql://h/db?user=u&PASSWORD=s3cret", "postgresql://h/db?PASSWORD=***&user=u"),
        ("garbage://u@h/db?password=s3cret&x=1", "garbage://u@h/db?password=***&x=1"),
    ],
)
def test_safe_hides_every_credential_query_included(url, shown):
    assert _safe(url) == shown


def test_a_query_password_never_reaches_a_connection_error():
    url = "postgresql://leadsync@127.0.0.1:1/state?password=s3cret-in-query&connect_timeout=2"
    with pytest.raises(ConfigError) as caught:
        StateStore(url)
    message = str(caught.value)
    assert "cannot reach the state database at postgresql://leadsync@127.0.0.1:1/state" in message
    assert "password=***" in message and "s3cret" not in message
    with pytest.raises(ConfigError) as caught:
        StateStore("postgresql://u@h:notaport/db?password=s3cret-in-query")
    assert "s3cret" not in str(caught.value)


# --- settings ------------------------------------------------------------------------


def test_the_database_url_and_password_can_come_from_a_secrets_folder(tmp_path, monkeypatch):
    for name in ("LEADSYNC_DATABASE_URL", "LEADSYNC_DATABASE_PASSWORD", "LEADSYNC_STATE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    monkeypatch.setenv("LEADSYNC_SECRETS_DIR", str(secrets))
    (secrets / "leadsync_database_url").write_text("postgresql+psycopg://leadsync@db:5432/state\n")
    (secrets / "LEADSYNC_DATABASE_PASSWORD").write_text("p@ss:w/rd\n")
    url = make_url(Settings().state_url())
    assert (url.username, url.password, url.host, url.database) == (
        "leadsync", "p@ss:w/rd", "db", "state",
    )  # fmt: skip

    # the environment wins over the folder; a password in the URL wins over the setting
    monkeypatch.setenv("LEADSYNC_DATABASE_URL", "postgresql+psycopg://app:inline@db2/s")
    assert make_url(Settings().state_url()).password == "inline"

    monkeypatch.delenv("LEADSYNC_DATABASE_URL")
    (secrets / "leadsync_database_url").unlink()
    monkeypatch.setenv("LEADSYNC_STATE_PATH", str(tmp_path / "s.db"))
    assert Settings().state_url() == f"sqlite:///{tmp_path / 's.db'}"


@pytest.mark.parametrize("state_backend", ["postgresql"])
def test_a_value_the_database_refuses_is_one_message_and_saves_nothing(store):
    """Should a value ever outgrow its column again, the page's transaction saves nothing
    and says so in one message (a StateError), not with a DataError traceback."""
    with pytest.raises(StateError) as caught, store.transaction() as conn:
        store.set_cursor(conn, "acme", "backfill", "page-2")
        store.save_scores(conn, "acme", [row("1", digest="d" * 65)])
    message = str(caught.value)
    assert "refused a value: value too long for type character varying(64)" in message
    assert "nothing of this step was saved" in message and "INSERT" not in message
    assert store.cursor("acme", "backfill") is None and store.scores("acme", ["1"]) == {}


def test_the_latest_review_is_kept_and_forgetting_a_lead_drops_it(store):
    assert store.latest_review("acme") is None
    store.save_review("acme", "<html>1</html>")
    store.save_review("acme", "<html>2</html>")
    assert store.latest_review("acme") == "<html>2</html>"
    store.forget("acme", ["17"])  # the review may name the lead: made again later
    assert store.latest_review("acme") is None
