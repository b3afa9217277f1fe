"""Leases and their fencing tokens, on SQLite and PostgreSQL: one replica per account,
a takeover only once a lease expired, and a stalled replica unable to save anything
after it (its page's transaction rolls back whole)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from datetime import timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import make_url, text, update

from leadsync.config.accounts import Account
from leadsync.config.templates import resolve_model
from leadsync.connectors.hubspot.connector import HubSpotConnector
from leadsync.connectors.ratelimit import RateLimiter
from leadsync.connectors.retry import RetryPolicy
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.errors import ConfigError, StateError
from leadsync.sync import database
from leadsync.sync.database import now
from leadsync.sync.leases import LeaseLost, Leases
from leadsync.sync.migrations import leases as leases_table
from leadsync.sync.pipeline import Sync
from leadsync.sync.state import StateStore

TTL = timedelta(seconds=30)
KIRITIMATI = timezone(timedelta(hours=14))


@pytest.fixture
def store(state_url) -> Iterator[StateStore]:
    store = StateStore(state_url)
    yield store
    store.close()


def replica(store: StateStore, name: str, ttl: timedelta = TTL) -> Leases:
    return Leases(store.engine, name, ttl)


def expire(store: StateStore, account_id: str) -> None:
    """The lease's holder stalled (or died) past its expiry, without waiting for it.

    The moment is given in UTC+14: its wall-clock time is still ahead of UTC's, so a
    store that kept wall-clock times (SQLite's text) would take the lease for live.
    """
    with store.engine.begin() as conn:
        conn.execute(
            update(leases_table)
            .where(leases_table.c.account_id == account_id)
            .values(expires_at=(now() - timedelta(seconds=1)).astimezone(KIRITIMATI))
        )


def score_row(lead_id: str) -> dict[str, Any]:
    return {"lead_id": lead_id, "score": Decimal(5), "tier": "cold", "model": "m@1",
            "digest": "d", "mql_armed": True}  # fmt: skip


def in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Run ``work`` on a thread of its own; its result (or exception) lands in the list."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(work())
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def test_acquire_is_exclusive_until_released(store):
    a, b = replica(store, "a"), replica(store, "b")
    lease = a.acquire("acme")
    assert lease is not None and (lease.holder, lease.token) == ("a", 1)
    assert lease.expires_at - now() > TTL - timedelta(seconds=5)
    assert b.acquire("acme") is None
    assert b.acquire("globex") is not None  # leases are per account

    again = a.acquire("acme")  # one's own lease is re-taken, with a new token
    assert again is not None and again.token == 2
    info = a.all()["acme"]
    assert (info.holder, info.token, info.live) == ("a", 2, True)
    assert info.expires_at == again.expires_at

    a.release(again)
    assert a.all()["acme"].live is False
    taken = b.acquire("acme")
    assert taken is not None and (taken.holder, taken.token) == ("b", 3)


def test_a_replica_id_must_fit_its_column(store):
    with pytest.raises(ConfigError, match="replica id"):
        replica(store, "r" * 129)
    assert replica(store, "r" * 128).acquire("acme") is not None
    with pytest.raises(ConfigError, match="no account id is longer than 64"):
        replica(store, "a").acquire("x" * 65)  # e.g. leadsync forget --account


def test_an_expired_lease_is_taken_over_and_fences_its_old_holder_out(store):
    a, b = replica(store, "a"), replica(store, "b")
    old = a.acquire("acme")
    assert old is not None
    expire(store, "acme")
    new = b.acquire("acme")
    assert new is not None and (new.holder, new.token) == ("b", 2)

    assert a.renew(old) is False
    with pytest.raises(LeaseLost, match="acme"), store.transaction() as conn:
        store.set_cursor(conn, "acme", "backfill", "page-9")
        store.save_scores(conn, "acme", [score_row("1")])
        a.fence(conn, old)
    # nothing of the stalled replica's page was saved
    assert store.cursor("acme", "backfill") is None
    assert store.scores("acme", ["1"]) == {}

    a.release(old)  # a stale release frees nothing
    assert a.all()["acme"].holder == "b" and a.all()["acme"].live
    assert b.renew(new) is True


def test_the_token_decides_not_the_clock(store):
    """A lease past its expiry that nobody re-took is still its holder's to renew."""
    a = replica(store, "a")
    lease = a.acquire("acme")
    assert lease is not None
    expire(store, "acme")
    assert a.all()["acme"].live is False
    with store.transaction() as conn:
        a.fence(conn, lease)
        store.set_cursor(conn, "acme", "backfill", "page-2")
    assert store.cursor("acme", "backfill") == "page-2"
    assert a.all()["acme"].live is True
    assert replica(store, "b").acquire("acme") is None


def test_two_replicas_acquiring_at_once_get_one_lease(store):
    """Two connections race for 20 accounts, half free and half expired: one wins each."""
    accounts = [f"acct-{n}" for n in range(20)]
    setup = replica(store, "old")
    for account in accounts[10:]:
        assert setup.acquire(account) is not None
        expire(store, account)
    contenders = [replica(store, "a"), replica(store, "b")]
    start = threading.Barrier(2)
    won: dict[str, list[Any]] = {name: [] for name in ("a", "b")}

    def race(leases: Leases) -> None:
        for account in accounts:
            start.wait(30)
            won[leases.holder].append(leases.acquire(account))

    threads = [threading.Thread(target=race, args=(c,)) for c in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for n, account in enumerate(accounts):
        results = [won["a"][n], won["b"][n]]
        winners = [lease for lease in results if lease is not None]
        assert len(winners) == 1, (account, results)
        assert winners[0].token == (1 if n < 10 else 2)
        assert setup.all()[account].holder == winners[0].holder


@pytest.mark.parametrize("outcome", ["commit", "rollback"])
def test_a_fenced_page_holds_off_a_takeover_until_it_ends(store, outcome):
    """While a page's transaction that fenced an expired lease is open, another replica's
    acquire waits (the fencing UPDATE's row lock on PostgreSQL, the single writer on
    SQLite); once it commits the lease is live again, once it rolls back it is taken."""
    a, b = replica(store, "a"), replica(store, "b")
    lease = a.acquire("acme")
    assert lease is not None
    expire(store, "acme")

    failing = pytest.raises(RuntimeError) if outcome == "rollback" else nullcontext()
    with failing, store.transaction() as conn:
        a.fence(conn, lease)
        store.set_cursor(conn, "acme", "backfill", "page-3")
        thread, out = in_thread(lambda: b.acquire("acme"))
        time.sleep(0.3)
        assert thread.is_alive() and out == [], "the acquire did not wait for the page"
        if outcome == "rollback":
            raise RuntimeError("the page failed")
    thread.join(30)
    assert not thread.is_alive()
    (taken,) = out
    if outcome == "commit":
        assert taken is None
        assert store.cursor("acme", "backfill") == "page-3"
        assert a.renew(lease) is True
    else:
        assert taken is not None and (taken.holder, taken.token) == ("b", 2)
        assert store.cursor("acme", "backfill") is None
        assert a.renew(lease) is False


def test_a_run_whose_lease_was_taken_over_stops_without_saving_its_page(store, monkeypatch):
    """The pipeline with the lease's fence as its guard: once another replica took the
    account over (after page 1), the stalled run's next page saves nothing."""
    sandbox = HubSpotSandbox(
        contacts=250, seed=5, search_per_second=10_000, ten_second_limit=10**6
    ).start()
    try:
        monkeypatch.setenv("LEASE_TEST_TOKEN", sandbox.token)
        account = Account.model_validate(
            {"id": "acme", "crm": "hubspot", "credentials": {"token": "LEASE_TEST_TOKEN"},
             "host": sandbox.url}
        )  # fmt: skip
        a, b = replica(store, "a"), replica(store, "b")
        lease = a.acquire("acme")
        assert lease is not None
        taken: list[Any] = []

        def take_over(_report: Any) -> None:
            if not taken:
                expire(store, "acme")
                taken.append(b.acquire("acme"))

        connector = HubSpotConnector(
            account,
            limiter=RateLimiter.for_hubspot(10**6, window_s=0.2, search_per_s=10_000),
            policy=RetryPolicy(base_s=0.01, cap_s=0.05, window_s=0.05, secondly_s=0.01),
            group=100,  # pages of 100 contacts: three of them
        )
        sync = Sync(
            account,
            connector,
            store,
            resolve_model("b2b-saas"),
            guard=lambda conn: a.fence(conn, lease),
            replica="a",
        )
        try:
            with pytest.raises(LeaseLost):
                sync.run("backfill", on_page=take_over)
        finally:
            connector.close()
    finally:
        sandbox.stop()
    assert taken[0] is not None and taken[0].holder == "b"
    cursor = store.cursor("acme", "backfill")
    assert cursor is not None  # page 1's, saved while the lease was ours
    assert len(list(store.known_leads("acme"))) == 100  # page 2 saved nothing
    (run,) = store.runs("acme")  # ended where b took over; its own end does not undo that
    assert (run.status, run.replica) == ("interrupted", "a")
    assert "found when b took the account's lease" in (run.error or "")


def test_one_replica_id_in_two_processes_is_two_holders(store):
    """Two daemons started with one ``--replica-id`` (PID 1 in two containers): the
    lease is the instance's that took it, whatever id they share."""
    first, second = replica(store, "pod:1"), replica(store, "pod:1")
    assert first.instance != second.instance
    lease = first.acquire("acme")
    assert lease is not None and lease.instance == first.instance
    assert second.acquire("acme") is None
    again = first.acquire("acme")  # its own process re-takes it
    assert again is not None and again.token == 2
    held = second.get("acme")
    assert held is not None and (held.holder, held.instance) == ("pod:1", first.instance)


def test_taking_a_lease_marks_the_runs_its_holder_left_running_interrupted(store):
    a, b = replica(store, "a"), replica(store, "b")
    assert a.acquire("acme") is not None
    run_id = store.start_run("acme", "backfill", "a")
    store.start_run("globex", "backfill", "a")
    assert b.acquire("acme") is None
    assert store.runs("acme")[0].status == "running"  # a still holds it: never marked
    expire(store, "acme")
    assert b.acquire("acme") is not None
    (run,) = store.runs("acme")
    assert run.status == "interrupted" and run.ended_at is not None
    assert "found when b took the account's lease" in (run.error or "")
    store.finish_run(run_id, "failed", {}, "late")  # a's late end does not undo it
    assert store.runs("acme")[0].status == "interrupted"
    assert store.runs("globex")[0].status == "running"  # another account's run


@pytest.mark.parametrize("state_backend", ["sqlite"])
def test_on_sqlite_a_dead_holders_lease_is_free_at_once(store):
    """The holder's process lock file is released by the kernel when it dies (here: its
    handle closed); a live holder keeps its lease, an ended one frees it at once."""
    a, b = replica(store, "a"), replica(store, "b")
    globex = a.acquire("globex")
    assert a.acquire("acme") is not None and globex is not None
    assert b.acquire("acme") is None
    assert a._liveness is not None and a._liveness._handle is not None
    a._liveness._handle.close()  # what SIGKILL does to the lock
    taken = b.acquire("acme")
    assert taken is not None and (taken.holder, taken.token) == ("b", 2)
    assert a.renew(globex) is True  # a lease nobody asked for stays as it is
    c = replica(store, "c")
    b.close()  # a clean end: its lock file is gone
    assert c.acquire("acme") is not None and c.acquire("globex") is not None


def test_a_replica_stalled_at_its_task_create_does_not_duplicate_the_task(store, monkeypatch):
    """Replica a passes its lease check for a task batch, then stalls before the create
    reaches the CRM; b takes the account over and finds the crossings pending and no task
    with their keys — they are in flight, so it leaves them for a later run; then a's
    create goes out, and b's next run finds the tasks by key. One task per lead."""
    sandbox = HubSpotSandbox(
        contacts=100, seed=5, search_per_second=10_000, ten_second_limit=10**6
    ).start()
    try:
        monkeypatch.setenv("LEASE_STALL_TOKEN", sandbox.token)
        account = Account.model_validate(
            {"id": "acme", "crm": "hubspot", "credentials": {"token": "LEASE_STALL_TOKEN"},
             "host": sandbox.url}
        )  # fmt: skip
        model = resolve_model("b2b-saas")

        def connector() -> HubSpotConnector:
            return HubSpotConnector(
                account,
                limiter=RateLimiter.for_hubspot(10**6, window_s=0.2, search_per_s=10_000),
                policy=RetryPolicy(base_s=0.01, cap_s=0.05, window_s=0.05, secondly_s=0.01),
            )

        a, b = replica(store, "a"), replica(store, "b")
        lease_a = a.acquire("acme")
        assert lease_a is not None
        stalled = connector()
        send = stalled.create_tasks

        stalled_once: list[bool] = []

        def run_b() -> None:
            lease_b = b.acquire("acme")
            assert lease_b is not None
            other = connector()
            try:
                Sync(account, other, store, model, guard=lambda c: b.fence(c, lease_b),
                     replica="b").run("incremental")  # fmt: skip
            finally:
                other.close()

        def stall_then_create(tasks: Any, fence: Any = None) -> Any:
            def passed_then_stalled() -> None:
                fence()  # the lease is still a's: the check passes...
                if not stalled_once:  # ...and a stalls before its first request goes out
                    stalled_once.append(True)
                    expire(store, "acme")
                    run_b()  # b takes the account over meanwhile

            return send(tasks, passed_then_stalled)

        monkeypatch.setattr(stalled, "create_tasks", stall_then_create)
        try:
            with pytest.raises(LeaseLost):
                Sync(account, stalled, store, model, guard=lambda c: a.fence(c, lease_a),
                     replica="a").run("backfill")  # fmt: skip
        finally:
            stalled.close()
        per_lead = _task_leads(sandbox)
        assert per_lead and max(per_lead.values()) == 1
        expire(store, "acme")
        run_b()  # later: the crossings a left pending are settled by key, none created again
        assert _task_leads(sandbox) == per_lead or max(_task_leads(sandbox).values()) == 1
        assert max(_task_leads(sandbox).values()) == 1
    finally:
        sandbox.stop()


def _task_leads(sandbox: HubSpotSandbox) -> dict[str, int]:
    """Tasks per contact, read through the API."""
    from collections import Counter

    from hubspot import HubSpot

    client = HubSpot(access_token=sandbox.token, host=sandbox.url)
    found: Counter[str] = Counter()
    after = None
    while True:
        page = client.crm.objects.tasks.basic_api.get_page(
            limit=100, after=after, associations=["contacts"]
        )
        for task in page.results:
            found.update(a.id for a in task.associations["contacts"].results)
        if page.paging is None or page.paging.next is None:
            return dict(found)
        after = page.paging.next.after


@pytest.mark.parametrize("state_backend", ["postgresql"])
def test_a_replica_stalled_inside_a_page_does_not_hold_the_account_forever(state_url, monkeypatch):
    """A replica stopped (SIGSTOP, a frozen VM) inside a page's transaction keeps the
    lease row's lock: PostgreSQL ends that transaction once it has been idle for
    ``IDLE_IN_TRANSACTION_S``, so another replica takes the account over, and the stalled
    one, resuming, saves nothing and is told why in words."""
    monkeypatch.setattr(database, "IDLE_IN_TRANSACTION_S", 1)
    stalled_store, other_store = StateStore(state_url), StateStore(state_url)
    try:
        a, b = replica(stalled_store, "a"), replica(other_store, "b")
        lease = a.acquire("acme")
        assert lease is not None
        expire(other_store, "acme")
        refused = pytest.raises(StateError, match="did not complete this step")
        with refused as stopped, stalled_store.transaction() as conn:
            a.fence(conn, lease)
            stalled_store.set_cursor(conn, "acme", "backfill", "page-3")
            thread, out = in_thread(lambda: b.acquire("acme"))  # a stalls here
            thread.join(30)
            assert not thread.is_alive(), "the takeover still waits on the stalled page"
            stalled_store.set_cursor(conn, "acme", "backfill", "page-4")  # a resumes
        assert "idle-in-transaction timeout" in str(stopped.value)
        (taken,) = out
        assert taken is not None and (taken.holder, taken.token) == ("b", 2)
        assert other_store.cursor("acme", "backfill") is None
        assert a.renew(lease) is False
    finally:
        stalled_store.close()
        other_store.close()


@pytest.mark.parametrize("state_backend", ["postgresql"])
def test_a_state_url_may_set_its_own_idle_in_transaction_timeout(state_url):
    """leadsync's default, unless the URL's ``options`` name the setting."""
    own = make_url(state_url)
    options = f"{own.query['options']} -cidle_in_transaction_session_timeout=7s"
    own = own.update_query_dict({"options": options}).render_as_string(hide_password=False)
    setting = "SELECT setting FROM pg_settings WHERE name = 'idle_in_transaction_session_timeout'"
    for url, expected_ms in ((state_url, database.IDLE_IN_TRANSACTION_S * 1000), (own, 7000)):
        store = StateStore(url)
        try:
            with store.engine.connect() as conn:
                assert int(conn.scalar(text(setting))) == expected_ms
        finally:
            store.close()
