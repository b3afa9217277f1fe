"""Client-side rate limiting for one CRM account, and the CRMs' usage headers as typed values.

Why client-side: a 429 costs a round trip and, on HubSpot, counts towards the error rate
the account must keep under 5 %; the daily quota is shared with the account's other
integrations, so leadsync stops while a reserve is left instead of starving them.

One :class:`RateLimiter` is shared by every call of one account (thread-safe). Connectors
wrap each HTTP call in ``with limiter.slot(kind):`` (usually through
:func:`leadsync.connectors.retry.call`, which does it for them) and feed the server's view
back with :meth:`RateLimiter.observe_hubspot` / :meth:`RateLimiter.observe_salesforce`.
Windows are true rolling windows (timestamps in a deque), like HubSpot's own counter.
This module imports no CRM client: headers arrive as plain mappings.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from leadsync.connectors.ratelimit_values import (
    HUBSPOT_POLICIES,
    POLICY_DAILY,
    POLICY_SECONDLY,
    POLICY_TEN_SECONDLY,
    HubSpotPolicy,
    HubSpotRateHeaders,
    SalesforceLimitInfo,
    parse_hubspot_headers,
    parse_sforce_limit_info,
)
from leadsync.errors import CrmRateLimited

__all__ = [
    "HUBSPOT_POLICIES",
    "POLICY_DAILY",
    "POLICY_SECONDLY",
    "POLICY_TEN_SECONDLY",
    "HubSpotPolicy",
    "HubSpotRateHeaders",
    "RateLimiter",
    "SalesforceLimitInfo",
    "parse_hubspot_headers",
    "parse_sforce_limit_info",
]


class _Window:
    """A rolling window: at most ``limit`` calls in any ``period`` seconds.

    ``stamps`` are kept sorted because they are only ever appended with the current clock
    under the limiter's lock; calls still in flight are counted in ``inflight`` and never
    expire, since the server may count them at any moment until they complete.
    """

    __slots__ = ("blocked_until", "inflight", "limit", "period", "stamps")

    def __init__(self, limit: int, period: float) -> None:
        self.limit, self.period = limit, period
        self.stamps: deque[float] = deque()
        self.inflight = 0
        self.blocked_until = 0.0

    def count(self, now: float) -> int:
        while self.stamps and self.stamps[0] <= now - self.period:
            self.stamps.popleft()
        return len(self.stamps) + self.inflight

    def wait(self, now: float) -> float:
        """Seconds until one more call fits (a short poll when only in-flight calls fill it)."""
        delay = max(0.0, self.blocked_until - now)
        excess = self.count(now) - self.limit + 1
        if excess > 0:
            if excess <= len(self.stamps):
                delay = max(delay, self.stamps[excess - 1] + self.period - now)
            else:
                delay = max(delay, min(self.period, 0.05))
        return delay

    def fill(self, now: float, used: int) -> None:
        """Pretend ``used`` calls are in the window (the server counts more than we do)."""
        for _ in range(used - self.count(now)):
            self.stamps.append(now)


class RateLimiter:
    """Paces the calls of one CRM account: rolling windows, a concurrency cap, a daily budget.

    - ``window_limit`` calls per ``window_s`` for every kind not in ``buckets``;
    - ``buckets``: kinds with their own ``(limit, period_s)``, counted apart from the main
      window as HubSpot does for search (``{"search": (5, 1.0)}``);
    - ``daily_limit``: the account's daily quota; once using one more call would leave less
      than ``daily_reserve`` (a fraction) of it, :meth:`slot` raises ``CrmRateLimited``.
      The server's figures, once observed, win over the local count;
    - ``max_concurrent``: requests in flight at once (Salesforce's concurrency cap).

    Use :meth:`slot` around every request: it waits (through the injected ``sleep``) until
    the call fits, holds a concurrency slot, and on exit re-stamps the call at its
    completion time, so the server, which counts at arrival, never sees more than the
    limit even when latency bunches requests up.
    """

    def __init__(
        self,
        *,
        window_limit: int | None,
        window_s: float = 10.0,
        buckets: Mapping[str, tuple[int, float]] | None = None,
        daily_limit: int | None = None,
        daily_reserve: float = 0.1,
        max_concurrent: int | None = None,
        daily_resets: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not 0.0 <= daily_reserve < 1.0:
            raise ValueError(f"daily_reserve must be in [0, 1), got {daily_reserve}")
        self._lock = threading.Lock()
        self._clock, self._sleep = clock, sleep
        self._main = _Window(window_limit, window_s) if window_limit else None
        self._window_s = window_s
        self._buckets = {k: _Window(n, s) for k, (n, s) in (buckets or {}).items()}
        self._slots = threading.BoundedSemaphore(max_concurrent) if max_concurrent else None
        self._daily_limit = daily_limit
        self._reserve = daily_reserve
        self._resets = daily_resets
        self._server_remaining: int | None = None
        self._since_server = 0
        self._calls = 0
        self._waits = 0
        self._waited_s = 0.0
        self._throttled = 0

    @classmethod
    def for_hubspot(
        cls,
        per_10s: int,
        daily: int | None = None,
        reserve: float = 0.1,
        *,
        search_per_s: int = 5,
        window_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RateLimiter:
        """HubSpot: ``per_10s`` per rolling window, search apart (kind ``"search"``), daily."""
        return cls(
            window_limit=per_10s,
            window_s=window_s,
            buckets={"search": (search_per_s, 1.0)},
            daily_limit=daily,
            daily_reserve=reserve,
            daily_resets="at midnight in the HubSpot account's time zone",
            clock=clock,
            sleep=sleep,
        )

    @classmethod
    def for_salesforce(
        cls,
        daily: int | None = None,
        reserve: float = 0.1,
        max_concurrent: int | None = 5,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> RateLimiter:
        """Salesforce: no short window, a 24-hour allocation (learnt from ``Sforce-Limit-Info``
        when ``daily`` is None) and a concurrency cap (5 suits developer orgs too)."""
        return cls(
            window_limit=None,
            daily_limit=daily,
            daily_reserve=reserve,
            max_concurrent=max_concurrent,
            daily_resets="as the org's rolling 24-hour allocation frees up",
            clock=clock,
            sleep=sleep,
        )

    # -- pacing ---------------------------------------------------------------------------

    def _window(self, kind: str) -> _Window | None:
        return self._buckets.get(kind, self._main)

    def acquire(self, kind: str = "default") -> float:
        """Wait until one call of ``kind`` fits, count it, and return the grant time.

        A call counted this way stays stamped at its grant time; prefer :meth:`slot`.
        """
        return self._acquire(kind, inflight=False)[0]

    @contextmanager
    def slot(self, kind: str = "default") -> Iterator[None]:
        """Hold one call of ``kind``: paced, under the concurrency cap, re-stamped at exit."""
        if self._slots is not None:
            self._slots.acquire()
        try:
            window = self._acquire(kind, inflight=True)[1]
            try:
                yield
            finally:
                with self._lock:
                    if window is not None:
                        window.inflight -= 1
                        window.stamps.append(self._clock())
        finally:
            if self._slots is not None:
                self._slots.release()

    def _acquire(self, kind: str, *, inflight: bool) -> tuple[float, _Window | None]:
        waited = False
        while True:
            with self._lock:
                now = self._clock()
                self._check_daily()
                window = self._window(kind)
                delay = window.wait(now) if window is not None else 0.0
                if delay <= 0:
                    if window is not None:
                        if inflight:
                            window.inflight += 1
                        else:
                            window.stamps.append(now)
                    self._calls += 1
                    self._since_server += 1
                    return now, window
                if not waited:
                    self._waits += 1
                    waited = True
                self._waited_s += delay
            self._sleep(delay)

    def _remaining(self) -> int | None:
        if self._server_remaining is not None:
            return max(0, self._server_remaining - self._since_server)
        if self._daily_limit is not None:
            return max(0, self._daily_limit - self._calls)
        return None

    def _check_daily(self) -> None:
        remaining, limit = self._remaining(), self._daily_limit
        if remaining is None:
            return
        reserve = math.ceil((limit or 0) * self._reserve)
        if remaining - 1 >= reserve:
            return
        used = f"{limit - remaining:,} of {limit:,}" if limit else f"{self._calls:,}"
        when = f"; the quota resets {self._resets}" if self._resets else ""
        raise CrmRateLimited(
            f"daily API budget spent: {used} calls used today, and leadsync keeps "
            f"{self._reserve:.0%} ({reserve:,} calls) in reserve for the account's other "
            f"integrations. The run stopped cleanly and resumes where it left off when run "
            f"again{when}."
        )

    # -- what the server says -------------------------------------------------------------

    def observe_hubspot(self, h: HubSpotRateHeaders | None) -> None:
        """Reconcile with a HubSpot response: adopt its window and daily figures.

        When the server has counted more calls in the window than we have (another process
        on the same app, or calls before this one started), the gap is filled so we slow
        down; the server's daily remaining replaces our estimate.
        """
        if h is None:
            return
        with self._lock:
            now = self._clock()
            if h.max is not None:
                if self._main is None:
                    period = h.interval_ms / 1000 if h.interval_ms else 10.0
                    self._main = _Window(h.max, period)
                elif h.max < self._main.limit:
                    self._main.limit = h.max
            if self._main is not None and h.max is not None and h.remaining is not None:
                self._main.fill(now, h.max - h.remaining)
            if h.daily is not None:
                self._daily_limit = h.daily
            if h.daily_remaining is not None:
                self._server_remaining, self._since_server = h.daily_remaining, 0

    def observe_salesforce(self, info: SalesforceLimitInfo | None) -> None:
        """Adopt a ``Sforce-Limit-Info`` reading: the org's allocation and what is left."""
        if info is None:
            return
        with self._lock:
            self._daily_limit = info.limit
            self._server_remaining, self._since_server = info.remaining, 0

    def note_throttled(
        self,
        policy: str | None = None,
        retry_after: float | None = None,
        *,
        kind: str = "default",
        window_s: float | None = None,
    ) -> bool:
        """Record a 429 (or equivalent) for ``kind``; True when the limiter now paces the retry.

        ``DAILY`` spends the daily budget. Otherwise the kind's window is blocked: until
        Retry-After, else for a whole window (``window_s``, the server's, else the one
        the ``policy`` names: :data:`HUBSPOT_POLICIES`, the ten-second one at this
        limiter's ``window_s``; else the kind's own period). The server's window is full
        of calls this limiter may never have seen, and only a whole window surely frees
        it: waiting until our own oldest call leaves would retry at once whenever our
        calls are spread out. A ten-second 429 holds every kind, search included (its
        answers carry no header to say so), not only the one refused.
        """
        with self._lock:
            self._throttled += 1
            now = self._clock()
            if policy == POLICY_DAILY:
                self._server_remaining, self._since_server = 0, 0
                return True
            named = HUBSPOT_POLICIES.get(policy or "")
            window = self._window(kind)
            if window is None and not (named and named.app_wide):
                return False
            if retry_after is not None:
                wait = retry_after
            elif window_s:
                wait = window_s
            elif named is not None:
                wait = self._window_s if named.app_wide else named.window_s
            else:
                wait = window.period if window is not None else self._window_s
            held = [window] if window is not None else []
            if named is not None and named.app_wide and retry_after is None:
                held.append(self._main)
            blocked = [w for w in held if w is not None]
            for w in blocked:
                w.blocked_until = max(w.blocked_until, now + wait)
            return bool(blocked)

    def note_waited(self, seconds: float) -> None:
        """Count a wait the caller made for this limiter (a retry it paced after a 429)."""
        with self._lock:
            self._waits += 1
            self._waited_s += seconds

    def delay(self, kind: str = "default") -> float:
        """Seconds until one call of ``kind`` would fit its window (0: at once)."""
        with self._lock:
            window = self._window(kind)
            return window.wait(self._clock()) if window is not None else 0.0

    # -- counters -------------------------------------------------------------------------

    @property
    def calls(self) -> int:
        """Calls this limiter let through."""
        return self._calls

    @property
    def waits(self) -> int:
        """Calls that had to wait for the window (each counted once)."""
        return self._waits

    @property
    def waited_s(self) -> float:
        return self._waited_s

    @property
    def throttled(self) -> int:
        """429s (or equivalents) reported through :meth:`note_throttled`."""
        return self._throttled

    @property
    def daily_limit(self) -> int | None:
        return self._daily_limit

    @property
    def daily_remaining(self) -> int | None:
        """Calls left today by the latest server figure less our calls since; None if unknown."""
        with self._lock:
            return self._remaining()

    @property
    def daily_used(self) -> int:
        """Calls counted against today's quota: account-wide once known, else ours."""
        with self._lock:
            remaining = self._remaining()
            if remaining is None or self._daily_limit is None:
                return self._calls
            return max(0, self._daily_limit - remaining)
