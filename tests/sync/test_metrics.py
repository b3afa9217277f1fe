"""The daemon's metrics and its ops endpoint, scraped over real HTTP."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from leadsync.errors import ConfigError
from leadsync.sync.http import OpsServer, database_ready, parse_address
from leadsync.sync.metrics import Metrics
from leadsync.sync.pipeline import RunReport
from leadsync.sync.state import StateStore

PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


def get(url: str, **headers: str) -> tuple[int, str, str]:
    """Status, content type and body of a GET."""
    try:
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


def scrape(server: OpsServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) → value."""
    status, content_type, body = get(f"{server.url}/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def always_ready() -> tuple[bool, str]:
    return True, "ok"


def report(status: str = "ok", **counts: int) -> RunReport:
    return RunReport(7, "acme", "incremental", False, status=status, counts=Counter(counts))


@pytest.fixture
def metrics():
    return Metrics()


@pytest.fixture
def server(metrics):
    with OpsServer("127.0.0.1:0", metrics.registry, always_ready) as ops:
        yield ops


def test_a_run_report_becomes_metrics(metrics, server):
    acme = {"account": "acme", "crm": "hubspot"}
    metrics.run_started("acme", "hubspot")
    during = scrape(server)
    assert value(during, "leadsync_runs_in_progress", **acme) == 1

    before = time.time()
    metrics.run_finished(
        "acme",
        "hubspot",
        report(
            leads=150,
            writes=120,
            tasks=3,
            api_calls=17,
            rate_limit_waits=2,
            write_failures=1,
            api_daily_remaining=249_000,
            api_daily_limit=250_000,
        ),
        seconds=4.5,
    )
    metrics.run_started("acme", "hubspot")
    metrics.run_finished("acme", "hubspot", report("stopped", leads=10, writes=5), seconds=0.25)
    metrics.run_started("globex", "salesforce")
    metrics.run_failed("globex", "salesforce", "CrmAuthError")
    metrics.backoff("globex", "salesforce", 120)
    metrics.lease_acquired("acme")
    metrics.lease_acquired("acme")
    metrics.lease_lost("acme")

    s = scrape(server)
    globex = {"account": "globex", "crm": "salesforce"}
    assert value(s, "leadsync_runs_total", status="ok", **acme) == 1
    assert value(s, "leadsync_runs_total", status="stopped", **acme) == 1
    assert value(s, "leadsync_runs_total", status="failed", **globex) == 1
    assert value(s, "leadsync_runs_in_progress", **acme) == 0
    assert value(s, "leadsync_runs_in_progress", **globex) == 0
    assert value(s, "leadsync_run_duration_seconds_count", **acme) == 2
    assert value(s, "leadsync_run_duration_seconds_sum", **acme) == 4.75
    assert value(s, "leadsync_run_duration_seconds_bucket", le="5.0", **acme) == 2
    assert value(s, "leadsync_run_duration_seconds_bucket", le="2.5", **acme) == 1
    assert value(s, "leadsync_leads_scored_total", **acme) == 160
    assert value(s, "leadsync_score_writes_total", **acme) == 125
    assert value(s, "leadsync_score_write_failures_total", **acme) == 1
    assert value(s, "leadsync_tasks_created_total", **acme) == 3
    assert value(s, "leadsync_api_calls_total", **acme) == 17
    assert value(s, "leadsync_rate_limit_waits_total", **acme) == 2
    assert value(s, "leadsync_api_daily_remaining", **acme) == 249_000
    assert value(s, "leadsync_api_daily_limit", **acme) == 250_000
    assert value(s, "leadsync_errors_total", kind="CrmAuthError", **globex) == 1
    assert value(s, "leadsync_backoff_seconds", **globex) == 120
    assert before <= value(s, "leadsync_last_success_timestamp_seconds", **acme) <= time.time()
    assert value(s, "leadsync_last_success_timestamp_seconds", **globex) is None
    assert value(s, "leadsync_lease_acquisitions_total", account="acme") == 2
    assert value(s, "leadsync_lease_losses_total", account="acme") == 1

    metrics.backoff("globex", "salesforce", 0)  # cleared
    assert value(scrape(server), "leadsync_backoff_seconds", **globex) == 0


def test_every_run_attempt_is_counted_once_however_it_ends(metrics, server):
    acme = {"account": "acme", "crm": "hubspot"}
    # A failed report, then the exception it raised: one failed run, one error.
    metrics.run_started("acme", "hubspot")
    metrics.run_finished("acme", "hubspot", report("failed", leads=5, api_calls=3), seconds=1)
    metrics.run_failed("acme", "hubspot", "CrmRateLimited")
    # A failure before the run began (the connector's login): a failed run too.
    metrics.run_failed("acme", "hubspot", "CrmAuthError")
    s = scrape(server)
    assert value(s, "leadsync_runs_total", status="failed", **acme) == 2
    assert value(s, "leadsync_errors_total", kind="CrmRateLimited", **acme) == 1
    assert value(s, "leadsync_errors_total", kind="CrmAuthError", **acme) == 1
    assert value(s, "leadsync_runs_in_progress", **acme) == 0
    assert value(s, "leadsync_leads_scored_total", **acme) == 5

    # Another replica takes the account over mid-run: the run ends as lease_lost.
    metrics.run_started("acme", "hubspot")
    assert value(scrape(server), "leadsync_runs_in_progress", **acme) == 1
    metrics.lease_lost("acme")
    metrics.lease_lost("acme")  # said again after the run: a loss, no second run
    s = scrape(server)
    assert value(s, "leadsync_runs_total", status="lease_lost", **acme) == 1
    assert value(s, "leadsync_runs_in_progress", **acme) == 0
    assert value(s, "leadsync_lease_losses_total", account="acme") == 2


def test_every_metric_is_named_documented_and_separate_per_instance(metrics, server):
    families = list(text_string_to_metric_families(get(f"{server.url}/metrics")[2]))
    names = {f.name for f in families}
    assert names >= {
        "leadsync_runs",
        "leadsync_run_duration_seconds",
        "leadsync_leads_scored",
        "leadsync_score_writes",
        "leadsync_tasks_created",
        "leadsync_api_calls",
        "leadsync_rate_limit_waits",
        "leadsync_errors",
        "leadsync_last_success_timestamp_seconds",
        "leadsync_backoff_seconds",
        "leadsync_runs_in_progress",
        "leadsync_lease_acquisitions",
        "leadsync_lease_losses",
    }
    assert all(f.name.startswith("leadsync_") and len(f.documentation) > 20 for f in families)
    counters = {f.name for f in families if f.type == "counter"}
    assert "leadsync_runs" in counters and "leadsync_errors" in counters
    status, content_type, body = get(
        f"{server.url}/metrics", Accept="application/openmetrics-text; version=1.0.0"
    )  # what Prometheus asks for first
    assert status == 200 and content_type.startswith("application/openmetrics-text")
    assert body.endswith("# EOF\n")
    Metrics().run_started("elsewhere", "hubspot")  # its own registry: nothing shows here
    assert "elsewhere" not in get(f"{server.url}/metrics")[2]


def test_health_readiness_and_unknown_paths(metrics, capfd):
    state = {"ready": (True, "ok")}
    with OpsServer("127.0.0.1:0", metrics.registry, lambda: state["ready"]) as ops:
        assert ops.port > 0
        assert get(f"{ops.url}/healthz")[::2] == (200, "ok\n")
        assert get(f"{ops.url}/readyz")[::2] == (200, "ok\n")
        state["ready"] = (False, "shutting down: waiting for 2 runs")
        assert get(f"{ops.url}/readyz")[::2] == (503, "shutting down: waiting for 2 runs\n")
        assert get(f"{ops.url}/healthz")[0] == 200  # alive while not ready
        assert get(f"{ops.url}/nope")[0] == 404
        assert get(f"{ops.url}/metrics/extra")[0] == 404
    out, err = capfd.readouterr()
    assert out == "" and err == ""  # no request log on stderr


def test_an_accounts_latest_review_is_served_read_only(metrics):
    pages = {"acme": "<html>review of acme</html>"}
    with OpsServer("127.0.0.1:0", metrics.registry, always_ready, review=pages.get) as ops:
        status, content_type, body = get(f"{ops.url}/review/acme")
        assert (status, body) == (200, pages["acme"])
        assert content_type.startswith("text/html")
        assert get(f"{ops.url}/review/globex")[0] == 404


def test_readiness_that_raises_or_hangs_is_503(metrics):
    def broken() -> tuple[bool, str]:
        raise RuntimeError("scheduler gone")

    with OpsServer("127.0.0.1:0", metrics.registry, broken) as ops:
        status, _, body = get(f"{ops.url}/readyz")
        assert status == 503 and "scheduler gone" in body

    release = threading.Event()

    def stuck() -> tuple[bool, str]:
        release.wait(10)
        return True, "ok"

    with OpsServer("127.0.0.1:0", metrics.registry, stuck, ready_timeout=0.3) as ops:
        try:
            status, _, body = get(f"{ops.url}/readyz")
            assert status == 503 and "longer than 0.3s" in body
            assert get(f"{ops.url}/healthz")[0] == 200
        finally:
            release.set()


def test_a_bad_address_is_a_config_error():
    for address in ("nohost:abc", "127.0.0.1", "127.0.0.1:99999", ":"):
        with pytest.raises(ConfigError, match="expected HOST:PORT"):
            OpsServer(address, Metrics().registry, always_ready)
    assert parse_address(":9464") == ("0.0.0.0", 9464)
    assert parse_address("[::1]:9464") == ("::1", 9464)
    with pytest.raises(ConfigError, match=r"unknown host 'no-such-host\.invalid'"):
        OpsServer("no-such-host.invalid:9464", Metrics().registry, always_ready)
    with (
        OpsServer("127.0.0.1:0", Metrics().registry, always_ready) as taken,
        pytest.raises(ConfigError, match="cannot listen there"),
    ):
        OpsServer(f"127.0.0.1:{taken.port}", Metrics().registry, always_ready)


def test_database_ready_on_sqlite(tmp_path):
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        assert database_ready(store) == (True, "ok")
    finally:
        store.close()


@pytest.fixture
def throwaway_postgres():
    """A database of its own on the local PostgreSQL, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({exc})")
    name = f"leadsync_ready_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin, name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_readiness_follows_a_postgresql_state_database_that_goes_away(metrics, throwaway_postgres):
    admin, name = throwaway_postgres
    store = StateStore(f"postgresql+psycopg://postgres:s3cret@127.0.0.1:5432/{name}")
    try:
        with OpsServer("127.0.0.1:0", metrics.registry, lambda: database_ready(store)) as ops:
            assert get(f"{ops.url}/readyz")[::2] == (200, "ok\n")
            assert get(f"{ops.url}/readyz")[0] == 200  # a pooled connection now

            # The database goes away under the daemon: its sessions are killed, then
            # the database itself is dropped.
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')

            status, _, body = get(f"{ops.url}/readyz")
            assert status == 503
            assert body.startswith(
                f"state database postgresql+psycopg://postgres:***@127.0.0.1:5432/{name} unreachable:"
            )
            assert "does not exist" in body
            assert "s3cret" not in body
            assert get(f"{ops.url}/healthz")[0] == 200  # alive, not ready

            admin.execute(f'CREATE DATABASE "{name}"')  # back: ready again
            assert get(f"{ops.url}/readyz")[::2] == (200, "ok\n")
    finally:
        store.close()
