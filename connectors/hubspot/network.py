"""HubSpot requests that got no answer, as short :class:`Failure` values that say what to do.

urllib3 reports a lost connection as ``MaxRetryError: HTTPSConnectionPool(…) Max retries
exceeded with url: <path and the whole query string>``: forty ``properties=`` later the
cause is cut off, and the account is not named. Here the cause is found in the exception
chain and named — refused, name not found, certificate not trusted, timed out, dropped —
with the account and the host, never the URL. The retry policy
(:mod:`leadsync.connectors.retry`) decides by the failure's code: a certificate that is
not trusted, or a host name that does not exist, cannot come right by asking again; a
refused, dropped or timed-out connection can.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import urllib3

from leadsync.connectors.retry import UNKNOWN_HOST, UNTRUSTED_TLS, Failure

__all__ = ["network_failure"]

#: getaddrinfo's "this name does not exist" (not "try again": EAI_AGAIN is retried).
_NO_NAME = {getattr(socket, n) for n in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, n)}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, what it wraps (``reason``, ``__cause__``, ``__context__``, exception args)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [getattr(current, "reason", None), current.__cause__, current.__context__]
        nested += [a for a in current.args if isinstance(a, BaseException)]
        todo += [n for n in nested if isinstance(n, BaseException)]


def network_failure(exc: BaseException, *, what: str, host: str) -> Failure | None:
    """``exc`` as a no-answer :class:`Failure` naming ``what`` (the account) and ``host``;
    None when ``exc`` is not a network error (an HTTP answer, or a bug)."""
    if not isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        return None
    where = f"{what}, host {host}"
    chain = list(_chain(exc))  # root causes first: urllib3 wraps them in look-alikes
    for cause in chain:
        if isinstance(cause, ssl.SSLCertVerificationError) or (
            isinstance(cause, ssl.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(cause)
        ):
            detail = getattr(cause, "verify_message", None) or "certificate verify failed"
            return Failure(
                None, None, f"{where}: certificate not trusted ({detail})", UNTRUSTED_TLS
            )
        if isinstance(cause, socket.gaierror):
            if cause.errno in _NO_NAME:
                return Failure(None, None, f"{where}: name not found (DNS)", UNKNOWN_HOST)
            return Failure(None, None, f"{where}: name lookup failed, for now (DNS)")
        if isinstance(cause, ConnectionRefusedError):
            return Failure(None, None, f"{where}: connection refused")
    for cause in chain:
        if isinstance(cause, urllib3.exceptions.NewConnectionError):
            return Failure(None, None, f"{where}: could not connect ({cause.__class__.__name__})")
        if isinstance(cause, urllib3.exceptions.ConnectTimeoutError):
            return Failure(None, None, f"{where}: connecting timed out")
        if isinstance(cause, urllib3.exceptions.ReadTimeoutError | TimeoutError):
            return Failure(None, None, f"{where}: no answer in time (read timeout)")
        if isinstance(cause, urllib3.exceptions.ProtocolError | ConnectionResetError):
            return Failure(None, None, f"{where}: the connection was dropped")
    return Failure(None, None, f"{where}: {type(exc).__name__}")
