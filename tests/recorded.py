"""A local HTTP server that plays recorded CRM answers and records what it was asked.

For client-side behaviour the sandbox cannot be made to show (a malformed id, a list
that pages forever, a token endpoint's 503): the connector still goes through its real
client over real HTTP, only the answers are canned. Each rule is ``(method, path
regex, status, JSON body)``; a rule whose body is a callable gets the request and
returns the body, or ``(status, body)`` (so a pager can answer page after page, a token
endpoint fail then succeed). Unmatched requests get 404.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = dict[str, Any] | tuple[int, dict[str, Any]]
Body = dict[str, Any] | Callable[["Asked"], Answer]


@dataclass(frozen=True)
class Asked:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    raw_query: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Recorded:
    """The server; use as a context manager. ``asked`` lists every request, in order."""

    rules: list[tuple[str, str, int, Body]]
    asked: list[Asked] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Recorded:
        recorded = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                split = urlsplit(self.path)
                asked = Asked(self.command, split.path, parse_qs(split.query), split.query,
                              self.rfile.read(length) if length else b"",
                              dict(self.headers.items()))  # fmt: skip
                recorded.asked.append(asked)
                status, body = 404, {"message": f"nothing recorded for {self.command} {split.path}"}
                for method, pattern, code, answer in recorded.rules:
                    if method == self.command and re.fullmatch(pattern, split.path):
                        got = answer(asked) if callable(answer) else answer
                        status, body = got if isinstance(got, tuple) else (code, got)
                        break
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
