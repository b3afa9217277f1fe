"""Every HubSpot request of one connector: the client, rate limiter, retries, usage.

The connector names an endpoint (``"contacts.batch_update"``, the sandbox's counter name
too), a method and a path (:class:`~leadsync.connectors.hubspot.paths.ApiPaths`), and
:meth:`HubSpotHttp.request` sends it under the account's
:class:`~leadsync.connectors.ratelimit.RateLimiter` and
:func:`leadsync.connectors.retry.call`.

Requests go through hubspot-api-client's generated ``ApiClient.call_api``: it still
does what it did well (the Bearer header, urllib3 connection pooling, timeouts, its
``ApiException`` with status, body and headers), and it sends any path. Its typed
``*_api`` methods are not used: release 12.0.0 builds only the legacy ``/crm/v3``,
``/crm/v4`` paths, and its ``HubSpot.api_request`` opens a new connection per call with
no timeout. Answers are read raw (``_preload_content=False``) and parsed here (the
SDK's model deserialization costs more than the request on large pages); the
``X-HubSpot-RateLimit-*`` headers of every answer, success or error, feed the limiter.
One ``ApiClient`` (one pool) serves every call of a token; a new token gets a new one.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from hubspot.crm.contacts import ApiClient, Configuration
from urllib3.util.retry import Retry

from leadsync.connectors.hubspot.auth import DEFAULT_HOST, TokenSource
from leadsync.connectors.hubspot.network import network_failure
from leadsync.connectors.ratelimit import RateLimiter, parse_hubspot_headers
from leadsync.connectors.retry import Failure, RetryPolicy, call

__all__ = ["HubSpotHttp", "Query", "Response", "describe"]

#: Connect and read timeouts of every request, seconds.
TIMEOUT = (10.0, 120.0)
#: Query parameters in order; a list value repeats the name (``properties=a&properties=b``).
Query = Mapping[str, str | int | list[str] | None]


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


def ca_bundle() -> str | None:
    """The CA file ``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``) names, None for the
    default (certifi's); ``leadsync`` checks at start that the file exists."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or None


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
        self.netloc = urlsplit(self.host).netloc or self.host
        self.what = getattr(auth, "_what", "HubSpot")  # "HubSpot account 'acme'"
        self.limiter = limiter
        self.policy = policy
        self.calls: Counter[str] = Counter()
        self.items: Counter[str] = Counter()
        """Inputs sent to batch endpoints, or results read from the others, by endpoint."""
        self._client: Any = None
        self._generation = -1
        self._lock = threading.Lock()

    def client(self) -> Any:
        """The SDK ``ApiClient`` for the current token (rebuilt when the token changes)."""
        token = self.auth.token()
        with self._lock:
            if self._client is None or self._generation != self.auth.generation:
                self._close_client()
                config = Configuration(host=self.host)
                config.access_token, config.retries = token, Retry(0)
                # a private CA (a company proxy's), as for Salesforce: the TLS hint's advice
                config.ssl_ca_cert = ca_bundle()
                self._client = ApiClient(configuration=config)
                self._generation = self.auth.generation
            return self._client

    def request(
        self,
        name: str,
        method: str,
        path: str,
        *,
        query: Query | None = None,
        body: dict[str, Any] | None = None,
        safe: bool,
        kind: str = "default",
        accept: tuple[int, ...] = (),
    ) -> Response:
        """Send ``method path`` as endpoint ``name`` (its counter and its retry budget).

        ``query`` values are sent as given (booleans as ``"true"``/``"false"`` text:
        the caller writes them); None values are left out. ``safe``: repeating it has no
        further effect (reads, updates with the same values); unsafe calls are not
        retried after a 5xx or a lost connection. ``accept``: error statuses returned
        as a :class:`Response` (e.g. 404 on a GET that may find nothing) instead of raised.
        """
        params: list[tuple[str, str]] = []
        for key, value in (query or {}).items():
            if isinstance(value, list):
                params += [(key, str(v)) for v in value]
            elif value is not None:
                params.append((key, str(value)))
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"

        def attempt() -> Response:
            self.calls[name] += 1
            try:
                raw = self.client().call_api(
                    path,
                    method,
                    query_params=list(params),
                    header_params=dict(headers),
                    body=body,
                    auth_settings=["oauth2"],
                    _preload_content=False,
                    _request_timeout=TIMEOUT,
                )
            except Exception as exc:
                status = getattr(exc, "status", None)
                if status in accept and hasattr(exc, "body"):
                    return Response(status, _body(exc))
                raise
            self.limiter.observe_hubspot(parse_hubspot_headers(dict(raw.headers)))
            data = json.loads(raw.data) if raw.data else {}
            data = data if isinstance(data, dict) else {}
            self.items[name] += len((body or {}).get("inputs") or data.get("results") or [])
            return Response(raw.status, data)

        def observe(exc: BaseException) -> Failure | None:
            headers = getattr(exc, "headers", None)
            if headers:
                self.limiter.observe_hubspot(parse_hubspot_headers(dict(headers)))
            return network_failure(exc, what=self.what, host=self.netloc) or describe(exc)

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

    def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
            pool = getattr(getattr(client, "rest_client", None), "pool_manager", None)
            if pool is not None:
                pool.clear()

    def close(self) -> None:
        """Close the connection pool."""
        with self._lock:
            self._close_client()
