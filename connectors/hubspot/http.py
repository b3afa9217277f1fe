"""Every HubSpot request of one connector: SDK clients, rate limiter, retries, usage.

The connector never calls hubspot-api-client directly: it names an endpoint and an SDK
method (``"crm.contacts.batch_api.update"``) and :meth:`HubSpotHttp.call` runs it under
the account's :class:`~leadsync.connectors.ratelimit.RateLimiter` and
:func:`leadsync.connectors.retry.call`. Calls use ``_preload_content=False``: the raw
JSON is parsed here (the SDK's model deserialization costs more than the request on
large pages) and the ``X-HubSpot-RateLimit-*`` headers of every answer, success or
error, are fed to the limiter. SDK API objects are built once per access token (each
``HubSpot().crm…`` access builds a new connection pool otherwise).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from hubspot import HubSpot
from urllib3.util.retry import Retry

from leadsync.connectors.hubspot.auth import DEFAULT_HOST, TokenSource
from leadsync.connectors.ratelimit import RateLimiter, parse_hubspot_headers
from leadsync.connectors.retry import Failure, RetryPolicy, call

__all__ = ["HubSpotHttp", "Response", "describe"]

#: Connect and read timeouts of every request, seconds.
TIMEOUT = (10.0, 120.0)


@dataclass(frozen=True, slots=True)
class Response:
    """A 2xx answer: its status (207 = partial batch failure) and decoded JSON body."""

    status: int
    body: dict[str, Any]


def _body(exc: BaseException) -> dict[str, Any]:
    raw = getattr(exc, "body", None)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {"message": str(raw)[:300]}
    return data if isinstance(data, dict) else {}


def describe(exc: BaseException) -> Failure | None:
    """hubspot-api-client's errors as a :class:`Failure` (None: not an API failure).

    Each SDK package has its own ``ApiException`` class, so they are recognised by
    shape (``status`` and ``body``); urllib3 errors (MaxRetryError, dropped or refused
    connections, timeouts) have no status: the request may or may not have arrived.
    """
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        return Failure(None, None, f"{type(exc).__name__}: {exc}")
    if not hasattr(exc, "status") or not hasattr(exc, "body"):
        return None
    status = getattr(exc, "status", None) or None
    body = _body(exc)
    headers: Mapping[str, str] = getattr(exc, "headers", None) or {}
    retry_after: float | None = None
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                retry_after = float(value)
            except ValueError:
                retry_after = None
    window_s = None
    if status == 429:
        limits = parse_hubspot_headers(dict(headers))
        if limits is not None and limits.interval_ms:
            window_s = limits.interval_ms / 1000
    code = body.get("policyName") if body.get("errorType") == "RATE_LIMIT" else None
    code = code or body.get("category") or body.get("subCategory")
    scopes: list[str] = []
    for error in body.get("errors") or []:
        context = (error or {}).get("context") or {}
        scopes += [str(s) for s in context.get("requiredGranularScopes") or []]
    message = str(body.get("message") or getattr(exc, "reason", "") or "no message")
    return Failure(status, retry_after, message, code, tuple(scopes), window_s)


class HubSpotHttp:
    """One account's HubSpot requests: limiter, retry policy, token, usage counters."""

    def __init__(
        self,
        auth: TokenSource,
        *,
        host: str | None,
        limiter: RateLimiter,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.auth = auth
        self.sleep = sleep
        self.host = (host or DEFAULT_HOST).rstrip("/")
        self.limiter = limiter
        self.policy = policy
        self.calls: Counter[str] = Counter()
        self.items: Counter[str] = Counter()
        """Inputs sent to batch endpoints, or results read from the others, by endpoint."""
        self._apis: dict[str, Any] = {}
        self._generation = -1
        self._lock = threading.Lock()

    def api(self, path: str) -> Any:
        """The SDK API object at ``path`` (``"crm.contacts.basic_api"``), for the current token."""
        token = self.auth.token()
        with self._lock:
            if self._generation != self.auth.generation:
                self._close_apis()
                self._generation = self.auth.generation
            api = self._apis.get(path)
            if api is None:
                api = HubSpot(access_token=token, host=self.host, retry=Retry(0))
                for part in path.split("."):
                    api = getattr(api, part)
                self._apis[path] = api
            return api

    def call(
        self,
        name: str,
        method: str,
        *args: Any,
        safe: bool,
        kind: str = "default",
        accept: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> Response:
        """Run SDK ``method`` (``"crm.contacts.batch_api.update"``) as endpoint ``name``.

        ``safe``: repeating it has no further effect (reads, updates with the same
        values); unsafe calls are not retried after a 5xx or a lost connection.
        ``accept``: error statuses returned as a :class:`Response` (e.g. 404 on a GET
        that may find nothing) instead of raised.
        """
        path, _, attr = method.rpartition(".")

        def attempt() -> Response:
            self.calls[name] += 1
            fn: Callable[..., Any] = getattr(self.api(path), attr)
            try:
                raw = fn(*args, _preload_content=False, _request_timeout=TIMEOUT, **kwargs)
            except Exception as exc:
                status = getattr(exc, "status", None)
                if status in accept and hasattr(exc, "body"):
                    return Response(status, _body(exc))
                raise
            self.limiter.observe_hubspot(parse_hubspot_headers(dict(raw.headers)))
            data = json.loads(raw.data) if raw.data else {}
            data = data if isinstance(data, dict) else {}
            sent = args[-1] if args and isinstance(args[-1], dict) else {}
            self.items[name] += len(sent.get("inputs") or data.get("results") or [])
            return Response(raw.status, data)

        def observe(exc: BaseException) -> Failure | None:
            headers = getattr(exc, "headers", None)
            if headers:
                self.limiter.observe_hubspot(parse_hubspot_headers(dict(headers)))
            return describe(exc)

        return call(
            attempt,
            name=name,
            safe=safe,
            describe=observe,
            limiter=self.limiter,
            kind=kind,
            policy=self.policy,
            reauth=self.auth.force_refresh if self.auth.is_oauth else None,
            secrets=self.auth.secrets(),
            sleep=self.sleep,
        )

    def _close_apis(self) -> None:
        for api in self._apis.values():
            client = getattr(api, "api_client", None)
            if client is not None:
                client.close()
                pool = getattr(getattr(client, "rest_client", None), "pool_manager", None)
                if pool is not None:
                    pool.clear()
        self._apis.clear()

    def close(self) -> None:
        """Close every connection pool."""
        with self._lock:
            self._close_apis()
