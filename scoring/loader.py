"""Read a model file into a :class:`ScoringModel`, or say precisely what is wrong with it.

Every fault is reported at once, each naming the file, the path inside it and the
line, e.g. ``b2b.yaml: rules[3].points: must be a number (line 14)``.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from leadsync.errors import ModelError
from leadsync.scoring import conditions, model

Loc = tuple[str | int, ...]

# Segments pydantic adds to an error's location that the YAML does not have.
_SYNTHETIC = {"properties", "attributes", "fit", "engagement", "bucket", "inactivity"}
_UNION_MEMBERS = {"str", "bool", "int", "float", "list[union[str,bool,int,float]]"}
_TYPE_WORDS = {
    "float_parsing": "a number",
    "float_type": "a number",
    "int_parsing": "a whole number",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "text",
    "list_type": "a list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


class _Loader(yaml.SafeLoader):
    """YAML with 1.2 booleans: only true/false, so ``on:`` and ``NO`` (Norway) stay text."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def read_yaml(text: str) -> Any:
    """A model file's data as the model loader reads it (``on:`` and ``yes`` stay words:
    only ``true`` and ``false`` are booleans)."""
    return yaml.load(text, Loader=_Loader)


def load_model(path: str | Path) -> model.ScoringModel:
    """Load and validate a model file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelError(str(path), [f"cannot read the file ({exc.strerror})"]) from None
    except UnicodeDecodeError:
        raise ModelError(str(path), ["not a UTF-8 text file"]) from None
    return parse_model(text, source=path.name)


def parse_model(text: str, source: str = "<model>") -> model.ScoringModel:
    """Validate a model given as YAML text; ``source`` names it in error messages."""
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise ModelError(source, [_yaml_problem(exc)]) from None
    if root is None:
        raise ModelError(source, ["the file is empty"])
    lines: dict[Loc, int] = {}
    problems = _index(root, (), lines)
    if problems:
        raise ModelError(source, problems)
    data = yaml.load(text, Loader=_Loader)
    if not isinstance(data, dict):
        raise ModelError(source, ["a model must be a mapping (name, version, rules, tiers…)"])
    try:
        parsed = model.ScoringModel.model_validate(data)
    except ValidationError as exc:
        raise ModelError(source, _pydantic_problems(exc, data, lines)) from None
    semantic = model.semantic_problems(parsed)
    if semantic:
        raise ModelError(source, [_at(loc, message, lines) for loc, message in semantic])
    return parsed


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return f"not valid YAML: {problem}"
    return f"not valid YAML: {problem} (line {mark.line + 1}, column {mark.column + 1})"


def _index(node: yaml.Node, loc: Loc, lines: dict[Loc, int]) -> list[str]:
    """Record the line of every path; report duplicate keys, which YAML silently merges."""
    lines[loc] = node.start_mark.line + 1
    problems: list[str] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                where = _render((*loc, key))
                problems.append(f"{where}: duplicate key (line {key_node.start_mark.line + 1})")
            seen.add(key)
            problems += _index(value_node, (*loc, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems += _index(item, (*loc, i), lines)
    return problems


def _pydantic_problems(exc: ValidationError, data: Any, lines: dict[Loc, int]) -> list[str]:
    by_loc: dict[Loc, list[str]] = {}
    for error in exc.errors():
        by_loc.setdefault(_yaml_loc(error["loc"], data), []).append(_message(error))
    return [_at(loc, _merge(messages), lines) for loc, messages in by_loc.items()]


def _merge(messages: list[str]) -> str:
    """One message per place: a value that fits none of several types says so once."""
    unique = list(dict.fromkeys(messages))
    types = [m.removeprefix("must be ") for m in unique if m.startswith("must be ")]
    if len(types) > 1 and len(types) == len(unique):
        return "must be " + ", ".join(types[:-1]) + " or " + types[-1]
    return "; ".join(unique)


def _yaml_loc(loc: tuple[Any, ...], data: Any) -> Loc:
    """Map pydantic's location to the path as written in the YAML."""
    out: list[str | int] = []
    node = data
    for part in loc:
        synthetic = part in _SYNTHETIC or part in _UNION_MEMBERS
        if synthetic and not (isinstance(node, dict) and part in node):
            continue
        if isinstance(part, int) and not isinstance(node, list):
            continue  # a single item written where a list is allowed
        out.append(part)
        node = node.get(part) if isinstance(node, dict) else _item(node, part)
    return tuple(out)


def _item(node: Any, part: str | int) -> Any:
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None


def _render(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _at(loc: Loc, message: str, lines: dict[Loc, int]) -> str:
    line = _line(loc, lines)
    return f"{_render(loc)}: {message}" + (f" (line {line})" if line else "")


def _line(loc: Loc, lines: dict[Loc, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _message(error: Any) -> str:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        name = str(error["loc"][-1])
        if name in model.RULE_KEYS:
            return "a rule has exactly one of 'when', 'on', 'buckets' or 'inactive_days'"
        guess = difflib.get_close_matches(name, _known_keys(), n=1)
        return "unknown key" + (f" (did you mean {guess[0]!r}?)" if guess else "")
    if kind in _TYPE_WORDS:
        return f"must be {_TYPE_WORDS[kind]}"
    if kind == "greater_than":
        return f"must be more than {ctx.get('gt')}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "less_than_equal":
        return f"must be at most {ctx.get('le')}"
    if kind == "too_short":
        return "must not be empty" if ctx.get("min_length") == 1 else error["msg"]
    if kind == "string_pattern_mismatch":
        return "must start with a letter or digit and hold only letters, digits, '-', '_' or '.'"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    msg = str(error["msg"])
    return msg[:1].lower() + msg[1:]


def _known_keys() -> list[str]:
    keys: set[str] = set()
    classes: list[type[BaseModel]] = [
        conditions.ValueTest,
        model.ScoringModel,
        model.FitRule,
        model.EventRule,
        model.BucketRule,
        model.InactivityRule,
        model.BucketSource,
        model.BucketCase,
        model.EventCount,
        model.Group,
        model.Tier,
    ]
    for cls in classes:
        for name, field in cls.model_fields.items():
            keys.add(field.alias or name)
    keys.discard("kind")
    return sorted(keys)
