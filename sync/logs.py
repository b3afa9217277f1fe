"""Logging: one line per run and per failure; JSON when not on a terminal.

Fields passed with ``extra=`` (account, run, counts…) become JSON keys. Nothing that
reaches a log line is a secret: credentials are :class:`pydantic.SecretStr` and are
only unwrapped where a request is signed.

:func:`bind` sets fields (the daemon's ``account`` and ``run``) for every line logged
in the current thread or task until the block ends, however deep in a connector.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_CONTEXT: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "leadsync_log_context", default=None
)


@contextlib.contextmanager
def bind(**fields: Any) -> Iterator[None]:
    """Add ``fields`` to every log line of this thread (or task) inside the block."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **fields})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current() -> dict[str, Any]:
    """The bound fields, to bind them again in another thread."""
    return dict(_CONTEXT.get() or {})


def bind_more(**fields: Any) -> None:
    """Add fields to the current :func:`bind` block (e.g. the run id once it is known)."""
    _CONTEXT.set({**(_CONTEXT.get() or {}), **fields})


class ContextFilter(logging.Filter):
    """Copies the bound fields onto each record, unless the call passed its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_CONTEXT.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={v}" for k, v in vars(record).items() if k not in _STANDARD)
        return f"{record.levelname.lower():7} {record.getMessage()}" + (
            f"  {extra}" if extra else ""
        )


def configure(level: str = "INFO", fmt: str = "auto") -> None:
    """Send leadsync's logs to stderr, as JSON lines or as text."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger("leadsync")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
