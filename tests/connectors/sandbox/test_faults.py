"""Fault settings and request counters shared by both sandboxes."""

from __future__ import annotations

import threading

import pytest

from leadsync.connectors.sandbox.faults import Counters, Faults


def test_parse_a_spec() -> None:
    f = Faults.parse("error_rate=0.05, latency_ms=20,burst_429=3")
    assert (f.error_rate, f.latency_ms, f.burst_429, f.drop_rate) == (0.05, 20, 3, 0.0)
    assert Faults.parse("") == Faults()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("eror_rate=0.1", "unknown fault 'eror_rate'"),
        ("error_rate", "needs a value"),
        ("error_rate=lots", "'error_rate' must be a number"),
        ("latency_ms=1.5", "'latency_ms' must be an integer"),
        ("drop_rate=2", "'drop_rate' must be between 0 and 1"),
        ("burst_429=-1", "'burst_429' must be >= 0"),
    ],
)
def test_parse_names_the_bad_key(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Faults.parse(spec)


def test_update_at_run_time_is_validated() -> None:
    f = Faults()
    f.update(error_rate=0.5, slow_ms=100)
    assert f.error_rate == 0.5 and f.slow_ms == 100
    with pytest.raises(ValueError, match="unknown fault 'nope'"):
        f.update(nope=1)
    f.update_from_spec("partial_failure_rate=0.25")
    assert f.partial_failure_rate == 0.25
    f.clear()
    assert f.to_dict() == Faults(seed=f.seed).to_dict()


def test_decisions_are_reproducible_with_a_seed() -> None:
    def run(seed: int) -> list[object]:
        f = Faults(
            error_rate=0.3,
            drop_rate=0.1,
            slow_rate=0.2,
            slow_ms=50,
            partial_failure_rate=0.4,
            seed=seed,
        )
        return [(f.plan(), f.fail_item()) for _ in range(200)]

    assert run(7) == run(7)
    assert run(7) != run(8)
    plans = [p for p, _ in run(7)]
    assert {p.status for p in plans} >= {None, 502, 503}
    assert any(p.drop for p in plans) and any(p.delay_s == 0.05 for p in plans)


def test_a_burst_of_429_is_consumed_then_stops() -> None:
    f = Faults(burst_429=2, latency_ms=5)
    plans = [f.plan() for _ in range(4)]
    assert [p.status for p in plans] == [429, 429, None, None]
    assert all(p.delay_s == 0.005 for p in plans)
    assert f.burst_429 == 0


def test_no_faults_means_no_failures() -> None:
    f = Faults()
    assert all(f.plan().status is None and not f.fail_item() for _ in range(100))


def test_counters_are_thread_safe() -> None:
    c = Counters()

    def hit() -> None:
        for i in range(1000):
            c.record("contacts.list", 200 if i % 10 else 429)

    threads = [threading.Thread(target=hit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    c.record("contacts.search", 200)
    assert c.snapshot() == {"contacts.list": {200: 7200, 429: 800}, "contacts.search": {200: 1}}
    assert c.total() == 8001 and c.total("contacts.list") == 8000 and c.total("nope") == 0
    c.reset()
    assert c.snapshot() == {} and c.total() == 0
