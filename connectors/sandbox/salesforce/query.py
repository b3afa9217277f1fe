"""SOQL evaluation for the Salesforce sandbox: bind a parsed query to a schema, then run it.

``soql.parse`` gives the syntax tree; ``bind`` resolves every name against a ``Catalog`` (the
sandbox schema) the way Salesforce does, raising ``INVALID_TYPE`` for an unknown object and
``INVALID_FIELD`` (Salesforce's caret-and-column message) for an unknown field, relationship or a
literal of the wrong type. The bound query filters, sorts, pages and projects plain dict records,
following parent relationships (``Campaign.Type``) through a resolver so it knows no storage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from leadsync.connectors.sandbox.salesforce.soql import (
    And,
    Comparison,
    DateLiteral,
    Expr,
    Not,
    Or,
    OrderItem,
    Query,
    SelectItem,
    SoqlError,
    parse,
)

__all__ = [
    "And",
    "BoundQuery",
    "Catalog",
    "Comparison",
    "Not",
    "Or",
    "OrderItem",
    "Query",
    "Resolver",
    "SelectItem",
    "SoqlError",
    "bind",
    "parse",
]

_NO_COLUMN = (
    "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, "
    "be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
    "describe call for the appropriate names."
)
_NO_RELATIONSHIP = (
    "Didn't understand relationship '{name}' in field path. If you are attempting to use a "
    "custom relationship, be sure to append the '__r' after the custom relationship name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)
_NO_TYPE = (
    "sObject type '{name}' is not supported. If you are attempting to use a custom object, be "
    "sure to append the '__c' after the entity name. Please reference your WSDL or the describe "
    "call for the appropriate names."
)
_NUMERIC = {"int", "double", "currency", "percent"}


class Catalog(Protocol):
    """What the evaluator needs to know about the schema (names are matched case-insensitively)."""

    def object_name(self, name: str) -> str | None:
        """The canonical name of a queryable object, or None."""

    def field_type(self, sobject: str, name: str) -> tuple[str, str] | None:
        """(canonical field name, describe ``type``) or None when the field does not exist."""

    def relationship(self, sobject: str, name: str) -> tuple[str, str, tuple[str, ...]] | None:
        """(canonical relationship name, id field, target objects) or None."""


#: Looks a record up by id for relationship paths: (object name, record) or None.
Resolver = Callable[[Any], "tuple[str, Mapping[str, Any]] | None"]


@dataclass(frozen=True, slots=True)
class Column:
    """One bound SELECT column: relationship hops then the field, all canonical."""

    hops: tuple[tuple[str, str, tuple[str, ...]], ...]  # (relationship, id field, targets)
    name: str
    kind: str

    @property
    def label(self) -> str:
        """The dotted name a Bulk CSV header uses (``Campaign.Type``)."""
        return ".".join([h[0] for h in self.hops] + [self.name])


@dataclass(slots=True)
class BoundQuery:
    """A query checked against a catalog: knows how to filter, sort and project records."""

    query: Query
    sobject: str
    columns: list[Column]
    count_only: bool
    where: Callable[[Mapping[str, Any], Resolver], bool] | None
    order: list[tuple[Column, bool, bool]] = field(default_factory=list)

    def run(self, records: Iterable[Mapping[str, Any]], resolve: Resolver) -> list[Mapping]:
        """Filter, sort, OFFSET and LIMIT ``records`` (all of type ``sobject``)."""
        rows = [r for r in records if self.where is None or self.where(r, resolve)]
        for col, desc, nulls_first in reversed(self.order):
            present = [r for r in rows if _value(col, r, resolve) is not None]
            missing = [r for r in rows if _value(col, r, resolve) is None]
            present.sort(key=lambda r, c=col: _norm(_value(c, r, resolve), c.kind), reverse=desc)
            rows = missing + present if nulls_first else present + missing
        start = self.query.offset or 0
        end = None if self.query.limit is None else start + self.query.limit
        return rows[start:end]

    def project(self, record: Mapping[str, Any], resolve: Resolver, base_url: str) -> dict:
        """The JSON shape of one row: attributes, then columns; parents nest with attributes."""
        out: dict[str, Any] = {"attributes": _attributes(self.sobject, record, base_url)}
        for col in self.columns:
            target: dict[str, Any] | None = out
            current: Mapping[str, Any] | None = record
            for rel, id_field, targets in col.hops:
                parent = resolve(current.get(id_field)) if current is not None else None
                if target is None:
                    break
                if parent is None:
                    target.setdefault(rel, None)
                    target, current = None, None
                    continue
                node = target.get(rel)
                if node is None:
                    node = {"attributes": _attributes(parent[0], parent[1], base_url)}
                    if len(targets) > 1:  # polymorphic (Owner, Who, What): Salesforce says "Name"
                        node["attributes"]["type"] = "Name"
                    target[rel] = node
                target, current = node, parent[1]
            if target is not None and current is not None:
                target[col.name] = current.get(col.name)
        return out

    def flat(self, record: Mapping[str, Any], resolve: Resolver) -> list[Any]:
        """Column values in SELECT order, for CSV output."""
        return [_value(col, record, resolve) for col in self.columns]


def bind(query: Query, catalog: Catalog, *, today: date | None = None) -> BoundQuery:
    """Resolve every name in ``query`` against ``catalog``; raise SoqlError like Salesforce.

    Relative date literals (``LAST_N_DAYS:30``) are resolved against ``today`` (UTC, the
    integration user's zone; default: the current date).
    """
    today = today or datetime.now(UTC).date()
    sobject = catalog.object_name(query.sobject)
    if sobject is None:
        raise _caret(query, query.sobject_pos, "INVALID_TYPE", _NO_TYPE.format(name=query.sobject))
    columns: list[Column] = []
    count_only = False
    for item in query.select:
        if item.count:
            count_only = True
            continue
        columns.append(_column(query, catalog, sobject, item.path, item.pos))
    where = (
        _compile(query, catalog, sobject, query.where, today) if query.where is not None else None
    )
    order = [
        (_column(query, catalog, sobject, o.path, o.pos), o.descending, o.nulls_first)
        for o in query.order_by
    ]
    return BoundQuery(query, sobject, columns, count_only, where, order)


def _column(query: Query, catalog: Catalog, sobject: str, path: Sequence[str], pos: int) -> Column:
    hops: list[tuple[str, str, tuple[str, ...]]] = []
    current = [sobject]
    parts = list(path)
    if len(parts) > 1 and parts[0].casefold() == sobject.casefold():
        parts = parts[1:]  # "SELECT Lead.Email FROM Lead" is legal
    for rel in parts[:-1]:
        found = catalog.relationship(current[0], rel)
        if found is None:
            raise _caret(query, pos, "INVALID_FIELD", _NO_RELATIONSHIP.format(name=rel))
        hops.append(found)
        current = list(found[2])
    name = parts[-1]
    for target in current:
        typed = catalog.field_type(target, name)
        if typed is not None:
            return Column(tuple(hops), typed[0], typed[1])
    entity = hops[-1][0] if hops else sobject
    raise _caret(query, pos, "INVALID_FIELD", _NO_COLUMN.format(name=name, entity=entity))


def _compile(
    query: Query, catalog: Catalog, sobject: str, expr: Expr, today: date
) -> Callable[[Mapping[str, Any], Resolver], bool]:
    if isinstance(expr, And):
        parts = [_compile(query, catalog, sobject, e, today) for e in expr.items]
        return lambda r, res: all(p(r, res) for p in parts)
    if isinstance(expr, Or):
        parts = [_compile(query, catalog, sobject, e, today) for e in expr.items]
        return lambda r, res: any(p(r, res) for p in parts)
    if isinstance(expr, Not):
        inner = _compile(query, catalog, sobject, expr.item, today)
        return lambda r, res: not inner(r, res)
    col = _column(query, catalog, sobject, expr.path, expr.pos)
    values = [_coerce(query, col, expr, v, today) for v in expr.values]
    op = expr.op
    if op == "LIKE":
        rx = _like_regex(str(values[0]))
        return lambda r, res: _match_like(rx, _value(col, r, res))
    if op in ("IN", "NOT IN"):
        normed = [_norm(v, col.kind) for v in values]
        ranges = [w for w in normed if isinstance(w, _Range)]
        plain = [w for w in normed if not isinstance(w, _Range)]
        try:  # a set answers in O(1): connectors send IN lists of hundreds of ids
            exact: set[Any] | list[Any] = set(plain)
        except TypeError:
            exact = plain

        def member(r: Mapping[str, Any], res: Resolver) -> bool:
            v = _norm(_value(col, r, res), col.kind)
            try:
                if v in exact:
                    return True
            except TypeError:
                pass
            return any(w.contains(v) for w in ranges)

        if op == "IN":
            return member
        return lambda r, res: not member(r, res)
    rhs = _norm(values[0], col.kind)
    if isinstance(rhs, _Range):
        return lambda r, res: rhs.compare(op, _norm(_value(col, r, res), col.kind))
    return lambda r, res: _compare(op, _norm(_value(col, r, res), col.kind), rhs)


@dataclass(frozen=True, slots=True)
class _Range:
    """A date literal resolved to ``[start, end)``; ``=`` means inside, ``<``/``>`` a side."""

    start: date | datetime
    end: date | datetime

    def contains(self, v: Any) -> bool:
        return v is not None and self.start <= v < self.end

    def compare(self, op: str, v: Any) -> bool:
        if v is None:
            return op in ("!=", "<>")
        if op == "=":
            return self.contains(v)
        if op in ("!=", "<>"):
            return not self.contains(v)
        if op == "<":
            return bool(v < self.start)
        if op == "<=":
            return bool(v < self.end)
        if op == ">":
            return bool(v >= self.end)
        return bool(v >= self.start)


def _date_range(lit: DateLiteral, today: date) -> tuple[date, date]:
    """The days a literal covers, per the SOQL reference ("Date Formats and Date Literals")."""
    day = timedelta(days=1)
    n = lit.n or 0
    week = today - timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday (en_US)
    month = today.replace(day=1)
    next_month = (month + timedelta(days=32)).replace(day=1)
    prev_month = (month - day).replace(day=1)
    year = today.replace(month=1, day=1)
    ranges = {
        "YESTERDAY": (today - day, today),
        "TODAY": (today, today + day),
        "TOMORROW": (today + day, today + 2 * day),
        "LAST_WEEK": (week - 7 * day, week),
        "THIS_WEEK": (week, week + 7 * day),
        "NEXT_WEEK": (week + 7 * day, week + 14 * day),
        "LAST_MONTH": (prev_month, month),
        "THIS_MONTH": (month, next_month),
        "NEXT_MONTH": (next_month, (next_month + timedelta(days=32)).replace(day=1)),
        "LAST_YEAR": (year.replace(year=year.year - 1), year),
        "THIS_YEAR": (year, year.replace(year=year.year + 1)),
        "NEXT_YEAR": (year.replace(year=year.year + 1), year.replace(year=year.year + 2)),
        "LAST_90_DAYS": (today - 90 * day, today + day),
        "NEXT_90_DAYS": (today + day, today + 91 * day),
        "LAST_N_DAYS": (today - n * day, today + day),
        "NEXT_N_DAYS": (today + day, today + (n + 1) * day),
        "N_DAYS_AGO": (today - n * day, today - (n - 1) * day),
    }
    return ranges[lit.name]


def _coerce(query: Query, col: Column, cond: Comparison, literal: Any, today: date) -> Any:
    """Check a literal against the field type the way Salesforce does, and convert it."""
    if literal is None:
        return None
    kind = col.kind
    wanted: str | None = None
    if isinstance(literal, DateLiteral) and kind in ("date", "datetime"):
        start, end = _date_range(literal, today)
        if kind == "date":
            return _Range(start, end)
        return _Range(*(datetime(d.year, d.month, d.day, tzinfo=UTC) for d in (start, end)))
    if kind == "datetime":
        if isinstance(literal, datetime):
            return literal
        wanted = "dateTime"
    elif kind == "date":
        if isinstance(literal, date) and not isinstance(literal, datetime):
            return literal
        wanted = "date"
    elif kind == "boolean":
        if isinstance(literal, bool):
            return literal
        wanted = "boolean"
    elif kind in _NUMERIC:
        if isinstance(literal, int | float) and not isinstance(literal, bool):
            return literal
        wanted = "number"
    elif isinstance(literal, str):
        return literal
    else:
        wanted = "string"
    if isinstance(literal, DateLiteral):
        wanted = {"boolean": "boolean"}.get(kind, "number" if kind in _NUMERIC else "string")
    quoted = " and should not be enclosed in quotes" if isinstance(literal, str) else ""
    message = (
        f"value of filter criterion for field '{cond.path[-1]}' must be of type {wanted}{quoted}"
    )
    raise _caret(query, cond.value_pos, "INVALID_FIELD", message)


def _value(col: Column, record: Mapping[str, Any] | None, resolve: Resolver) -> Any:
    current = record
    for _, id_field, _ in col.hops:
        if current is None:
            return None
        parent = resolve(current.get(id_field))
        current = parent[1] if parent else None
    return None if current is None else current.get(col.name)


def _norm(v: Any, kind: str) -> Any:
    """Comparable form: text ignores case as in SOQL, except ids (base-62, ASCII-ordered, so
    ``ORDER BY Id`` is creation order); date-times in UTC."""
    if isinstance(v, str):
        return v if kind in ("id", "reference") else v.casefold()
    if isinstance(v, datetime):
        return v.astimezone(UTC)
    return v


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "=":
        return left == right
    if op in ("!=", "<>"):
        return left != right
    if left is None or right is None:
        return False
    try:
        if op == "<":
            return bool(left < right)
        if op == "<=":
            return bool(left <= right)
        if op == ">":
            return bool(left > right)
        return bool(left >= right)
    except TypeError:
        return False


def _like_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and pattern[i + 1 : i + 2] in ("%", "_"):
            out.append(re.escape(pattern[i + 1]))  # \% and \_ match themselves
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _match_like(rx: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and rx.fullmatch(value) is not None


def _attributes(sobject: str, record: Mapping[str, Any], base_url: str) -> dict[str, str]:
    return {"type": sobject, "url": f"{base_url}/sobjects/{sobject}/{record.get('Id')}"}


def _caret(query: Query, pos: int, code: str, message: str) -> SoqlError:
    """Salesforce's positional message: the query, a caret under the culprit, row and column."""
    text = query.text
    row = text.count("\n", 0, pos) + 1
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start : None if line_end < 0 else line_end]
    col = pos - line_start + 1
    caret = " " * (col - 1) + "^"
    return SoqlError(code, f"\n{line}\n{caret}\nERROR at Row:{row}:Column:{col}\n{message}")
