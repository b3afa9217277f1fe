"""The client-side rate limiter and the usage-header parsers, on a fake clock."""

from __future__ import annotations

import bisect
import threading
import time
from contextlib import ExitStack

import pytest

from leadsync.connectors.ratelimit import (
    HubSpotRateHeaders,
    RateLimiter,
    SalesforceLimitInfo,
    parse_hubspot_headers,
    parse_sforce_limit_info,
)
from leadsync.errors import CrmRateLimited


class FakeClock:
    """A clock that only moves when someone sleeps; the sleeps are recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds
        time.sleep(0)  # let other threads run


def limiter(clock: FakeClock, **kwargs: object) -> RateLimiter:
    kwargs.setdefault("window_limit", None)
    return RateLimiter(clock=clock, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


def max_in_window(stamps: list[float], period: float) -> int:
    stamps = sorted(stamps)
    return max(i + 1 - bisect.bisect_right(stamps, t - period) for i, t in enumerate(stamps))


# -- headers ----------------------------------------------------------------------------


def test_hubspot_headers_parse_case_insensitively() -> None:
    headers = {
        "x-hubspot-ratelimit-max": "190",
        "X-HubSpot-RateLimit-Remaining": "185",
        "X-HUBSPOT-RATELIMIT-INTERVAL-MILLISECONDS": "10000",
        "X-HubSpot-RateLimit-Daily": "625000",
        "X-HubSpot-RateLimit-Daily-Remaining": "600000",
        "Content-Type": "application/json",
    }
    assert parse_hubspot_headers(headers) == HubSpotRateHeaders(190, 185, 10000, 625000, 600000)


def test_hubspot_headers_partial_absent_or_garbage() -> None:
    h = parse_hubspot_headers(
        {"X-HubSpot-RateLimit-Max": "110", "X-HubSpot-RateLimit-Remaining": "x"}
    )
    assert h == HubSpotRateHeaders(max=110)
    assert parse_hubspot_headers({"Content-Type": "application/json"}) is None  # search
    assert parse_hubspot_headers({}) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("api-usage=18/15000", SalesforceLimitInfo(18, 15000)),
        ("api-usage=25/5000; per-app-api-usage=17/250(appName=x)", SalesforceLimitInfo(25, 5000)),
        ("per-app-api-usage=17/250(appName=x)", None),
        ("", None),
        (None, None),
        ("api-usage=abc", None),
    ],
)
def test_sforce_limit_info(value: str | None, expected: SalesforceLimitInfo | None) -> None:
    assert parse_sforce_limit_info(value) == expected


def test_sforce_remaining() -> None:
    assert SalesforceLimitInfo(14000, 15000).remaining == 1000
    assert SalesforceLimitInfo(16000, 15000).remaining == 0


# -- rolling window ---------------------------------------------------------------------


def test_call_over_the_window_waits_until_the_oldest_leaves() -> None:
    clock = FakeClock()
    rl = limiter(clock, window_limit=190, window_s=10.0)
    for _ in range(190):
        rl.acquire()
    assert clock.sleeps == [] and rl.waits == 0
    assert rl.acquire() == pytest.approx(10.0)
    assert clock.sleeps == [pytest.approx(10.0)]
    assert rl.waits == 1 and rl.waited_s == pytest.approx(10.0)


def test_window_is_rolling_not_fixed() -> None:
    clock = FakeClock()
    rl = limiter(clock, window_limit=10, window_s=10.0)
    for _ in range(6):
        rl.acquire()  # t=0
    clock.now = 5.0
    for _ in range(4):
        rl.acquire()  # t=5
    grants = [rl.acquire() for _ in range(7)]
    # the six from t=0 leave at 10, the four from t=5 only at 15
    assert grants == [10.0] * 6 + [15.0]
    assert max_in_window([0.0] * 6 + [5.0] * 4 + grants, 10.0) == 10


def test_search_bucket_is_counted_apart_from_the_window() -> None:
    clock = FakeClock()
    rl = RateLimiter.for_hubspot(2, clock=clock, sleep=clock.sleep)
    rl.acquire()
    rl.acquire()
    for _ in range(5):
        assert rl.acquire("search") == 0.0
    assert rl.acquire("search") == pytest.approx(1.0)  # 5 per second
    assert rl.acquire("batch") == pytest.approx(10.0)  # the ten-second window, untouched by search
    assert rl.calls == 9


def test_slot_stamps_a_call_at_its_completion() -> None:
    clock = FakeClock()
    rl = limiter(clock, window_limit=2, window_s=10.0)
    with rl.slot():
        clock.now = 3.0  # a slow request: the server may have counted it as late as t=3
    with rl.slot():
        pass
    with rl.slot():
        pass
    assert clock.sleeps == [pytest.approx(10.0)]  # from t=3 to 13, not to 10
    assert clock.now == pytest.approx(13.0)


def test_calls_in_flight_never_expire() -> None:
    clock = FakeClock()
    polled = threading.Event()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        polled.set()

    rl = RateLimiter(window_limit=2, clock=clock, sleep=sleep)
    granted: list[float] = []

    def third() -> None:
        with rl.slot():
            granted.append(clock())

    thread = threading.Thread(target=third)
    with ExitStack() as stack:
        stack.enter_context(rl.slot())
        stack.enter_context(rl.slot())
        clock.sleep(50.0)  # both requests are slow: the window does not free them
        thread.start()
        assert polled.wait(5)
        assert not granted
    thread.join(5)
    assert granted and granted[0] >= 60.0  # stamped when they completed (t >= 50), plus 10 s


# -- the server's view ------------------------------------------------------------------


def test_server_remaining_lower_than_ours_slows_down() -> None:
    clock = FakeClock()
    rl = RateLimiter.for_hubspot(190, clock=clock, sleep=clock.sleep)
    rl.acquire()
    rl.observe_hubspot(HubSpotRateHeaders(max=190, remaining=10, interval_ms=10000))
    grants = [rl.acquire() for _ in range(11)]
    assert grants[:10] == [0.0] * 10
    assert grants[10] == pytest.approx(10.0)


def test_server_remaining_higher_than_ours_changes_nothing() -> None:
    clock = FakeClock()
    rl = limiter(clock, window_limit=5)
    for _ in range(3):
        rl.acquire()
    rl.observe_hubspot(HubSpotRateHeaders(max=5, remaining=4))
    assert [rl.acquire() for _ in range(3)] == [0.0, 0.0, 10.0]


def test_server_max_lower_than_configured_is_adopted() -> None:
    clock = FakeClock()
    rl = limiter(clock, window_limit=190)
    rl.observe_hubspot(HubSpotRateHeaders(max=100, remaining=100))
    for _ in range(100):
        rl.acquire()
    assert rl.acquire() == pytest.approx(10.0)


def test_window_learnt_from_headers_when_not_configured() -> None:
    clock = FakeClock()
    rl = limiter(clock)
    rl.observe_hubspot(HubSpotRateHeaders(max=3, remaining=3, interval_ms=2000))
    assert [rl.acquire() for _ in range(4)] == [0.0, 0.0, 0.0, 2.0]


def test_daily_remaining_from_the_server_wins() -> None:
    clock = FakeClock()
    rl = RateLimiter.for_hubspot(190, daily=1000, reserve=0.1, clock=clock, sleep=clock.sleep)
    rl.observe_hubspot(HubSpotRateHeaders(daily=1000, daily_remaining=105))
    for _ in range(5):
        rl.acquire()
    assert rl.daily_remaining == 100 and rl.daily_used == 900
    with pytest.raises(CrmRateLimited):
        rl.acquire()


def test_salesforce_limit_info_is_adopted() -> None:
    clock = FakeClock()
    rl = RateLimiter.for_salesforce(reserve=0.1, clock=clock, sleep=clock.sleep)
    assert rl.daily_remaining is None and rl.daily_limit is None
    rl.observe_salesforce(SalesforceLimitInfo(used=13000, limit=15000))
    assert rl.daily_limit == 15000 and rl.daily_remaining == 2000
    for _ in range(500):
        rl.acquire()
    with pytest.raises(CrmRateLimited, match="13,500 of 15,000"):
        rl.acquire()
    assert clock.sleeps == []  # no window on Salesforce


# -- the daily budget -------------------------------------------------------------------


def test_daily_reserve_stops_at_the_right_count() -> None:
    clock = FakeClock()
    rl = limiter(clock, daily_limit=1000, daily_reserve=0.1, daily_resets="at midnight")
    for _ in range(900):
        rl.acquire()
    assert rl.daily_used == 900 and rl.daily_remaining == 100
    with pytest.raises(CrmRateLimited) as raised:
        rl.acquire()
    message = str(raised.value)
    assert "900 of 1,000" in message
    assert "10%" in message and "100 calls" in message
    assert "resumes" in message and "at midnight" in message
    assert rl.calls == 900


def test_no_reserve_spends_everything() -> None:
    clock = FakeClock()
    rl = limiter(clock, daily_limit=3, daily_reserve=0.0)
    for _ in range(3):
        rl.acquire()
    with pytest.raises(CrmRateLimited):
        rl.acquire()


def test_bad_reserve_is_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(window_limit=None, daily_reserve=1.5)


# -- throttling -------------------------------------------------------------------------


def test_ten_secondly_429_blocks_a_whole_window() -> None:
    clock = FakeClock()
    rl = limiter(clock, window_limit=100)
    rl.acquire()
    clock.now = 4.0
    assert rl.note_throttled("TEN_SECONDLY_ROLLING") is True
    assert rl.throttled == 1
    assert rl.delay() == pytest.approx(10.0)
    assert rl.acquire() == pytest.approx(14.0)  # not 10.0, when our one call leaves


def test_each_429_of_a_burst_blocks_a_whole_window_even_with_spread_calls() -> None:
    """Issue 12 item 6: the server's window is full of calls we never saw; our own calls,
    spread over the window, leave one by one and must not let the retries through."""
    clock = FakeClock()
    rl = limiter(clock, window_limit=10)
    for second in range(10):  # one call a second: the window full of our own calls
        clock.now = float(second)
        rl.acquire()
    granted = []
    for _ in range(4):  # four 429s in a row
        rl.note_throttled("TEN_SECONDLY_ROLLING")
        granted.append(rl.acquire())
    gaps = [b - a for a, b in zip([9.0, *granted], granted, strict=False)]
    assert gaps == pytest.approx([10.0] * 4)


def test_the_servers_window_length_wins() -> None:
    clock = FakeClock()
    rl = limiter(clock, window_limit=100)
    rl.note_throttled("TEN_SECONDLY_ROLLING", window_s=2.5)
    assert rl.acquire() == pytest.approx(2.5)


def test_retry_after_blocks_the_kind() -> None:
    clock = FakeClock()
    rl = RateLimiter.for_hubspot(190, clock=clock, sleep=clock.sleep)
    assert rl.note_throttled(None, 3.0, kind="search") is True
    assert rl.acquire() == 0.0  # the ten-second window is not blocked
    assert rl.acquire("search") == pytest.approx(3.0)


def test_daily_429_spends_the_budget() -> None:
    clock = FakeClock()
    rl = limiter(clock, window_limit=100, daily_limit=1000)
    rl.note_throttled("DAILY")
    with pytest.raises(CrmRateLimited):
        rl.acquire()


def test_throttle_without_window_is_not_paced() -> None:
    clock = FakeClock()
    rl = RateLimiter.for_salesforce(clock=clock, sleep=clock.sleep)
    assert rl.note_throttled(None, None) is False
    assert rl.throttled == 1


# -- threads ----------------------------------------------------------------------------


def test_threads_never_exceed_the_window() -> None:
    clock = FakeClock()
    rl = RateLimiter.for_hubspot(20, clock=clock, sleep=clock.sleep)
    grants: list[float] = []
    searches: list[float] = []
    lock = threading.Lock()

    def worker(kind: str, out: list[float]) -> None:
        for _ in range(40):
            t = rl.acquire(kind)
            with lock:
                out.append(t)

    threads = [threading.Thread(target=worker, args=("default", grants)) for _ in range(6)]
    threads += [threading.Thread(target=worker, args=("search", searches)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(grants) == 240 and len(searches) == 80
    assert max_in_window(grants, 10.0) <= 20
    assert max_in_window(searches, 1.0) <= 5
    assert rl.calls == 320


def test_concurrency_cap_holds_requests_back() -> None:
    rl = RateLimiter.for_salesforce(max_concurrent=2)
    entered = threading.Event()

    def third() -> None:
        with rl.slot():
            entered.set()

    with ExitStack() as stack:
        stack.enter_context(rl.slot())
        stack.enter_context(rl.slot())
        thread = threading.Thread(target=third)
        thread.start()
        assert not entered.wait(0.05)
    thread.join(5)
    assert entered.is_set()


def test_slot_released_when_the_budget_is_spent() -> None:
    rl = RateLimiter(window_limit=None, daily_limit=1, daily_reserve=0.0, max_concurrent=1)
    with rl.slot():
        pass
    for _ in range(2):  # the semaphore is not leaked by the raise
        with pytest.raises(CrmRateLimited), rl.slot():
            pass


def test_a_429_waits_as_long_as_the_window_its_policy_names() -> None:
    """No Retry-After, no window header (search's 429s carry none): SECONDLY frees in a
    second, the search bucket's; TEN_SECONDLY_ROLLING is the app's ten-second window,
    full for every kind, so it holds search and the rest for that window."""
    clock = FakeClock()
    rl = RateLimiter.for_hubspot(190, clock=clock, sleep=clock.sleep)
    assert rl.note_throttled("SECONDLY", kind="search") is True
    assert rl.delay("search") == pytest.approx(1.0) and rl.delay() == 0.0
    clock.now = 5.0
    assert rl.note_throttled("TEN_SECONDLY_ROLLING", kind="search") is True
    assert rl.delay("search") == pytest.approx(10.0) and rl.delay() == pytest.approx(10.0)
    shrunk = RateLimiter.for_hubspot(190, window_s=0.5, clock=clock, sleep=clock.sleep)
    shrunk.note_throttled("TEN_SECONDLY_ROLLING", kind="search")
    assert shrunk.delay("search") == pytest.approx(0.5)  # the limiter's window knob
    unknown = RateLimiter(window_limit=None, buckets={"search": (5, 1.0)}, clock=clock)
    unknown.note_throttled("TEN_SECONDLY_ROLLING", kind="search")  # window not learnt yet
    assert unknown.delay("search") == pytest.approx(10.0)


def test_a_paced_retry_counts_as_a_rate_limit_wait() -> None:
    clock = FakeClock()
    rl = RateLimiter.for_hubspot(190, clock=clock, sleep=clock.sleep)
    rl.note_waited(2.5)
    assert rl.waits == 1 and rl.waited_s == pytest.approx(2.5)
