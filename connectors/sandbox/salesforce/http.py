"""The request and reply types the Salesforce sandbox's handlers exchange, and its error type.

Handlers never touch sockets: they get a parsed ``Call`` and return a ``Reply`` (or raise
``ApiError``), so the REST and Bulk modules stay testable and the server module owns HTTP.
Error bodies are Salesforce's JSON array ``[{"message", "errorCode"[, "fields"]}]``; NOT_FOUND
puts ``errorCode`` first, as recorded (``shared/salesforce-reference/errors.json``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from leadsync.connectors.sandbox.salesforce.store import format_datetime

__all__ = ["JSON_TYPE", "ApiError", "Call", "Reply", "dumps", "not_found"]

JSON_TYPE = "application/json;charset=UTF-8"


@dataclass(slots=True)
class Call:
    """One API request: ``parts`` is the path below ``/services/data/vXX.X/``, split on '/'."""

    method: str
    parts: list[str]
    params: dict[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    base: str  # "/services/data/v59.0"

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.params.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        """The body as JSON; a 400 JSON_PARSER_ERROR like Salesforce's when it is not."""
        try:
            return json.loads(self.body or b"null")
        except ValueError as exc:
            raise ApiError(
                400, "JSON_PARSER_ERROR", f"Unexpected character: was expecting a value ({exc})"
            ) from None


@dataclass(slots=True)
class Reply:
    """What to answer: a JSON-able body, CSV text, or nothing (204/201)."""

    status: int
    body: Any = None
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)

    def payload(self) -> bytes:
        """The encoded body."""
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str) and not self.content_type.startswith("application/json"):
            return self.body.encode("utf-8")
        return dumps(self.body).encode("utf-8")


class ApiError(Exception):
    """A request-level failure: HTTP ``status`` with Salesforce's error array."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        entry: dict[str, Any]
        if code == "NOT_FOUND":
            entry = {"errorCode": code, "message": message}
        else:
            entry = {"message": message, "errorCode": code}
        if fields is not None:
            entry["fields"] = fields
        self.body = [entry]

    def reply(self) -> Reply:
        """As a reply."""
        return Reply(self.status, self.body)


def not_found(message: str = "The requested resource does not exist") -> ApiError:
    """404 NOT_FOUND (unknown object, record, job or API version)."""
    return ApiError(404, "NOT_FOUND", message)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(body: Any) -> str:
    """JSON as Salesforce writes it (dates in its formats)."""
    return json.dumps(body, default=_default, ensure_ascii=False, separators=(",", ":"))
