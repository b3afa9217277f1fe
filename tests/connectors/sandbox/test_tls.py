"""The throwaway CA: clients that trust its file verify the sandbox; others refuse it."""

from __future__ import annotations

import os
import socket
import ssl
import threading

import pytest

from leadsync.connectors.sandbox.tls import SandboxTLS


def _serve_once(tls: SandboxTLS) -> tuple[int, threading.Thread]:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    ctx = tls.server_context()

    def run() -> None:
        with listener:
            conn, _ = listener.accept()
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls_conn:
                    tls_conn.sendall(b"hello")
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return port, thread


def test_client_trusting_the_ca_file_verifies_the_server() -> None:
    tls = SandboxTLS()
    try:
        assert os.path.exists(tls.ca_path)
        with open(tls.ca_path) as fh:
            assert fh.read().startswith("-----BEGIN CERTIFICATE-----")
        port, thread = _serve_once(tls)
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            tls.client_context().wrap_socket(raw, server_hostname="127.0.0.1") as conn,
        ):
            assert conn.recv(5) == b"hello"
        thread.join(timeout=5)
    finally:
        tls.close()
    assert not os.path.exists(tls.ca_path)


def test_client_with_another_ca_refuses_the_server() -> None:
    tls, other = SandboxTLS(), SandboxTLS()
    try:
        port, thread = _serve_once(tls)
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            other.client_context().wrap_socket(raw, server_hostname="127.0.0.1")
        thread.join(timeout=5)
    finally:
        tls.close()
        other.close()
