"""Salesforce's failures as :class:`~leadsync.connectors.retry.Failure` values.

One description for every call, the OAuth token endpoint included, so the retry policy
decides the same way whatever failed: 403 ``REQUEST_LIMIT_EXCEEDED`` "TotalRequests"
(the daily allocation) stops the run with ``CrmRateLimited``; the same code for
"ConcurrentRequests" is a momentary refusal, described as a 429 so it is retried; 5xx,
``UNABLE_TO_LOCK_ROW`` and lost connections are retried for safe calls.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import requests
from simple_salesforce.exceptions import SalesforceError

from leadsync.connectors.retry import UNTRUSTED_TLS, Failure

__all__ = ["describe_failure"]


def describe_failure(exc: BaseException) -> Failure | None:
    """simple-salesforce and requests exceptions as :class:`Failure` values (None: a bug)."""
    if isinstance(exc, SalesforceError):
        code, message = _first_error(exc.content)
        if exc.status == 403 and code == "REQUEST_LIMIT_EXCEEDED" and "Concurrent" in message:
            return Failure(429, None, message, "ConcurrentRequests")
        return Failure(exc.status, None, message or f"HTTP {exc.status}", code)
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return Failure(None, None, "the answer was cut short (invalid JSON)")
    if isinstance(exc, requests.exceptions.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        reason = re.search(r"certificate verify failed: ([^()'\"]+)", str(exc))
        detail = reason.group(1).strip() if reason else "certificate verify failed"
        return Failure(None, None, detail, UNTRUSTED_TLS)
    if isinstance(exc, requests.RequestException):
        return Failure(None, None, type(exc).__name__)
    return None


def _first_error(content: Any) -> tuple[str | None, str]:
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        first = content[0]
        return first.get("errorCode"), str(first.get("message", ""))
    if isinstance(content, Mapping):
        message = content.get("message") or content.get("error_description") or ""
        return content.get("errorCode") or content.get("error"), str(message)
    return None, str(content or "")[:200]
