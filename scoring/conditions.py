"""Conditions: the tests a model applies to a property or an event attribute.

A condition is written in YAML as a scalar (``technology`` means *equals*), a list
(``[technology, e-commerce]`` means *in*) or a mapping of operators, all of which
must hold. :func:`compile_test` turns a validated :class:`ValueTest` into a plain
predicate so that scoring does no interpretation per lead.

Matching rules, in one place:

- text comparisons ignore case and surrounding spaces;
- numbers compare as numbers, and numeric strings (``"120"``) count as numbers;
- a missing value (absent, null or blank) matches only ``exists: false`` / ``missing: true``
  (and whatever ``not`` wraps around a test it fails);
- ``url`` attributes of events are compared by their path (``/pricing``), not the whole URL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from leadsync.scoring.lead import Scalar

Predicate = Callable[[Scalar], bool]

_TRUE_WORDS = frozenset({"true", "yes", "y", "1", "on"})
_FALSE_WORDS = frozenset({"false", "no", "n", "0", "off"})
_EMAIL = re.compile(r"^[^@\s]+@([^@\s]+\.[^@\s]+)$")


class ValueTest(BaseModel):
    """Operators over one value; every operator given must hold."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    equals: str | bool | int | float | None = None
    in_: list[str | bool | int | float] | None = Field(default=None, alias="in")
    contains_any: list[str] | None = None
    between: tuple[float, float] | None = None
    at_least: float | None = None
    at_most: float | None = None
    domain_in: list[str] | None = None
    matches: str | None = None
    exists: bool | None = None
    missing: bool | None = None
    not_: ValueTest | None = Field(default=None, alias="not")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"in": data}
        if data is None or isinstance(data, str | bool | int | float):
            return {"equals": data}
        return data

    @field_validator("in_", "contains_any", "domain_in", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | bool | int | float) else value

    @field_validator("matches")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression ({exc})") from None
        return value

    @model_validator(mode="after")
    def _check(self) -> ValueTest:
        if not self.model_fields_set:
            raise ValueError("a condition needs at least one operator")
        if self.equals is None and "equals" in self.model_fields_set:
            raise ValueError("equals: null is not a value; use 'missing: true'")
        if self.between is not None and self.between[0] > self.between[1]:
            raise ValueError("between: the low bound is above the high bound")
        return self

    def describe(self) -> str:
        """A short human reading, e.g. ``contains any of ceo, vp``."""
        parts: list[str] = []
        if "equals" in self.model_fields_set:
            parts.append(f"is {_show(self.equals)}")
        if self.in_ is not None:
            parts.append("is one of " + ", ".join(_show(v) for v in self.in_))
        if self.contains_any is not None:
            parts.append("contains any of " + ", ".join(self.contains_any))
        if self.between is not None:
            parts.append(f"is between {_num(self.between[0])} and {_num(self.between[1])}")
        if self.at_least is not None:
            parts.append(f"is at least {_num(self.at_least)}")
        if self.at_most is not None:
            parts.append(f"is at most {_num(self.at_most)}")
        if self.domain_in is not None:
            parts.append("has an email domain in " + ", ".join(self.domain_in))
        if self.matches is not None:
            parts.append(f"matches /{self.matches}/")
        if self.exists is not None:
            parts.append("is present" if self.exists else "is missing")
        if self.missing is not None:
            parts.append("is missing" if self.missing else "is present")
        if self.not_ is not None:
            parts.append(f"not ({self.not_.describe()})")
        return " and ".join(parts)


def compile_test(test: ValueTest, *, url_path: bool = False) -> Predicate:
    """Turn ``test`` into a predicate; with ``url_path`` the value is reduced to its URL path."""
    checks = _checks(test)

    def check(value: Scalar) -> bool:
        if url_path and isinstance(value, str):
            value = _url_path(value)
        return all(c(value) for c in checks)

    return _remember(check)


def _remember(predicate: Predicate) -> Predicate:
    """Cache the predicate's answer per value: URLs, forms, titles and sizes repeat a lot.

    Values are keyed by type too, since ``True == 1`` yet they do not match alike.
    """
    by_type: dict[type, dict[Scalar, bool]] = {}

    def remembered(value: Scalar) -> bool:
        answers = by_type.get(type(value))
        if answers is None:
            answers = by_type[type(value)] = {}
        answer = answers.get(value)
        if answer is None:
            answer = predicate(value)
            if len(answers) >= 8192:
                answers.clear()
            answers[value] = answer
        return answer

    return remembered


def _checks(test: ValueTest) -> list[Predicate]:
    checks: list[Predicate] = []
    if "equals" in test.model_fields_set:
        checks.append(_equals(test.equals))
    if test.in_ is not None:
        options = [_equals(v) for v in test.in_]
        checks.append(lambda v: any(o(v) for o in options))
    if test.contains_any is not None:
        needles = tuple(n.strip().casefold() for n in test.contains_any)

        def contains(value: Scalar) -> bool:
            text = _text(value)
            return text is not None and any(n in text for n in needles)

        checks.append(contains)
    low = high = None
    if test.between is not None:
        low, high = test.between
    if test.at_least is not None:
        low = test.at_least if low is None else max(low, test.at_least)
    if test.at_most is not None:
        high = test.at_most if high is None else min(high, test.at_most)
    if low is not None or high is not None:
        lo = -math.inf if low is None else low
        hi = math.inf if high is None else high

        def in_range(value: Scalar) -> bool:
            number = to_number(value)
            return number is not None and lo <= number <= hi

        checks.append(in_range)
    if test.domain_in is not None:
        domains = frozenset(d.strip().casefold().lstrip("@") for d in test.domain_in)
        checks.append(lambda v: email_domain(v) in domains)
    if test.matches is not None:
        pattern = re.compile(test.matches, re.IGNORECASE)

        def matches(value: Scalar) -> bool:
            return not is_missing(value) and pattern.search(str(value).strip()) is not None

        checks.append(matches)
    if test.exists is not None:
        want_present = test.exists
        checks.append(lambda v: is_missing(v) != want_present)
    if test.missing is not None:
        want_missing = test.missing
        checks.append(lambda v: is_missing(v) == want_missing)
    if test.not_ is not None:
        inner = compile_test(test.not_)
        checks.append(lambda v: not inner(v))
    return checks


def _equals(expected: str | bool | int | float | None) -> Predicate:
    if isinstance(expected, bool):
        return lambda v: to_bool(v) is expected
    if isinstance(expected, int | float):
        target = float(expected)
        return lambda v: to_number(v) == target
    wanted = _text(expected)
    return lambda v: _text(v) == wanted


def is_missing(value: Scalar) -> bool:
    """Absent, null and blank strings all count as missing."""
    return value is None or (isinstance(value, str) and not value.strip())


def to_number(value: Scalar) -> float | None:
    """The value as a finite number, or None (booleans are not numbers)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        try:
            number = float(value.strip())
        except ValueError:
            return None
    return number if math.isfinite(number) else None


def to_bool(value: Scalar) -> bool | None:
    """Booleans, ``yes``/``no``-style words and 1/0 as a boolean, else None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return {1: True, 0: False}.get(value)  # type: ignore[call-overload]
    if isinstance(value, str):
        word = value.strip().casefold()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    return None


def email_domain(value: Scalar) -> str | None:
    """The lower-cased domain of a well-formed address; a malformed one has none."""
    if not isinstance(value, str):
        return None
    found = _EMAIL.match(value.strip())
    return found.group(1).casefold().rstrip(".") if found else None


def _text(value: Scalar) -> str | None:
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().casefold()


def _url_path(url: str) -> str:
    path = urlsplit(url.strip()).path
    return path or "/"


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _num(value)
    return str(value)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
