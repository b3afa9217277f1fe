"""The daemon's operations endpoint: liveness, readiness and Prometheus metrics.

``leadsync daemon --http 127.0.0.1:9464`` serves, on a thread of its own:

- ``GET /healthz`` — 200 ``ok`` while the process serves (liveness: restart it if not);
- ``GET /readyz``  — 200 ``ok``, or 503 with the reason, from the daemon's readiness
  check (the state database answers ``SELECT 1``: :func:`database_ready`; the daemon is
  not shutting down…); a check that takes longer than ``ready_timeout`` is a 503;
- ``GET /metrics`` — the metrics of :class:`leadsync.sync.metrics.Metrics` in the
  Prometheus text format (``prometheus_client.generate_latest``), or in OpenMetrics
  when the scraper's ``Accept`` header asks for it, as Prometheus itself does;
- anything else — 404.

Requests are logged to the ``leadsync.http`` logger at debug level, never to stderr.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from leadsync.errors import ConfigError
from leadsync.sync.database import safe_url, scrub
from leadsync.sync.state import StateStore

__all__ = ["OpsServer", "database_ready", "parse_address"]

log = logging.getLogger("leadsync.http")

Ready = Callable[[], tuple[bool, str]]


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6; an empty host listens everywhere)."""
    host, colon, port = address.strip().rpartition(":")
    if not colon or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(
            f"--http {address!r}: expected HOST:PORT with a port from 0 to 65535, "
            "e.g. 127.0.0.1:9464 (0.0.0.0:9464 listens on every interface)"
        )
    host = host.removeprefix("[").removesuffix("]") or "0.0.0.0"
    return host, int(port)


def database_ready(store: StateStore) -> tuple[bool, str]:
    """Readiness: the state database answers ``SELECT 1``.

    A pooled connection the server dropped (a restart, a failover) is retried once on a
    fresh connection, so a database that came back is not reported as down.
    """
    for attempt in (1, 2):
        try:
            with store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except DBAPIError as exc:
            if exc.connection_invalidated and attempt == 1:
                continue
            return False, _unreachable(store, exc.orig if exc.orig is not None else exc)
        except Exception as exc:  # a driver error outside DBAPI, a closed engine…
            return False, _unreachable(store, exc)
        return True, "ok"
    return False, "state database: unreachable"  # pragma: no cover - the loop returns


def _unreachable(store: StateStore, exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = scrub(" ".join(lines[:2]), store.url)[:300] or type(exc).__name__
    return f"state database {safe_url(store.url)} unreachable: {detail}"


class OpsServer:
    """``/healthz``, ``/readyz`` and ``/metrics`` on ``address`` (``HOST:PORT``).

    The socket is bound at construction, so :attr:`port` is known (``127.0.0.1:0`` picks
    a free port) and a bad or busy address is a :class:`ConfigError` before the daemon
    starts any run. :meth:`start` serves on a daemon thread; :meth:`stop` shuts it down.
    """

    def __init__(
        self,
        address: str,
        registry: CollectorRegistry,
        ready: Ready,
        *,
        ready_timeout: float = 5.0,
    ) -> None:
        host, port = parse_address(address)
        self.registry = registry
        self.ready = ready
        self.ready_timeout = ready_timeout
        self._checks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="leadsync-readyz")
        self._pending: Future[tuple[bool, str]] | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        handler = type("Handler", (_Handler,), {"ops": self})
        server_class = _IPv6Server if ":" in host else _Server
        try:
            self._server = server_class((host, port), handler)
        except socket.gaierror as exc:
            raise ConfigError(
                f"--http {address!r}: unknown host {host!r} ({exc.strerror})"
            ) from None
        except OSError as exc:
            raise ConfigError(f"--http {address!r}: cannot listen there ({exc.strerror})") from None

    @property
    def port(self) -> int:
        """The port bound (the one picked when the address asked for port 0)."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Serve on a daemon thread (it never keeps the process alive)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="leadsync-http",
            daemon=True,
        )
        self._thread.start()
        log.info("serving /healthz /readyz /metrics", extra={"address": self.url})

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()
        self._checks.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> OpsServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def readiness(self) -> tuple[bool, str]:
        """``ready()``, bounded by ``ready_timeout``; concurrent probes share one check."""
        with self._lock:
            if self._pending is None or self._pending.done():
                self._pending = self._checks.submit(self.ready)
            pending = self._pending
        try:
            ok, reason = pending.result(timeout=self.ready_timeout)
        except FutureTimeout:
            return False, f"the readiness check took longer than {self.ready_timeout:g}s"
        except Exception as exc:
            return False, f"the readiness check failed: {type(exc).__name__}: {exc}"
        return bool(ok), str(reason)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    ops: OpsServer
    server_version = "leadsync"
    sys_version = ""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            self._send(200, b"ok\n")
        elif path == "/readyz":
            ok, reason = self.ops.readiness()
            self._send(200 if ok else 503, (reason if not ok else "ok").encode() + b"\n")
        elif path == "/metrics":
            # generate_latest's text format (0.0.4), or OpenMetrics to a scraper asking for it
            encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
            self._send(200, encoder(self.ops.registry), content_type)
        else:
            self._send(404, b"not found: try /healthz, /readyz or /metrics\n")

    def do_HEAD(self) -> None:
        self.do_GET()

    def _send(
        self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8"
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args, extra={"client": self.client_address[0]})
