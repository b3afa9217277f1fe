"""Running the Singer tap ``tap-salesforce`` against the Salesforce sandbox, unmodified.

tap-salesforce pins old libraries (``jsonschema`` 2.6, ``singer-python``), so it lives in a
virtualenv of its own (:mod:`tap_venv`) and runs as a subprocess.

It logs in by posting its refresh token to the hard-coded
``https://login.salesforce.com/services/oauth2/token`` (``test.salesforce.com`` with
``is_sandbox``) and then calls the ``instance_url`` the token response names, which is the
sandbox's own. To send the login to the sandbox without patching the tap or touching the
machine's network set-up, the tap gets only the standard settings ``requests`` honours:

- ``HTTPS_PROXY`` names :class:`LoginProxy`, an HTTP CONNECT proxy that tunnels the two
  Salesforce login hosts (and nothing else: any other host is refused, so a test can never
  reach a real org) to the sandbox's port; ``NO_PROXY`` keeps 127.0.0.1 direct;
- ``REQUESTS_CA_BUNDLE`` is the sandbox's throwaway CA, whose certificate also names the
  login hosts (:data:`~leadsync.connectors.sandbox.salesforce.server.LOGIN_HOSTS`), so TLS
  is verified end to end, SNI and host name included.
"""

from __future__ import annotations

import json
import os
import select
import socket
import socketserver
import subprocess
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from leadsync.connectors.sandbox.salesforce.server import LOGIN_HOSTS, SalesforceSandbox

TAP = "tap-salesforce==2.8.1"
START_DATE = "2000-01-01T00:00:00Z"


class LoginProxy(socketserver.ThreadingTCPServer):
    """An HTTP CONNECT proxy on 127.0.0.1 tunnelling ``LOGIN_HOSTS:443`` to the sandbox.

    ``tunnels`` lists every host a client asked for, refused ones included.
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, target_port: int) -> None:
        super().__init__(("127.0.0.1", 0), _Tunnel)
        self.target_port = target_port
        self.tunnels: list[str] = []
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        """What ``HTTPS_PROXY`` says."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> LoginProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


class _Tunnel(socketserver.StreamRequestHandler):
    server: LoginProxy

    def handle(self) -> None:
        head = self.rfile.readline(8192).decode("latin-1").split()
        while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
            pass
        target = head[1] if len(head) == 3 and head[0] == "CONNECT" else ""
        host, _, port = target.rpartition(":")
        self.server.tunnels.append(host)
        if host not in LOGIN_HOSTS or port != "443":
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        with socket.create_connection(("127.0.0.1", self.server.target_port), timeout=30) as up:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            _pump(self.connection, up)


def _pump(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    peers = {a: b, b: a}
    while True:
        readable, _, _ = select.select(list(peers), [], [], 30)
        if not readable:
            return
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            peers[sock].sendall(data)


class TapRun:
    """One configured tap: ``discover()`` then ``sync(streams)`` → its Singer messages."""

    def __init__(
        self, executable: Path, box: SalesforceSandbox, proxy: LoginProxy, workdir: Path, api: str
    ) -> None:
        self.executable = executable
        self.workdir = workdir
        self.config = workdir / f"config-{api}.json"
        config = {
            "refresh_token": box.refresh_token, "client_id": box.client_id,
            "client_secret": box.client_secret, "start_date": START_DATE, "api_type": api,
            "select_fields_by_default": True, "is_sandbox": False,
        }  # fmt: skip
        self.config.write_text(json.dumps(config))
        self.env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        self.env |= {
            "HTTPS_PROXY": proxy.url,
            "NO_PROXY": "127.0.0.1,localhost",
            "REQUESTS_CA_BUNDLE": box.ca_path,
            "CURL_CA_BUNDLE": box.ca_path,
        }

    def _run(self, *args: str) -> str:
        done = subprocess.run(
            [str(self.executable), "--config", str(self.config), *args],
            env=self.env, capture_output=True, text=True, timeout=600, cwd=self.workdir,
        )  # fmt: skip
        assert done.returncode == 0, f"tap-salesforce failed:\n{done.stderr[-6000:]}"
        assert "CRITICAL" not in done.stderr, done.stderr[-6000:]
        return done.stdout

    def discover(self) -> dict[str, Any]:
        """``--discover``: the catalog of every object the org describes."""
        return json.loads(self._run("--discover"))

    def sync(self, catalog: dict[str, Any], streams: Iterable[str]) -> list[dict[str, Any]]:
        """Select ``streams`` (incremental on ``SystemModstamp``, every supported field), run
        the tap on that catalog and return its messages (SCHEMA, RECORD, STATE…)."""
        wanted = set(streams)
        for entry in catalog["streams"]:
            for item in entry["metadata"]:
                if item["breadcrumb"] == [] and entry["tap_stream_id"] in wanted:
                    item["metadata"] |= {
                        "selected": True,
                        "replication-method": "INCREMENTAL",
                        "replication-key": "SystemModstamp",
                    }
        path = self.workdir / "catalog.json"
        path.write_text(json.dumps(catalog))
        out = self._run("--properties", str(path))
        return [json.loads(line) for line in out.splitlines() if line.strip()]
