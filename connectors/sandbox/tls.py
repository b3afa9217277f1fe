"""A throwaway certificate authority and server certificate for the sandbox's HTTPS.

simple-salesforce hard-codes ``https://`` for every URL it builds, so the Salesforce sandbox
must speak TLS. At start-up we mint a private CA with ``trustme`` and a certificate for
127.0.0.1/localhost signed by it; the CA is written to a PEM file so a client can trust it
(``requests.Session().verify = ca_path``) without touching the system trust store. Nothing
is reused between runs: the keys live in memory and in a temporary directory removed on close.
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
from pathlib import Path

import trustme

__all__ = ["SandboxTLS"]


class SandboxTLS:
    """A fresh CA plus a server certificate for ``hosts``; ``ca_path`` is the CA's PEM file."""

    def __init__(self, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> None:
        self._ca = trustme.CA(organization_name="leadsync sandbox")
        self._cert = self._ca.issue_cert(*hosts)
        self._dir = Path(tempfile.mkdtemp(prefix="leadsync-sandbox-tls-"))
        self.ca_path: str = str(self._dir / "sandbox-ca.pem")
        self._ca.cert_pem.write_to_path(self.ca_path)

    def server_context(self) -> ssl.SSLContext:
        """An SSL context presenting the server certificate (TLS 1.2 or later)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self._cert.configure_cert(ctx)
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts only the sandbox CA (for stdlib clients)."""
        ctx = ssl.create_default_context(cafile=self.ca_path)
        return ctx

    def close(self) -> None:
        """Delete the CA file; clients that still point at it will fail to verify."""
        shutil.rmtree(self._dir, ignore_errors=True)
