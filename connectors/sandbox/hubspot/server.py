"""A local HubSpot: a threaded HTTP server on 127.0.0.1 that speaks HubSpot's API.

leadsync's tests, ``leadsync demo`` and the benchmarks run hubspot-api-client
against it over real HTTP (``HubSpot(access_token=sb.token, host=sb.url)``), so the
connector meets HubSpot's real limits and failure modes without an account:

- Bearer tokens with scopes (401 INVALID_AUTHENTICATION, 403 MISSING_SCOPES);
- the rolling ten-second limit per token, the 5/s search limit, a daily limit,
  ``X-HubSpot-RateLimit-*`` headers (none on search) and 429 bodies with policyName;
- the Enterprise-only events API (403 on the starter and professional profiles);
- both API families, date-based (``/crm/objects/2026-03/…``) and legacy
  (``/crm/v3/…``), from one route table (:mod:`.versions`); ``api=`` refuses the other;
- OAuth apps and the v1 and 2026-03 token endpoints (:mod:`.oauth`);
- injected faults (:class:`~leadsync.connectors.sandbox.faults.Faults`) and request
  counters, readable from Python and over ``/__sandbox/*`` admin endpoints.

Endpoints are in :mod:`leadsync.connectors.sandbox.hubspot.api`; what is emulated,
what is not, and the source of each behaviour are listed in ``README.md``.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Collection
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from leadsync.connectors.sandbox.data import generate
from leadsync.connectors.sandbox.faults import Counters, Faults
from leadsync.connectors.sandbox.hubspot.api import ApiRequest, Route, error_body
from leadsync.connectors.sandbox.hubspot.limits import RateLimiter, rate_limit_body
from leadsync.connectors.sandbox.hubspot.oauth import OAuthApps, endpoint_name
from leadsync.connectors.sandbox.hubspot.objecttypes import canonical_path
from leadsync.connectors.sandbox.hubspot.routes import ALL_SCOPES, ROUTES
from leadsync.connectors.sandbox.hubspot.store import HubSpotStore
from leadsync.connectors.sandbox.hubspot.versions import API_FAMILIES, family_of, to_legacy

__all__ = ["ALL_SCOPES", "PROFILES", "HubSpotSandbox", "RateLimiter", "serve_forever"]

#: Per profile: (requests per ten seconds per token, requests per day, events API on).
PROFILES: dict[str, tuple[int, int, bool]] = {
    "starter": (100, 250_000, False),
    "professional": (190, 625_000, False),
    "enterprise": (190, 1_000_000, True),
}
_EVENTS_403 = (
    "Your app doesn't the have scopes needed to make this call. Do you have access to the "
    "'business-intelligence' scope?  Missing auth details: event-detail-read,"
    "web-analytics-api-access"
)
_AUTH_401 = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


class HubSpotSandbox:
    """A HubSpot account on 127.0.0.1; use as a context manager or ``start``/``stop``.

    ``profile`` picks the limits (starter 100 / professional and enterprise 190 per
    ten seconds) and whether the events API answers (enterprise only).
    ``tokens`` maps extra valid tokens to their scopes; ``self.token`` (every
    scope but ``tickets``: see ``ALL_SCOPES``) is always valid too. ``window_s``,
    ``ten_second_limit`` and ``search_per_second`` override the limits (tests shrink
    them). ``search_lag_s`` delays when changes become visible to search ("new or
    changed records can take a few moments to appear"); 0 makes them searchable at
    once. Data comes from :func:`leadsync.connectors.sandbox.data.generate` with
    ``contacts``/``seed``/``as_of``.
    ``api`` (``"legacy"`` or ``"2026-03"``) serves that API family only, answering 404 on
    the other one's REST paths (the OAuth endpoints of both stay: HubSpot serves v1 OAuth
    until 2027-02-16, and any client may refresh at 2026-03); None serves both.
    """

    def __init__(
        self,
        *,
        contacts: int = 1000,
        seed: int = 0,
        profile: str = "professional",
        port: int = 0,
        faults: Faults | None = None,
        tokens: dict[str, set[str]] | None = None,
        daily_limit: int | None = None,
        as_of: datetime | None = None,
        ten_second_limit: int | None = None,
        window_s: float = 10.0,
        search_per_second: int = 5,
        preload: bool | None = None,
        search_lag_s: float = 0.0,
        api: str | None = None,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
        if api is not None and api not in API_FAMILIES:
            raise ValueError(f"unknown API family {api!r}; use one of {', '.join(API_FAMILIES)}")
        self.api = api
        per_window, daily, events = PROFILES[profile]
        self.profile = profile
        self.events_enabled = events
        self.port = port
        self.faults = faults if faults is not None else Faults()
        self.counters = Counters()
        self.token = "pat-sandbox-" + secrets.token_hex(8)
        self.tokens: dict[str, set[str]] = (
            {k: set(v) for k, v in tokens.items()} if tokens is not None else {}
        )
        self.tokens.setdefault(self.token, set(ALL_SCOPES))
        self.oauth = OAuthApps(
            lambda token: self.tokens.__setitem__(token, set(ALL_SCOPES)),
            lambda token: self.tokens.pop(token, None),
        )
        self.limiter = RateLimiter(
            ten_second_limit or per_window, window_s, search_per_second, daily_limit or daily
        )
        self.store = HubSpotStore(generate(contacts, seed=seed, as_of=as_of))
        self.store.search_lag_s = search_lag_s
        self._preload = contacts <= 50_000 if preload is None else preload
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: pass it as ``host=`` to ``hubspot.HubSpot``."""
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> HubSpotSandbox:
        """Load the data and serve in a background thread; returns self."""
        if self._preload:
            self.store.preload()
        server = _Server(("127.0.0.1", self.port), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="hubspot-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> HubSpotSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----------------------------------------------------------- simulation

    def touch(self, count: int = 10, *, seed: int | None = None) -> list[str]:
        """New activity on ``count`` contacts (see :meth:`HubSpotStore.touch`); their ids."""
        return self.store.touch(count, seed=seed)

    # ------------------------------------------------------------- dispatch

    def route_for(self, method: str, target: str) -> tuple[Route, re.Match[str], str] | None:
        """The route serving a request and its counter name (``contacts.search``…); a dated
        path is served by the legacy route it maps to."""
        path = canonical_path(to_legacy(unquote(urlsplit(target).path).rstrip("/") or "/"))
        for route in ROUTES:
            if route.method == method:
                match = route.pattern.match(path)
                if match is not None:
                    return route, match, route.endpoint.format(**match.groupdict())
        return None

    def endpoint_for(self, method: str, target: str) -> str:
        """The counter name of a request (``unknown`` for a path the sandbox does not serve)."""
        path = to_legacy(unquote(urlsplit(target).path).rstrip("/") or "/")
        found = self.route_for(method, target)
        return found[2] if found else endpoint_name(method, path) or "unknown"

    def handle(
        self, method: str, target: str, headers: Any, raw: bytes
    ) -> tuple[int, Any, dict[str, str], str]:
        """Serve one API request: ``(status, body, headers, endpoint name)``."""
        split = urlsplit(target)
        path = unquote(split.path).rstrip("/") or "/"
        family = family_of(path)
        oauth_path = path.startswith("/oauth/")
        if self.api is not None and family not in (None, self.api) and not oauth_path:
            message = f"No API at {method} {path}: this sandbox serves the {self.api} API only"
            endpoint = self.endpoint_for(method, target)
            return 404, error_body("OBJECT_NOT_FOUND", message), {}, endpoint
        path = canonical_path(to_legacy(path))
        if (oauth := endpoint_name(method, path)) is not None:
            status, body = self.oauth.handle(path, split.query, raw)
            return status, body, {}, oauth
        found = self.route_for(method, target)
        if found is None:
            return 404, error_body("OBJECT_NOT_FOUND", f"No API at {method} {path}"), {}, "unknown"
        route, match, endpoint = found
        auth = headers.get("Authorization") or ""
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        if token not in self.tokens:
            return 401, error_body("INVALID_AUTHENTICATION", _AUTH_401), {}, endpoint
        if endpoint.startswith("events.") and not self.events_enabled:
            return 403, error_body("MISSING_SCOPES", _EVENTS_403), {}, endpoint
        is_search = endpoint.endswith(".search")
        policy, rl_headers = self.limiter.check(token, is_search)
        if policy is not None:
            return 429, rate_limit_body(policy), rl_headers, endpoint
        scope = route.scope
        if match.groupdict().get("obj") == "emails":
            scope = "sales-email-read"
        if scope not in self.tokens[token]:
            body = error_body(
                "MISSING_SCOPES",
                "This app hasn't been granted all required scopes to make this call. Read "
                "more about required scopes here: https://developers.hubspot.com/scopes.",
                errors=[{"message": "One or more of the following scopes are required.",
                         "context": {"requiredGranularScopes": [scope]}}],
                links={"scopes": "https://developers.hubspot.com/scopes"},
            )  # fmt: skip
            return 403, body, rl_headers, endpoint
        try:
            body_in = json.loads(raw) if raw else None
        except ValueError:
            return (
                400,
                error_body("VALIDATION_ERROR", "Invalid input JSON on line 1"),
                rl_headers,
                endpoint,
            )
        req = ApiRequest(method, path, parse_qs(split.query), body_in, len(raw),
                         self.store, self.faults, match)  # fmt: skip
        status, body = route.handler(req)
        return status, body, rl_headers, endpoint

    def admin(self, method: str, path: str, raw: bytes) -> tuple[int, Any]:
        """The ``/__sandbox/*`` endpoints: counters, faults, reset-counters, touch."""
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            return 400, {"error": "body must be JSON"}
        if path == "/__sandbox/counters" and method == "GET":
            snap = self.counters.snapshot()
            return 200, {"counters": {ep: {str(s): n for s, n in by.items()} for ep, by in snap.items()},  # noqa: E501
                         "total": self.counters.total()}  # fmt: skip
        if path == "/__sandbox/faults" and method == "GET":
            return 200, self.faults.to_dict()
        if path == "/__sandbox/faults" and method == "POST":
            try:
                if isinstance(data, dict) and "spec" in data:
                    self.faults.update_from_spec(str(data["spec"]))
                elif isinstance(data, dict):
                    self.faults.update(**data)
            except (ValueError, TypeError) as exc:
                return 400, {"error": str(exc)}
            return 200, self.faults.to_dict()
        if path == "/__sandbox/reset-counters" and method == "POST":
            self.counters.reset()
            return 200, {"ok": True}
        if path == "/__sandbox/touch" and method == "POST":
            count = int(data.get("count", 10)) if isinstance(data, dict) else 10
            return 200, {"touched": self.touch(count)}
        return 404, {"error": f"no admin endpoint {method} {path}"}


class _Server(ThreadingHTTPServer):
    """The threaded server, quiet about clients that went away mid-answer."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed or timed out (a broken pipe, a reset) is not the server's
        error: no traceback on stderr. Anything else is printed as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


def _make_handler(sandbox: HubSpotSandbox) -> type[BaseHTTPRequestHandler]:
    """A request-handler class bound to one sandbox."""

    class Handler(BaseHTTPRequestHandler):
        """HTTP/1.1 keep-alive handler (hubspot-api-client pools connections)."""

        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in separate writes
        server_version = "leadsync-hubspot-sandbox"

        def log_message(self, format: str, *args: Any) -> None:
            """Silence the per-request log line (tests and benchmarks stay quiet)."""

        def _serve(self) -> None:
            """Answer one request: admin, then faults, then the API."""
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path.rstrip("/")
            if path.startswith("/__sandbox/"):
                status, body = sandbox.admin(self.command, path, raw)
                self._send(status, body, {})
                return
            endpoint = sandbox.endpoint_for(self.command, self.path)
            plan = sandbox.faults.plan()
            if plan.drop:
                sandbox.counters.record(endpoint, 0)
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            if plan.delay_s:
                time.sleep(plan.delay_s)
            if plan.status == 429:
                sandbox.counters.record(endpoint, 429)
                headers = (
                    {} if endpoint.endswith(".search") else sandbox.limiter.exhausted_headers()
                )
                self._send(429, rate_limit_body("TEN_SECONDLY_ROLLING"), headers)
                return
            if plan.status is not None:
                sandbox.counters.record(endpoint, plan.status)
                message = "Service Unavailable" if plan.status == 503 else "Bad Gateway"
                self._send(plan.status, error_body("INTERNAL_ERROR", message), {})
                return
            try:
                status, body, headers, endpoint = sandbox.handle(
                    self.command, self.path, self.headers, raw
                )
            except Exception as exc:  # a sandbox bug must still answer like a server
                status, body, headers = 500, error_body("INTERNAL_ERROR", repr(exc)), {}
            write = self.command != "GET" and not endpoint.endswith((".search", ".batch_read"))
            if status < 500 and sandbox.faults.lose_answer(write=write):
                sandbox.counters.record(endpoint, 0)  # served, but the answer never arrives
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            sandbox.counters.record(endpoint, status)
            self._send(status, body, headers)

        def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
            """Write status, headers and the JSON body (none for a 204)."""
            data = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-HubSpot-Correlation-Id", str(uuid.uuid4()))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if data:
                self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    return Handler


def serve_forever(
    *,
    port: int = 0,
    contacts: int = 1000,
    seed: int = 0,
    profile: str = "professional",
    faults: str = "",
    token: str | None = None,
    api: str | None = None,
    print_fn: Callable[[str], object] = print,
    stop: threading.Event | None = None,
    scopes: Collection[str] | None = None,
) -> None:
    """Run a sandbox in the foreground until Ctrl-C (``leadsync sandbox hubspot``).

    Prints the URL, the token and how to point hubspot-api-client and leadsync at
    it. ``faults`` is a :meth:`Faults.parse` spec (a bad one raises ValueError before
    anything starts); ``token`` fixes the token (default: a random one); ``stop``
    lets a caller (a test, an embedding CLI) end the loop without a signal; ``api``
    serves one API family only (``legacy`` or ``2026-03``; default both); ``scopes``
    limits the token to those scopes (default: every one), to see missing-scope errors.
    """
    tokens = {token: set(ALL_SCOPES)} if token else None
    sandbox = HubSpotSandbox(contacts=contacts, seed=seed, profile=profile, port=port,
                             faults=Faults.parse(faults), tokens=tokens, api=api)  # fmt: skip
    if token:
        sandbox.token = token
    if scopes is not None:
        sandbox.tokens[sandbox.token] = set(scopes)
    stop = stop or threading.Event()
    with sandbox:
        url = sandbox.url
        served = f"{api} API only" if api else "2026-03 and legacy APIs"
        print_fn(f"HubSpot sandbox ({profile}, {contacts} contacts, seed {seed}, {served}) "
                 f"at {url}")  # fmt: skip
        print_fn(f"  token:    {sandbox.token}")
        if scopes is not None:
            print_fn(f"  scopes:   {', '.join(sorted(scopes)) or 'none'} (not the others)")
        print_fn(f"  python:   HubSpot(access_token={sandbox.token!r}, host={url!r})")
        print_fn(f"  leadsync: use host {url} and private-app token {sandbox.token}")
        print_fn(f"  admin:    GET {url}/__sandbox/counters")
        print_fn(f'            POST {url}/__sandbox/faults  {{"spec": "error_rate=0.05"}}')
        print_fn(f'            POST {url}/__sandbox/touch   {{"count": 10}}')
        print_fn("Press Ctrl-C to stop.")
        try:
            while not stop.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass
        print_fn("HubSpot sandbox stopped.")
