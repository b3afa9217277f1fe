"""SOQL text, Salesforce timestamps and record shapes for the Salesforce connector.

Why a module of its own: every value that reaches SOQL goes through :func:`soql`
(simple-salesforce's ``format_soql``, which quotes and escapes strings, dates and
lists) and every field name through :func:`field_name` (names come from the accounts
file and cannot be quoted, so they are checked against Salesforce's identifier
syntax instead). Nothing in the connector builds SOQL with an f-string of a value.

Records arrive in two shapes: REST JSON (nested ``Owner: {IsActive: …}``, typed
values) and Bulk API 2.0 CSV (flat ``Owner.IsActive`` columns, text values). Both are
turned into one flat shape, :data:`Row`, so the mapping code reads either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from simple_salesforce.format import format_soql

from leadsync.errors import ConfigError

__all__ = [
    "IN_CHUNK_CHARS",
    "Row",
    "chunk_ids",
    "field_name",
    "flatten",
    "format_stamp",
    "parse_stamp",
    "soql",
]

Row = dict[str, Any]
"""A record as ``{"Id": …, "Owner.IsActive": …}``: relationship paths flattened with dots."""

#: Characters of ids one ``IN (…)`` list may hold. SOQL statements may be 100,000
#: characters long (only each *string* in a WHERE clause is capped at 4,000), so
#: 80,000 leaves room for the rest of the statement: about 3,800 ids of 18 characters.
IN_CHUNK_CHARS = 80_000
#: And never more ids than one query page answers, so a chunk costs one call when each
#: id has at most one row (the own-write stamp query).
IN_CHUNK_IDS = 2_000

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$")
_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


def soql(template: str, **values: Any) -> str:
    """``template`` with ``{name}`` placeholders filled by quoted, escaped SOQL literals.

    ``{name:literal}`` inserts a value unquoted (only for field names that passed
    :func:`field_name`, or numbers); ``{name:like}`` escapes ``%`` and ``_`` for LIKE.
    """
    return format_soql(template, **values)


def field_name(name: str, where: str) -> str:
    """``name`` if it is a valid (possibly dotted) Salesforce field name; else ConfigError.

    Field names cannot be quoted in SOQL, so a name from the accounts file is checked
    here before it is ever put in a statement.
    """
    if not _NAME.match(name):
        raise ConfigError(
            f"{where}: {name!r} is not a Salesforce field name (letters, digits and "
            "underscores, relationship paths joined with dots, e.g. Account.Industry)"
        )
    return name


def chunk_ids(ids: Iterable[str], *, max_ids: int = IN_CHUNK_IDS) -> Iterator[list[str]]:
    """Ids in chunks that fit one ``IN (…)`` list (by characters and by count)."""
    chunk: list[str] = []
    size = 0
    for rid in ids:
        cost = len(rid) + 3  # quotes and comma
        if chunk and (size + cost > IN_CHUNK_CHARS or len(chunk) >= max_ids):
            yield chunk
            chunk, size = [], 0
        chunk.append(rid)
        size += cost
    if chunk:
        yield chunk


def parse_stamp(value: Any) -> datetime | None:
    """A Salesforce date-time (``2026-11-23T12:00:00.000+0000`` or ``…Z``) as aware UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    m = _STAMP.match(value.strip())
    if not m:
        return None
    day, clock, frac, zone = m.groups()
    zone = zone or "Z"
    if zone == "Z":
        zone = "+00:00"
    elif ":" not in zone:
        zone = f"{zone[:3]}:{zone[3:]}"
    frac = (frac or ".0")[:7]
    return datetime.fromisoformat(f"{day}T{clock}{frac}{zone}").astimezone(UTC)


def format_stamp(value: datetime) -> str:
    """The canonical text of a stamp: UTC to the millisecond, ``Z``-suffixed.

    Stamps are compared as text (``own_writes`` hands them back), so REST's
    ``+0000`` and Bulk's ``Z`` forms must both become this one.
    """
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def normal_stamp(value: Any) -> str | None:
    """:func:`format_stamp` of a raw Salesforce date-time, None when absent."""
    parsed = parse_stamp(value)
    return format_stamp(parsed) if parsed else None


def flatten(record: Mapping[str, Any], prefix: str = "") -> Row:
    """A REST record as a :data:`Row`: nested parents become dotted keys, ``attributes`` go."""
    out: Row = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def csv_value(text: str) -> Any:
    """A Bulk CSV cell as a value: empty is null, ``true``/``false`` are booleans."""
    if text == "":
        return None
    if text == "true":
        return True
    if text == "false":
        return False
    return text


def select(fields: Sequence[str]) -> str:
    """A comma-separated, de-duplicated field list (order kept)."""
    seen: dict[str, None] = {}
    for name in fields:
        seen.setdefault(name, None)
    return ", ".join(seen)
