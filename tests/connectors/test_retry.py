"""The retry policy: what is retried, how long it waits, and what is finally raised."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from leadsync.connectors.ratelimit import RateLimiter
from leadsync.connectors.retry import Failure, RetryPolicy, call, is_retryable, redact
from leadsync.errors import CrmAuthError, CrmError, CrmRateLimited

TOKEN = "pat-na1-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class ApiError(Exception):
    """Stands for a client library's exception (e.g. hubspot's ApiException)."""

    def __init__(
        self,
        status: int,
        message: str = "boom",
        *,
        retry_after: float | None = None,
        code: str | None = None,
        scopes: tuple[str, ...] = (),
        window_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after
        self.code, self.scopes, self.window_s = code, scopes, window_s


def describe(exc: BaseException) -> Failure | None:
    if isinstance(exc, ApiError):
        return Failure(exc.status, exc.retry_after, exc.message, exc.code, exc.scopes, exc.window_s)
    if isinstance(exc, ConnectionError | TimeoutError):
        return Failure(None, None, str(exc) or type(exc).__name__)
    return None


class Script:
    """A callable that raises each scripted exception in turn, then returns ``"ok"``."""

    def __init__(self, outcomes: Iterable[BaseException]) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.outcomes:
            raise self.outcomes.pop(0)
        return "ok"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def run(clock: FakeClock) -> Callable[..., str]:
    def run(fn: Callable[[], str], *, safe: bool = True, **kwargs: object) -> str:
        kwargs.setdefault("name", "contacts.batch_update")
        return call(fn, safe=safe, describe=describe, sleep=clock.sleep, clock=clock, **kwargs)  # type: ignore[arg-type]

    return run


# -- what is retried --------------------------------------------------------------------


@pytest.mark.parametrize("safe", [True, False])
def test_429_is_retried_even_when_not_safe(run: Callable[..., str], safe: bool) -> None:
    fn = Script([ApiError(429, code="TEN_SECONDLY_ROLLING")])
    assert run(fn, safe=safe) == "ok"
    assert fn.calls == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504, 524, 423, 477])
def test_server_errors_are_retried_when_safe(run: Callable[..., str], status: int) -> None:
    fn = Script([ApiError(status), ApiError(status)])
    assert run(fn, safe=True) == "ok"
    assert fn.calls == 3


@pytest.mark.parametrize("status", [500, 503, 423, 477])
def test_server_errors_are_not_retried_when_not_safe(
    run: Callable[..., str], clock: FakeClock, status: int
) -> None:
    fn = Script([ApiError(status, "Server temporarily unavailable.")])
    with pytest.raises(CrmError) as raised:
        run(fn, safe=False, name="tasks.create")
    assert fn.calls == 1 and clock.sleeps == []
    assert type(raised.value) is CrmError
    assert "tasks.create" in str(raised.value)
    assert f"HTTP {status}" in str(raised.value)
    assert "Server temporarily unavailable." in str(raised.value)


@pytest.mark.parametrize("exc", [ConnectionResetError("reset by peer"), TimeoutError()])
def test_connection_errors_retried_only_when_safe(
    run: Callable[..., str], exc: BaseException
) -> None:
    fn = Script([exc])
    assert run(fn, safe=True) == "ok"
    fn = Script([exc])
    with pytest.raises(CrmError, match="could not reach the CRM"):
        run(fn, safe=False)
    assert fn.calls == 1


def test_unable_to_lock_row_retried_when_safe(run: Callable[..., str]) -> None:
    fn = Script([ApiError(400, "unable to obtain exclusive access", code="UNABLE_TO_LOCK_ROW")])
    assert run(fn, safe=True) == "ok"
    fn = Script([ApiError(400, "unable to obtain exclusive access", code="UNABLE_TO_LOCK_ROW")])
    with pytest.raises(CrmError, match="UNABLE_TO_LOCK_ROW"):
        run(fn, safe=False)


@pytest.mark.parametrize("status", [400, 404, 409])
def test_other_4xx_never_retried(run: Callable[..., str], status: int) -> None:
    fn = Script([ApiError(status, "Property values were not valid", code="VALIDATION_ERROR")])
    with pytest.raises(CrmError) as raised:
        run(fn, safe=True)
    assert fn.calls == 1
    assert "VALIDATION_ERROR" in str(raised.value) and "not valid" in str(raised.value)


def test_gives_up_after_max_attempts(run: Callable[..., str], clock: FakeClock) -> None:
    fn = Script([ApiError(503, "down")] * 10)
    with pytest.raises(CrmError, match="after 6 attempts") as raised:
        run(fn)
    assert fn.calls == 6 and len(clock.sleeps) == 5
    assert "HTTP 503" in str(raised.value)


def test_unknown_exceptions_pass_through(run: Callable[..., str]) -> None:
    fn = Script([KeyError("bug")])
    with pytest.raises(KeyError):
        run(fn)
    assert fn.calls == 1


def test_is_retryable_table() -> None:
    assert is_retryable(Failure(429, None, "x"), safe=False)
    assert not is_retryable(Failure(429, None, "x", "DAILY"), safe=True)
    assert not is_retryable(Failure(403, None, "x", "REQUEST_LIMIT_EXCEEDED"), safe=True)
    assert is_retryable(Failure(None, None, "reset"), safe=True)
    assert not is_retryable(Failure(None, None, "reset"), safe=False)
    assert not is_retryable(Failure(401, None, "x"), safe=True)


# -- how long it waits ------------------------------------------------------------------


def test_retry_after_is_honoured(run: Callable[..., str], clock: FakeClock) -> None:
    assert run(Script([ApiError(429, retry_after=7.0)])) == "ok"
    assert clock.sleeps == [7.0]
    assert run(Script([ApiError(477, "migration", retry_after=30.0)])) == "ok"
    assert clock.sleeps == [7.0, 30.0]


def test_hubspot_policies_without_limiter(run: Callable[..., str], clock: FakeClock) -> None:
    assert run(Script([ApiError(429, code="TEN_SECONDLY_ROLLING")])) == "ok"
    assert clock.sleeps == [10.0]
    clock.sleeps.clear()
    assert run(Script([ApiError(429, code="SECONDLY")] * 2)) == "ok"
    assert clock.sleeps == [1.0, 2.0]


def test_hubspot_window_429_paced_by_the_limiter(run: Callable[..., str], clock: FakeClock) -> None:
    rl = RateLimiter.for_hubspot(190, clock=clock, sleep=clock.sleep)
    fn = Script([ApiError(429, code="TEN_SECONDLY_ROLLING")])
    assert run(fn, limiter=rl) == "ok"
    assert rl.throttled == 1 and rl.calls == 2  # acquired before every attempt
    assert sum(clock.sleeps) == pytest.approx(10.0)  # the window, once, not 10 s more on top


def test_search_429_paced_by_its_bucket(run: Callable[..., str], clock: FakeClock) -> None:
    rl = RateLimiter.for_hubspot(190, clock=clock, sleep=clock.sleep)
    fn = Script([ApiError(429, code="SECONDLY")])
    assert run(fn, limiter=rl, kind="search") == "ok"
    assert sum(clock.sleeps) == pytest.approx(1.0)


def test_backoff_is_exponential_and_capped(run: Callable[..., str], clock: FakeClock) -> None:
    policy = RetryPolicy(max_attempts=8, base_s=0.5, cap_s=3.0, max_total_s=1000.0)
    assert run(Script([ApiError(502)] * 7), policy=policy) == "ok"
    assert len(clock.sleeps) == 7
    assert 0.5 <= clock.sleeps[0] <= 1.0
    assert 1.0 <= clock.sleeps[1] <= 1.5
    assert all(s <= 3.0 for s in clock.sleeps)
    assert clock.sleeps[-1] == 3.0


def test_locked_waits_at_least_two_seconds(run: Callable[..., str], clock: FakeClock) -> None:
    assert run(Script([ApiError(423, "Locked")])) == "ok"
    assert clock.sleeps[0] >= 2.0


def test_total_delay_bounds_the_retries(run: Callable[..., str], clock: FakeClock) -> None:
    fn = Script([ApiError(429, retry_after=100.0)] * 3)
    with pytest.raises(CrmRateLimited, match="frees only in 100s, past this call's retry budget"):
        run(fn, policy=RetryPolicy(max_total_s=120.0))
    assert fn.calls == 2 and clock.sleeps == [100.0]


def test_a_burst_of_window_429s_waits_a_whole_window_each_time(
    run: Callable[..., str], clock: FakeClock
) -> None:
    """Issue 12 item 6: our calls spread over the window must not let retries through early."""
    rl = RateLimiter.for_hubspot(10, clock=clock, sleep=clock.sleep)
    for second in range(10):
        clock.now = float(second)
        rl.acquire()
    fn = Script([ApiError(429, code="TEN_SECONDLY_ROLLING")] * 4)
    assert run(fn, limiter=rl) == "ok"
    assert fn.calls == 5
    assert clock.sleeps == pytest.approx([1.0] + [10.0] * 4)  # a free slot, then 4 windows


def test_the_window_header_sets_the_wait(run: Callable[..., str], clock: FakeClock) -> None:
    fn = Script([ApiError(429, code="TEN_SECONDLY_ROLLING", window_s=2.0)] * 2)
    assert run(fn) == "ok"
    assert clock.sleeps == [2.0, 2.0]
    rl = RateLimiter.for_hubspot(190, clock=clock, sleep=clock.sleep)
    clock.sleeps.clear()
    assert run(Script([ApiError(429, code="TEN_SECONDLY_ROLLING", window_s=2.0)]), limiter=rl)
    assert sum(clock.sleeps) == pytest.approx(2.0)


def test_a_limit_that_frees_past_the_budget_fails_at_once(
    run: Callable[..., str], clock: FakeClock
) -> None:
    rl = RateLimiter.for_hubspot(190, clock=clock, sleep=clock.sleep)
    fn = Script([ApiError(429, retry_after=600.0)])
    with pytest.raises(CrmRateLimited) as raised:
        run(fn, limiter=rl, policy=RetryPolicy(max_total_s=120.0))
    assert "frees only in 600s, past this call's retry budget (120s" in str(raised.value)
    assert "resumes where it left off" in str(raised.value)
    assert clock.sleeps == []  # no wait begun that could not end in time
    with pytest.raises(CrmRateLimited, match="frees only in 600s"):  # the next call too
        run(Script([]), limiter=rl, policy=RetryPolicy(max_total_s=120.0))
    assert clock.sleeps == []


# -- what is finally raised -------------------------------------------------------------


def test_401_is_an_auth_error(run: Callable[..., str]) -> None:
    fn = Script([ApiError(401, "Authentication credentials not found.")])
    with pytest.raises(CrmAuthError) as raised:
        run(fn)
    assert fn.calls == 1
    message = str(raised.value)
    assert "credentials" in message and "expired" in message and "environment variable" in message


def test_401_reauthenticates_once(run: Callable[..., str]) -> None:
    refreshed: list[int] = []
    fn = Script([ApiError(401, "INVALID_SESSION_ID", code="INVALID_SESSION_ID")])
    assert run(fn, safe=False, reauth=lambda: refreshed.append(1)) == "ok"
    assert refreshed == [1]
    fn = Script([ApiError(401, "Session expired")] * 2)
    with pytest.raises(CrmAuthError):
        run(fn, reauth=lambda: refreshed.append(1))
    assert refreshed == [1, 1] and fn.calls == 2


def test_403_missing_scope_names_it(run: Callable[..., str]) -> None:
    fn = Script(
        [
            ApiError(
                403,
                "This app hasn't been granted all required scopes to make this call.",
                code="MISSING_SCOPES",
                scopes=("crm.schemas.contacts.write",),
            )
        ]
    )
    with pytest.raises(CrmAuthError, match=r"lack the scope crm\.schemas\.contacts\.write \("):
        run(fn)
    assert fn.calls == 1


def test_403_permission_code_without_scope(run: Callable[..., str]) -> None:
    fn = Script([ApiError(403, "insufficient access rights", code="INSUFFICIENT_ACCESS")])
    with pytest.raises(CrmAuthError, match="lack a permission"):
        run(fn)


def test_plain_403_is_a_crm_error(run: Callable[..., str]) -> None:
    with pytest.raises(CrmError) as raised:
        run(Script([ApiError(403, "forbidden")]))
    assert type(raised.value) is CrmError


@pytest.mark.parametrize(
    "error",
    [
        ApiError(429, "You have reached your daily limit.", code="DAILY"),
        ApiError(403, "TotalRequests Limit exceeded.", code="REQUEST_LIMIT_EXCEEDED"),
    ],
)
def test_daily_limit_stops_the_run(run: Callable[..., str], error: ApiError) -> None:
    fn = Script([error])
    with pytest.raises(CrmRateLimited, match="daily API limit is spent") as raised:
        run(fn)
    assert fn.calls == 1 and "resumes" in str(raised.value)


def test_daily_429_spends_the_limiter_budget(run: Callable[..., str], clock: FakeClock) -> None:
    rl = RateLimiter.for_hubspot(190, daily=1000, clock=clock, sleep=clock.sleep)
    with pytest.raises(CrmRateLimited):
        run(Script([ApiError(429, code="DAILY")]), limiter=rl)
    with pytest.raises(CrmRateLimited, match="daily API budget spent"):
        run(Script([]), limiter=rl)  # the limiter refuses before calling


# -- secrets ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 500, 400, None])
def test_secrets_never_in_messages(run: Callable[..., str], status: int | None) -> None:
    leaky = (
        f"request headers {{'Authorization': 'Bearer {TOKEN}'}} to "
        f"https://api.hubapi.com/crm/v3?hapikey=abc123&access_token=xyz789 "
        f'body {{"refresh_token": "r-secret-1", "client_secret": "c-secret-2"}} '
        "session 00D5g000004ZxYz!AQcAQH0dMHZfz5.Fsecret"
    )
    exc: BaseException = ConnectionResetError(leaky) if status is None else ApiError(status, leaky)
    with pytest.raises(CrmError) as raised:
        run(Script([exc]), safe=False, secrets=["plain-secret"])
    message = str(raised.value)
    for secret in (TOKEN, "abc123", "xyz789", "r-secret-1", "c-secret-2", "AQcAQH0dMHZfz5"):
        assert secret not in message
    assert "[redacted]" in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_redact_explicit_secrets_and_shapes() -> None:
    assert redact("token is s3cr3t!", ["s3cr3t!"]) == "token is [redacted]"
    assert redact("Authorization: Bearer abc.def") == "Authorization: [redacted]"
    assert redact("sent Bearer abc.def-ghi") == "sent Bearer [redacted]"
    assert redact(f"bad token {TOKEN} given") == "bad token [redacted] given"
    assert redact("nothing secret here") == "nothing secret here"
    assert redact("Basic dXNlcjpwYXNz") == "Basic [redacted]"


@pytest.mark.parametrize(
    "text", ["the app must use OAuth 2.0.", "Bearer auth is required", "basic plan"]
)
def test_redact_leaves_versions_and_words_after_a_scheme(text: str) -> None:
    assert redact(text) == text


def test_retry_log_lines_are_redacted(
    run: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="leadsync.connectors.retry")
    assert run(Script([ApiError(503, f"Bearer {TOKEN} failed")])) == "ok"
    assert "retrying contacts.batch_update" in caplog.text
    assert TOKEN not in caplog.text


def test_redact_quoted_header() -> None:
    text = redact("{'Authorization': 'Basic dXNlcjpwYXNz', 'Accept': 'json'}")
    assert "dXNlcjpwYXNz" not in text and "'Accept': 'json'" in text
