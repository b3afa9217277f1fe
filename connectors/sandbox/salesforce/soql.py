"""SOQL syntax for the Salesforce sandbox: a tokenizer and a recursive-descent parser.

The accepted subset is what a lead-scoring connector sends (see ``README.md``)::

    query   := SELECT item (, item)* FROM name [WHERE cond]
               [ORDER BY key (, key)*] [LIMIT n] [OFFSET n]
    item    := COUNT() | path            path := name (. name)*
    key     := path [ASC | DESC] [NULLS FIRST | NULLS LAST]
    cond    := unary (AND unary)* | unary (OR unary)*      -- mixing needs parentheses, as in SOQL
    unary   := NOT unary | ( cond ) | path op literal | path [NOT] IN (literal, ...)
             | path LIKE 'pattern'                         op := = != <> < <= > >=
    literal := 'text' | number | true | false | null | 2026-01-01 | 2026-01-01T00:00:00Z
             | TODAY | LAST_N_DAYS:30 | ... (a relative date range, see DATE_LITERALS)

Strings take SOQL's backslash escapes; date-times need a zone (``Z`` or ``+hh:mm``) and may
carry fractional seconds. Keywords are case-insensitive. A syntax error raises ``SoqlError``
with Salesforce's ``MALFORMED_QUERY`` text: ``unexpected token: X`` for the first token (as
recorded live for ``SELEKT``), otherwise the caret form with row and column.

Names are not checked here: ``leadsync.connectors.sandbox.salesforce.query`` binds them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

__all__ = [
    "DATE_LITERALS",
    "And",
    "Comparison",
    "DateLiteral",
    "Expr",
    "Not",
    "Or",
    "OrderItem",
    "Query",
    "SelectItem",
    "SoqlError",
    "parse",
]

_KEYWORDS = {
    "SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "ORDER", "BY", "ASC", "DESC",
    "NULLS", "FIRST", "LAST", "LIMIT", "OFFSET", "TRUE", "FALSE", "NULL", "COUNT", "GROUP",
    "HAVING", "INCLUDES", "EXCLUDES", "WITH", "FOR", "USING",
}  # fmt: skip
_OPERATORS = ("!=", "<>", "<=", ">=", "=", "<", ">")
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>\d+(?:\.\d+)?|\.\d+)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>')
  | (?P<op>!=|<>|<=|>=|=|<|>)
  | (?P<punct>[(),.:\-])
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


#: Relative date ranges; the ``_N_`` ones take ``:n``. Ranges are resolved when the query is bound.
DATE_LITERALS = frozenset(
    {"YESTERDAY", "TODAY", "TOMORROW", "LAST_WEEK", "THIS_WEEK", "NEXT_WEEK", "LAST_MONTH",
     "THIS_MONTH", "NEXT_MONTH", "LAST_YEAR", "THIS_YEAR", "NEXT_YEAR", "LAST_90_DAYS",
     "NEXT_90_DAYS", "LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO"}
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DateLiteral:
    """A relative date range such as ``TODAY`` or ``LAST_N_DAYS:30`` (``n`` = 30)."""

    name: str
    n: int | None = None


class SoqlError(Exception):
    """A query Salesforce would refuse; ``error_code`` and ``message`` go into the 400 body."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


@dataclass(frozen=True, slots=True)
class SelectItem:
    """A SELECT column: a dotted field path, or ``COUNT()``."""

    path: tuple[str, ...]
    pos: int
    count: bool = False


@dataclass(frozen=True, slots=True)
class Comparison:
    """``path op value``; IN / NOT IN carry several values, the others exactly one."""

    path: tuple[str, ...]
    pos: int
    op: str
    values: tuple[Any, ...]
    value_pos: int


@dataclass(frozen=True, slots=True)
class And:
    """All of ``items`` hold."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Any of ``items`` holds."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """``item`` does not hold."""

    item: Expr


Expr = Comparison | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderItem:
    """An ORDER BY key; SOQL puts nulls first ascending and last descending unless told."""

    path: tuple[str, ...]
    pos: int
    descending: bool
    nulls_first: bool


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed SELECT statement; ``text`` is kept for positional error messages."""

    text: str
    select: tuple[SelectItem, ...]
    sobject: str
    sobject_pos: int
    where: Expr | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # keyword, ident, string, number, datetime, date, op, punct, eof
    value: Any
    pos: int
    raw: str


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise _Parser(text, tokens).error_at(pos, text[pos])
        kind = m.lastgroup or ""
        raw = m.group()
        if kind == "ws":
            pos = m.end()
            continue
        if kind == "string":
            value, end = _read_string(text, pos)
            tokens.append(_Tok("string", value, pos, text[pos:end]))
            pos = end
            continue
        value: Any = raw
        if kind == "ident" and raw.upper() in _KEYWORDS:
            kind, value = "keyword", raw.upper()
        elif kind == "number":
            value = float(raw) if "." in raw else int(raw)
        elif kind == "date":
            value = _parse_date(text, pos, raw)
        elif kind == "datetime":
            value = _parse_datetime(text, pos, raw)
        tokens.append(_Tok(kind, value, pos, raw))
        pos = m.end()
    tokens.append(_Tok("eof", None, len(text), "<EOF>"))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "'":
            return "".join(out), i + 1
        if ch == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt in ("%", "_"):
                out.append("\\" + nxt)  # kept escaped: only LIKE gives them meaning
            else:
                raise SoqlError(
                    "MALFORMED_QUERY",
                    f"Invalid string literal '{text[start : i + 2]}'. Illegal character sequence "
                    f"'\\{nxt}' in string literal.",
                )
            i += 2
            continue
        out.append(ch)
        i += 1
    raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{text[start:]}'")


def _parse_date(text: str, pos: int, raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise _Parser(text, []).error_at(pos, raw) from None


def _parse_datetime(text: str, pos: int, raw: str) -> datetime:
    if not (raw.endswith("Z") or re.search(r"[+-]\d{2}:?\d{2}$", raw)):
        raise _Parser(text, []).error_at(pos, raw)  # SOQL date-times must carry a zone
    body = raw[:-1] if raw.endswith("Z") else raw[:-6] if raw[-3] == ":" else raw[:-5]
    try:
        value = datetime.fromisoformat(body)
    except ValueError:
        raise _Parser(text, []).error_at(pos, raw) from None
    if raw.endswith("Z"):
        return value.replace(tzinfo=timezone.utc)  # noqa: UP017 (explicit for readers)
    sign = 1 if raw[len(body)] == "+" else -1
    digits = raw[len(body) + 1 :].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return value.replace(tzinfo=timezone(sign * offset))


class _Parser:
    """Recursive descent over the token list; one method per grammar rule in the docstring."""

    def __init__(self, text: str, tokens: list[_Tok]) -> None:
        self.text = text
        self.tokens = tokens
        self.i = 0

    # -- token helpers --------------------------------------------------------------------
    @property
    def tok(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at(self, kind: str, value: Any = None) -> bool:
        tok = self.tok
        return tok.kind == kind and (value is None or tok.value == value)

    def accept(self, kind: str, value: Any = None) -> _Tok | None:
        return self.take() if self.at(kind, value) else None

    def expect(self, kind: str, value: Any = None) -> _Tok:
        if not self.at(kind, value):
            raise self.unexpected()
        return self.take()

    def unexpected(self) -> SoqlError:
        return self.error_at(self.tok.pos, self.tok.raw)

    def error_at(self, pos: int, raw: str) -> SoqlError:
        if pos == 0 or not self.text[:pos].strip():
            return SoqlError("MALFORMED_QUERY", f"unexpected token: {raw}")
        line_start = self.text.rfind("\n", 0, pos) + 1
        line_end = self.text.find("\n", pos)
        line = self.text[line_start : None if line_end < 0 else line_end]
        row = self.text.count("\n", 0, pos) + 1
        col = pos - line_start + 1
        return SoqlError(
            "MALFORMED_QUERY",
            f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n"
            f"unexpected token: '{raw}'",
        )

    # -- grammar --------------------------------------------------------------------------
    def query(self) -> Query:
        self.expect("keyword", "SELECT")
        items = [self.select_item()]
        while self.accept("punct", ","):
            items.append(self.select_item())
        self.expect("keyword", "FROM")
        if self.tok.kind == "keyword" and self.tok.value in ("GROUP", "ORDER"):
            name = self.take()  # the Group and Order objects share their names with keywords
            name = _Tok("ident", name.raw, name.pos, name.raw)
        else:
            name = self.expect("ident")
        where = self.condition() if self.accept("keyword", "WHERE") else None
        order: list[OrderItem] = []
        if self.accept("keyword", "ORDER"):
            self.expect("keyword", "BY")
            order.append(self.order_item())
            while self.accept("punct", ","):
                order.append(self.order_item())
        limit = self.integer() if self.accept("keyword", "LIMIT") else None
        offset = self.integer() if self.accept("keyword", "OFFSET") else None
        self.expect("eof")
        return Query(
            self.text, tuple(items), name.value, name.pos, where, tuple(order), limit, offset
        )

    def select_item(self) -> SelectItem:
        if self.at("keyword", "COUNT"):
            pos = self.take().pos
            self.expect("punct", "(")
            self.expect("punct", ")")
            return SelectItem((), pos, count=True)
        pos = self.tok.pos
        return SelectItem(self.path(), pos)

    def path(self) -> tuple[str, ...]:
        parts = [self.expect("ident").value]
        while self.accept("punct", "."):
            parts.append(self.expect("ident").value)
        return tuple(parts)

    def order_item(self) -> OrderItem:
        pos = self.tok.pos
        path = self.path()
        descending = bool(self.accept("keyword", "DESC"))
        if not descending:
            self.accept("keyword", "ASC")
        nulls_first = not descending
        if self.accept("keyword", "NULLS"):
            if self.accept("keyword", "FIRST"):
                nulls_first = True
            else:
                self.expect("keyword", "LAST")
                nulls_first = False
        return OrderItem(path, pos, descending, nulls_first)

    def integer(self) -> int:
        tok = self.expect("number")
        if not isinstance(tok.value, int):
            raise self.error_at(tok.pos, tok.raw)
        return tok.value

    def condition(self) -> Expr:
        first = self.unary()
        if not (self.at("keyword", "AND") or self.at("keyword", "OR")):
            return first
        joiner = self.tok.value
        items = [first]
        while self.accept("keyword", joiner):
            items.append(self.unary())
        if self.at("keyword", "AND") or self.at("keyword", "OR"):
            raise self.unexpected()  # SOQL refuses a AND b OR c without parentheses
        return And(tuple(items)) if joiner == "AND" else Or(tuple(items))

    def unary(self) -> Expr:
        if self.accept("keyword", "NOT"):
            return Not(self.unary())
        if self.accept("punct", "("):
            inner = self.condition()
            self.expect("punct", ")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        pos = self.tok.pos
        path = self.path()
        if self.at("op"):
            op = self.take().value
            value_pos = self.tok.pos
            return Comparison(path, pos, op, (self.literal(),), value_pos)
        if self.accept("keyword", "LIKE"):
            value_pos = self.tok.pos
            return Comparison(path, pos, "LIKE", (self.expect("string").value,), value_pos)
        op = "NOT IN" if self.accept("keyword", "NOT") else "IN"
        self.expect("keyword", "IN")
        self.expect("punct", "(")
        value_pos = self.tok.pos
        values = [self.literal()]
        while self.accept("punct", ","):
            values.append(self.literal())
        self.expect("punct", ")")
        return Comparison(path, pos, op, tuple(values), value_pos)

    def literal(self) -> Any:
        tok = self.tok
        if tok.kind in ("string", "number", "date", "datetime"):
            return self.take().value
        if tok.kind == "keyword" and tok.value in ("TRUE", "FALSE", "NULL"):
            self.take()
            return {"TRUE": True, "FALSE": False, "NULL": None}[tok.value]
        if self.accept("punct", "-"):
            return -self.expect("number").value
        if tok.kind == "ident" and tok.value.upper() in DATE_LITERALS:
            name = self.take().value.upper()
            if name not in ("LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO"):
                return DateLiteral(name)
            self.expect("punct", ":")
            return DateLiteral(name, self.integer())
        raise self.unexpected()


def parse(text: str) -> Query:
    """Parse one SOQL statement; raise ``SoqlError`` (MALFORMED_QUERY) on bad syntax."""
    parser = _Parser(text, _tokenize(text))
    return parser.query()
