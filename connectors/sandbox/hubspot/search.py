"""CRM search (``POST /crm/v3/objects/contacts/search``) as HubSpot runs it.

Filter groups are ORed, the filters inside a group ANDed, a top-level ``filters``
list ANDed with them (Airbyte's HubSpot source sends one); an unknown key is a 400;
at most 5 groups, 6 filters per group and 18 in all; one sort; ``limit`` at most
200; ``after`` is an offset; and no query may page past 10,000 results (a 400), which is what forces
real connectors to re-anchor on a cursor property. Source: the facts sheet
(``crm-api-facts.md`` § Reading contacts) and HubSpot's search guide
(https://developers.hubspot.com/docs/api/crm/search).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from leadsync.connectors.sandbox.hubspot.props import PropertyDef, parse_time_ms

__all__ = ["MAX_RESULTS", "SearchError", "run_search", "validate_search"]

MAX_RESULTS = 10_000
MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18
MAX_LIMIT, MAX_BODY_CHARS = 200, 3000
OPERATORS = (
    "EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY",
    "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN",
)  # fmt: skip
#: The fields of HubSpot's search request; any other key is refused (400). A top-level
#: ``filters`` list is ANDed with the filter groups (third-party extractors send it).
REQUEST_FIELDS = ("filterGroups", "filters", "sorts", "query", "properties", "limit", "after")
#: Properties a free-text ``query`` looks in (HubSpot's default searchable fields of
#: contacts, companies and deals).
QUERY_PROPS = ("firstname", "lastname", "email", "company", "phone", "hs_object_id", "name",
               "domain", "dealname")  # fmt: skip


class SearchError(ValueError):
    """A search body HubSpot refuses with 400 VALIDATION_ERROR."""


def validate_search(body: Any, raw_len: int, defs: dict[str, PropertyDef]) -> dict[str, Any]:
    """Check a search body against HubSpot's limits; return it normalised.

    Raises :class:`SearchError` with HubSpot-like wording for each violation.
    """
    if not isinstance(body, dict):
        raise SearchError("Invalid input JSON: the search request must be a JSON object.")
    if raw_len > MAX_BODY_CHARS:
        raise SearchError(f"The search request is too long ({raw_len} characters); max 3000.")
    for key in body:
        if key not in REQUEST_FIELDS:
            raise SearchError(
                f'Invalid input JSON on line 1: Unrecognized field "{key}" (class '
                "PublicObjectSearchRequest), not marked as ignorable "
                f"({len(REQUEST_FIELDS)} known properties: {', '.join(REQUEST_FIELDS)})"
            )
    groups = body.get("filterGroups") or []
    if not isinstance(groups, list):
        raise SearchError("filterGroups must be a list.")
    if len(groups) > MAX_GROUPS:
        raise SearchError(f"Too many filter groups ({len(groups)}). The maximum is {MAX_GROUPS}.")
    top = body.get("filters") or []
    if not isinstance(top, list):
        raise SearchError("filters must be a list.")
    total = 0
    for group in [*groups, {"filters": top}]:
        filters = (group or {}).get("filters") or []
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise SearchError(
                f"Too many filters in a group ({len(filters)}). "
                f"The maximum is {MAX_FILTERS_PER_GROUP} per group."
            )
        total += len(filters)
        for f in filters:
            _check_filter(f, defs)
    if total > MAX_FILTERS:
        raise SearchError(f"Too many filters ({total}). The maximum is {MAX_FILTERS} in all.")
    sorts = body.get("sorts") or []
    if len(sorts) > 1:
        raise SearchError("Only one sort is supported per search request.")
    sort = None
    if sorts:
        s = sorts[0]
        if isinstance(s, str):  # "-createdate" / "createdate" shorthand
            s = {
                "propertyName": s.lstrip("-"),
                "direction": "DESCENDING" if s.startswith("-") else "ASCENDING",
            }
        if s.get("propertyName") not in defs:
            raise SearchError(f"Unknown sort property '{s.get('propertyName')}'.")
        if s.get("direction", "ASCENDING") not in ("ASCENDING", "DESCENDING"):
            raise SearchError("Sort direction must be ASCENDING or DESCENDING.")
        sort = (s["propertyName"], s.get("direction", "ASCENDING") == "DESCENDING")
    limit = body.get("limit", 10)
    if not isinstance(limit, int) or limit < 0:
        raise SearchError("limit must be a non-negative integer.")
    if limit > MAX_LIMIT:
        raise SearchError(f"limit must be at most {MAX_LIMIT} (got {limit}).")
    after_raw = body.get("after") or "0"
    try:
        after = int(str(after_raw))
    except ValueError:
        raise SearchError(f"Invalid 'after' value '{after_raw}'.") from None
    if after >= MAX_RESULTS:
        raise SearchError(
            f"Paging beyond {MAX_RESULTS} results is not supported "
            f"(after={after}). Narrow the query, e.g. with a GT filter on the sort property."
        )
    props = body.get("properties") or []
    return {"groups": groups, "filters": top, "sort": sort, "limit": limit, "after": after,
            "properties": props, "query": body.get("query")}  # fmt: skip


def _check_filter(f: Any, defs: dict[str, PropertyDef]) -> None:
    if not isinstance(f, dict):
        raise SearchError("Each filter must be an object.")
    name, op = f.get("propertyName"), f.get("operator")
    if op not in OPERATORS:
        raise SearchError(f"Unknown operator '{op}'. Use one of {', '.join(OPERATORS)}.")
    if name not in defs:
        raise SearchError(f"Property '{name}' in a filter does not exist.")
    if op == "BETWEEN" and (f.get("value") is None or f.get("highValue") is None):
        raise SearchError("BETWEEN needs both value and highValue.")
    if op in ("IN", "NOT_IN") and not isinstance(f.get("values"), list):
        raise SearchError(f"{op} needs a 'values' list.")
    if op not in ("HAS_PROPERTY", "NOT_HAS_PROPERTY", "IN", "NOT_IN", "BETWEEN") and (
        f.get("value") is None
    ):
        raise SearchError(f"Operator {op} needs a 'value'.")


def _coerce(d: PropertyDef, value: Any) -> Any:
    """A comparable form of a value: numbers, epoch ms, or lower-cased strings."""
    if value is None:
        return None
    if d.type == "number":
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if d.type in ("datetime", "date"):
        return parse_time_ms(value)
    return str(value).lower()


def _token_match(text: str | None, pattern: str) -> bool:
    """CONTAINS_TOKEN: a whole-token match, ``*`` as a wildcard (``*@gmail.com``)."""
    if not text:
        return False
    pat = pattern.lower()
    tokens = re.split(r"[\s,;]+", text.lower())
    regex = re.compile("^" + ".*".join(re.escape(p) for p in pat.split("*")) + "$")
    if "*" in pat:
        return any(regex.match(t) for t in tokens) or bool(regex.match(text.lower()))
    parts = re.split(r"[\s,;@.\-_]+", text.lower())
    return pat in tokens or pat in parts or pat == text.lower()


def _matches(f: dict[str, Any], props: dict[str, str | None], defs: dict[str, PropertyDef]) -> bool:
    name, op = f["propertyName"], f["operator"]
    raw = props.get(name)
    if op == "HAS_PROPERTY":
        return raw not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return raw in (None, "")
    d = defs[name]
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        hit = _token_match(raw, str(f["value"]))
        return hit if op == "CONTAINS_TOKEN" else not hit
    if op in ("IN", "NOT_IN"):
        # HubSpot compares string values lower-cased: upper-case inputs never match.
        values = f["values"]
        if d.type in ("string", "enumeration", "bool"):
            have = (raw or "").lower() if raw is not None else None
            hit = have is not None and have in [str(v) for v in values]
        else:
            have_c = _coerce(d, raw)
            hit = have_c is not None and have_c in [_coerce(d, v) for v in values]
        return hit if op == "IN" else not hit
    have = _coerce(d, raw)
    want = _coerce(d, f.get("value"))
    if op == "EQ":
        return have is not None and have == want
    if op == "NEQ":
        return have != want
    if have is None or want is None:
        return False
    if op == "BETWEEN":
        high = _coerce(d, f.get("highValue"))
        return high is not None and want <= have <= high
    cmp: dict[str, Callable[[Any, Any], bool]] = {
        "LT": lambda a, b: a < b,
        "LTE": lambda a, b: a <= b,
        "GT": lambda a, b: a > b,
        "GTE": lambda a, b: a >= b,
    }
    try:
        return cmp[op](have, want)
    except TypeError:
        return False


def run_search(
    spec: dict[str, Any],
    ids: Iterable[int],
    props_of: Callable[[int], dict[str, str | None]],
    defs: dict[str, PropertyDef],
) -> tuple[int, list[int]]:
    """Evaluate a validated search over record keys; return ``(total, keys of the page)``."""
    groups, top = spec["groups"], spec.get("filters") or []
    query = (spec.get("query") or "").strip().lower()
    hits: list[tuple[Any, int]] = []
    sort = spec["sort"]
    for key in ids:
        props = props_of(key)
        if not all(_matches(f, props, defs) for f in top):
            continue
        if groups and not any(
            all(_matches(f, props, defs) for f in (g or {}).get("filters") or []) for g in groups
        ):
            continue
        if query and not any(query in (props.get(n) or "").lower() for n in QUERY_PROPS):
            continue
        sort_value = _coerce(defs[sort[0]], props.get(sort[0])) if sort else None
        hits.append((sort_value, key))
    if sort:
        present = [h for h in hits if h[0] is not None]
        missing = [h for h in hits if h[0] is None]
        present.sort(key=lambda h: (h[0], h[1]), reverse=sort[1])
        hits = present + missing
    start, limit = spec["after"], spec["limit"]
    return len(hits), [key for _, key in hits[start : start + limit]]
