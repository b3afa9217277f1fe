"""HubSpot's rate limits: a rolling ten-second window per token, search per second, a day.

Numbers, headers and 429 bodies follow the facts sheet (``crm-api-facts.md``
§ Rate limits): ``X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds/-Daily/
-Daily-Remaining`` on every response but search; 429 with ``errorType: RATE_LIMIT``
and ``policyName`` TEN_SECONDLY_ROLLING, SECONDLY (search) or DAILY; no Retry-After.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any

__all__ = ["RateLimiter", "rate_limit_body"]


class RateLimiter:
    """HubSpot's limits: a rolling window per token, search per second, a daily count.

    ``check`` returns the violated policy name (or None) and the rate-limit headers
    to send. Windows are configurable so tests stay fast.
    """

    def __init__(self, per_window: int, window_s: float, search_per_s: int, daily: int) -> None:
        self.per_window, self.window_s = per_window, window_s
        self.search_per_s, self.daily = search_per_s, daily
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}
        self._search: deque[float] = deque()
        self._day = ""
        self._day_count = 0

    def check(self, token: str, is_search: bool) -> tuple[str | None, dict[str, str]]:
        """Count one request for ``token``; return the violated policy (or None) and headers."""
        now = time.monotonic()
        with self._lock:
            day = datetime.now(tz=UTC).strftime("%Y-%m-%d")
            if day != self._day:
                self._day, self._day_count = day, 0
            hits = self._hits.setdefault(token, deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            while self._search and self._search[0] <= now - 1.0:
                self._search.popleft()
            policy: str | None = None
            if self._day_count >= self.daily:
                policy = "DAILY"
            elif is_search and len(self._search) >= self.search_per_s:
                policy = "SECONDLY"
            elif not is_search and len(hits) >= self.per_window:
                policy = "TEN_SECONDLY_ROLLING"
            if policy is None:
                self._day_count += 1
                (self._search if is_search else hits).append(now)
            headers = {
                "X-HubSpot-RateLimit-Max": str(self.per_window),
                "X-HubSpot-RateLimit-Remaining": str(max(0, self.per_window - len(hits))),
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.window_s * 1000)),
                "X-HubSpot-RateLimit-Daily": str(self.daily),
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily - self._day_count)),
            }
            return policy, ({} if is_search else headers)

    def exhausted_headers(self) -> dict[str, str]:
        """The headers of a 429 for a full window (an injected burst): no call remaining."""
        with self._lock:
            return {
                "X-HubSpot-RateLimit-Max": str(self.per_window),
                "X-HubSpot-RateLimit-Remaining": "0",
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(self.window_s * 1000)),
                "X-HubSpot-RateLimit-Daily": str(self.daily),
                "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily - self._day_count)),
            }

    def reset(self) -> None:
        """Forget every count (a new day, a fresh window)."""
        with self._lock:
            self._hits.clear()
            self._search.clear()
            self._day_count = 0


def rate_limit_body(policy: str) -> dict[str, Any]:
    """HubSpot's 429 body for a policy (facts sheet § Rate limits)."""
    message = {
        "DAILY": "You have reached your daily limit.",
        "SECONDLY": "You have reached your secondly limit.",
    }.get(policy, "You have reached your ten_secondly_rolling limit.")
    return {"status": "error", "message": message, "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()), "policyName": policy,
            "requestId": str(uuid.uuid4())}  # fmt: skip
