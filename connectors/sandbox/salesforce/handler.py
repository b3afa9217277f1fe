"""The HTTP request handler of the Salesforce sandbox: sockets in, ``Call`` out, faults applied.

Kept apart from ``server.py`` so the org logic never sees HTTP details. It speaks
HTTP/1.1 with keep-alive (``requests`` reuses connections), always sends ``Content-Length``,
and applies the fault plan before anything else: a dropped connection closes the socket
without answering, latency sleeps on the server side, a burst becomes Salesforce's 403
``REQUEST_LIMIT_EXCEEDED`` (Salesforce never answers 429) and errors become 503/502.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from leadsync.connectors.sandbox.salesforce.admin import dispatch_admin
from leadsync.connectors.sandbox.salesforce.http import ApiError, Call, Reply

if TYPE_CHECKING:
    from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox

__all__ = ["Handler"]

log = logging.getLogger(__name__)


class Handler(BaseHTTPRequestHandler):
    """One connection; ``self.server.sandbox`` is the org being served."""

    protocol_version = "HTTP/1.1"
    server_version = "SalesforceSandbox/1.0"
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms stall

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def finish(self) -> None:
        with contextlib.suppress(OSError):  # the client may already be gone
            super().finish()

    # -- the pipeline --------------------------------------------------------------------------
    def _serve(self) -> None:
        box: SalesforceSandbox = self.server.sandbox  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        segments = url.path.split("/")[1:]
        if segments[:1] == ["__sandbox"]:
            self._send(dispatch_admin(box, self.command, segments[1:], body))
            return
        if segments[:3] == ["services", "oauth2", "token"] and self.command == "POST":
            if self._faulted(box, "POST oauth2/token"):
                return
            status, payload = box.sessions.token_endpoint(self.headers, body, box.instance_url)
            box.counters.record("POST oauth2/token", status)
            self._send(Reply(status, payload, content_type="application/json;charset=UTF-8"))
            return
        if segments[:3] == ["services", "oauth2", "userinfo"] and self.command == "GET":
            if self._faulted(box, "GET oauth2/userinfo"):
                return
            status, info = box.sessions.userinfo(self.headers, box.instance_url)
            box.counters.record("GET oauth2/userinfo", status)
            kind = "application/json;charset=UTF-8" if status == 200 else "text/plain"
            self._send(Reply(status, info, content_type=kind))
            return
        if segments[:3] == ["services", "Soap", "m"] and len(segments) > 3:
            self._serve_metadata(box, segments[3], body)
            return
        if segments[:2] == ["services", "async"] and len(segments) > 2:
            self._serve_async(box, segments, url.query, body)
            return
        if segments[:2] != ["services", "data"] or len(segments) < 3:
            self._send(ApiError(404, "NOT_FOUND", "The requested resource does not exist").reply())
            return
        parts = segments[3:]
        endpoint = box.endpoint_name(self.command, parts)
        if self._faulted(box, endpoint):
            return
        version = box.parse_version(segments[2])
        if version is None:
            reply = ApiError(404, "NOT_FOUND", "The requested resource does not exist").reply()
        else:
            call = Call(
                method=self.command,
                parts=parts,
                params=parse_qs(url.query, keep_blank_values=True),
                headers=self.headers,  # type: ignore[arg-type]
                body=body,
                base=f"/services/data/v{version}",
            )
            try:
                reply = box.dispatch_api(call, version)
            except Exception:  # a sandbox bug must not kill the connection silently
                log.exception("sandbox error on %s %s", self.command, self.path)
                reply = Reply(500, [{"errorCode": "UNKNOWN_EXCEPTION",
                                     "message": "An unexpected error occurred."}])  # fmt: skip
        if box.faults.lose_answer(write=self.command != "GET"):
            self._lose(box, endpoint)
            return
        box.counters.record(endpoint, reply.status)
        self._send(reply)

    def _lose(self, box: SalesforceSandbox, endpoint: str) -> None:
        """The work is done, but its answer never arrives: close without answering."""
        box.counters.record(endpoint, 0)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _serve_async(
        self, box: SalesforceSandbox, segments: list[str], query: str, body: bytes
    ) -> None:
        """``/services/async/<version>/…``: Bulk API 1.0, counted as ``async <path>``."""
        parts = segments[3:]
        endpoint = "async " + box.endpoint_name(self.command, parts)
        if self._faulted(box, endpoint):
            return
        version = box.parse_version(f"v{segments[2]}")
        if version is None:
            reply = ApiError(404, "NOT_FOUND", "The requested resource does not exist").reply()
        else:
            call = Call(
                method=self.command,
                parts=parts,
                params=parse_qs(query, keep_blank_values=True),
                headers=self.headers,  # type: ignore[arg-type]
                body=body,
                base=f"/services/async/{version}",
            )
            try:
                reply = box.bulk1.handle(call, float(version))
            except Exception:  # a sandbox bug must not kill the connection silently
                log.exception("sandbox error on %s %s", self.command, self.path)
                reply = Reply(500, "An unexpected error occurred.", content_type="text/plain")
            reply.headers["Sforce-Limit-Info"] = box.limit_info()
        box.counters.record(endpoint, reply.status)
        self._send(reply)

    def _serve_metadata(self, box: SalesforceSandbox, version: str, body: bytes) -> None:
        """``POST /services/Soap/m/<version>``: the Metadata API (SOAP), counted per operation."""
        if self.command != "POST" or box.parse_version(f"v{version}") is None:
            self._send(ApiError(404, "NOT_FOUND", "The requested resource does not exist").reply())
            return
        if self._faulted(box, "POST Soap/m"):
            return
        reply, operation = box.metadata.handle(body)
        write = not operation.startswith(("read", "list", "describe", "check"))
        if box.faults.lose_answer(write=write):
            self._lose(box, f"POST Soap/m/{operation}")
            return
        box.counters.record(f"POST Soap/m/{operation}", reply.status)
        self._send(reply)

    def _faulted(self, box: SalesforceSandbox, endpoint: str) -> bool:
        """Apply the fault plan; True when the request was answered (or dropped) by it."""
        plan = box.faults.plan()
        if plan.drop:
            box.counters.record(endpoint, 0)
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return True
        if plan.delay_s:
            time.sleep(plan.delay_s)
        if plan.status is None:
            return False
        if plan.status == 429:
            reply = ApiError(
                403,
                "REQUEST_LIMIT_EXCEEDED",
                "ConcurrentRequests (Concurrent API Requests) Limit exceeded.",
            ).reply()
        elif plan.status == 503:
            reply = Reply(503, [{"errorCode": "SERVER_UNAVAILABLE",
                                 "message": "Server temporarily unavailable."}])  # fmt: skip
        else:
            reply = Reply(plan.status, "Bad Gateway", content_type="text/plain")
        reply.headers["Sforce-Limit-Info"] = box.limit_info()
        box.counters.record(endpoint, reply.status)
        self._send(reply)
        return True

    def _send(self, reply: Reply) -> None:
        payload = reply.payload()
        self.send_response(reply.status)
        if payload or reply.status not in (201, 204):
            self.send_header("Content-Type", reply.content_type)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)
