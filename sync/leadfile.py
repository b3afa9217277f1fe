"""Reading canonical leads from a JSON Lines or CSV file (or stdin), one at a time.

JSON Lines is the canonical format (docs/lead-format.md). A CSV file — a CRM's
contact export, a spreadsheet — has a header row; each row is a lead whose columns
become properties, with the lead's id in one column (:attr:`Columns.id`) and,
optionally, the outcome in others. Neither is ever held whole in memory.
"""

from __future__ import annotations

import csv
import itertools
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import msgspec
import yaml

from leadsync.errors import LeadError, LeadsyncError
from leadsync.scoring.lead import OUTCOME_KEYS, Lead, Outcome, outcome_value, parse_lead

_CSV_SUFFIXES = frozenset({".csv", ".tsv"})
_JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
_FLAGS = {"1": True, "yes": True, "true": True, "0": False, "no": False, "false": False}
_MAPS_DIR = Path(str(resources.files("leadsync.config").joinpath("maps")))


@dataclass(frozen=True)
class Columns:
    """How the columns of a CSV file become a canonical lead.

    ``id`` names the id column; ``outcome`` the 0/1, yes/no or true/false column that
    fills ``outcome.converted``; ``rename`` maps other columns to canonical names: a
    property (``title``), ``id``, or ``outcome.<key>`` (``outcome.won_at``…).
    """

    id: str = "id"
    outcome: str | None = None
    rename: Mapping[str, str] = field(default_factory=dict)


def read_leads(
    source: str | Path,
    on_invalid: Callable[[LeadError], None] | None = None,
    columns: Columns | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Lead]:
    """Yield the leads of ``source`` (``-`` is stdin) lazily, in file order.

    The format is CSV for a ``.csv`` file, JSON Lines for ``.jsonl``; otherwise (stdin
    included) a first line starting with ``{`` means JSON Lines, anything else CSV.
    A malformed line raises :class:`LeadError` naming it, unless ``on_invalid`` is
    given: then it is reported there and skipped. Blank lines are ignored.
    ``progress``, when given, is told every so often how many characters were read.
    """
    name = "<stdin>" if str(source) == "-" else str(source)
    try:
        stream: TextIO = (
            sys.stdin if str(source) == "-" else open(source, encoding="utf-8-sig")  # noqa: SIM115 - closed below
        )
    except OSError as exc:
        raise LeadsyncError(f"{name}: cannot read the file ({exc.strerror})") from None
    try:
        lines, is_csv = _detect(stream, Path(name).suffix.lower())
        if progress is not None:
            lines = _reported(lines, progress)
        if is_csv:
            yield from _csv_leads(lines, name, columns or Columns(), on_invalid)
        else:
            yield from jsonl_leads(lines, name, on_invalid)
    except UnicodeDecodeError as exc:
        raise LeadsyncError(f"{name}: not UTF-8 text ({exc.reason})") from None
    finally:
        if stream is not sys.stdin:
            stream.close()


def _detect(stream: TextIO, suffix: str) -> tuple[Iterable[str], bool]:
    """The stream's lines (nothing consumed lost) and whether they are CSV."""
    if suffix in _CSV_SUFFIXES:
        return stream, True
    if suffix in _JSONL_SUFFIXES:
        return stream, False
    head: list[str] = []
    for line in stream:
        head.append(line)
        if line.strip():
            break
    first = head[-1].lstrip("\ufeff \t") if head else "{"
    return itertools.chain(head, stream), not first.startswith("{")


def _reported(lines: Iterable[str], progress: Callable[[int], None]) -> Iterator[str]:
    """``lines`` unchanged, their length told to ``progress`` every 1,000 lines (a
    progress bar's update costs more than reading a line)."""
    read = 0
    for number, line in enumerate(lines, start=1):
        read += len(line)
        if number % 1000 == 0:
            progress(read)
            read = 0
        yield line
    progress(read)


def jsonl_leads(
    lines: Iterable[str],
    name: str,
    on_invalid: Callable[[LeadError], None] | None,
    start: int = 1,
) -> Iterator[Lead]:
    """The leads of JSON Lines text, ``lines`` being the file's from line ``start`` on."""
    for number, line in enumerate(lines, start=start):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            data = _decode(line, where)
            lead = parse_lead(data, where)
        except LeadError as error:
            if on_invalid is None:
                raise
            on_invalid(error)
            continue
        yield lead


def _decode(line: str, where: str) -> Any:
    """One JSON line, decoded by msgspec (twice as fast as the standard library's, which
    is a third of reading a lead); a malformed one is described by the standard library,
    whose messages give the column."""
    try:
        return _DECODER.decode(line)
    except msgspec.DecodeError:
        text = line.rstrip("\r\n")
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.pos >= len(text) or exc.msg.startswith("Unterminated string"):
                reason = f"the line ends at column {len(text) + 1} inside a value: cut short?"
            else:
                reason = f"{exc.msg.removesuffix(' at')} at column {exc.colno}"
            raise LeadError(f"not valid JSON ({reason})", where) from None


_DECODER = msgspec.json.Decoder()


def _csv_leads(
    lines: Iterable[str],
    name: str,
    columns: Columns,
    on_invalid: Callable[[LeadError], None] | None,
) -> Iterator[Lead]:
    lines = iter(lines)
    header_line = ""
    skipped = 0
    for header_line in lines:
        if header_line.strip():
            break
        skipped += 1
    if not header_line.strip():
        return
    delimiter = max(",;\t", key=header_line.count)
    reader = csv.reader(itertools.chain([header_line], lines), delimiter=delimiter)
    header = [cell.strip().lstrip("\ufeff") for cell in next(reader)]
    targets = _targets(header, columns, f"{name}:{skipped + 1}")
    id_index = targets.index("id")
    while True:
        number = skipped + reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise LeadError(f"not valid CSV ({exc})", f"{name}:{number}") from None
        if not any(cell.strip() for cell in row):
            continue
        try:
            yield _row_lead(row, header, targets, id_index, f"{name}:{number}")
        except LeadError as error:
            if on_invalid is None:
                raise
            on_invalid(error)


def _targets(header: list[str], columns: Columns, where: str) -> list[str]:
    """The canonical name of every column, or a message naming the header's fault."""
    rename = {old: new for old, new in columns.rename.items() if old in header}
    for option, column in (("--id-column", columns.id), ("--outcome-column", columns.outcome)):
        named_elsewhere = option == "--id-column" and "id" in rename.values()
        if column is not None and column not in header and not named_elsewhere:
            raise LeadError(
                f"no column {column!r} (the columns are: {', '.join(header)}); "
                f"name the right one with {option}",
                where,
            )
    targets: list[str] = []
    seen: dict[str, str] = {}
    for column in header:
        if column == columns.outcome:
            target = "outcome.converted"
        elif column in rename:
            target = rename[column]
        elif column == columns.id and "id" not in rename.values():
            target = "id"
        else:
            target = column
        if target.startswith("outcome.") and target[8:] not in OUTCOME_KEYS:
            raise LeadError(
                f"column {column!r}: {target!r} is not an outcome key "
                f"(outcome.{', outcome.'.join(OUTCOME_KEYS)})",
                where,
            )
        if not column:
            raise LeadError(f"column {len(targets) + 1} has no name", where)
        if target in seen:
            raise LeadError(f"columns {seen[target]!r} and {column!r} both give {target!r}", where)
        seen[target] = column
        targets.append(target)
    if "id" not in seen:
        raise LeadError(f"no id column (the columns are: {', '.join(header)})", where)
    return targets


def _row_lead(
    row: list[str], header: list[str], targets: list[str], id_index: int, where: str
) -> Lead:
    if len(row) != len(header):
        raise LeadError(f"{len(row)} values for {len(header)} columns", where)
    lead_id = row[id_index].strip()
    if not lead_id:
        raise LeadError(f"column {header[id_index]!r}: empty (every row needs an id)", where)
    here = f"{where} (lead {lead_id})"
    properties: dict[str, Any] = {}
    outcome: dict[str, Any] = {}
    for column, target, cell in zip(header, targets, row, strict=True):
        text = cell.strip()
        if target == "id" or not text:
            continue
        if not target.startswith("outcome."):
            properties[target] = text
            continue
        key = target[8:]
        try:
            if key == "converted":
                if text.lower() not in _FLAGS:
                    raise ValueError(f"{text!r} is not 0/1, yes/no or true/false")
                outcome[key] = _FLAGS[text.lower()]
            else:
                outcome[key] = outcome_value(key, text)
        except ValueError as error:
            raise LeadError(f"column {column!r}: {error}", here) from None
    return Lead(lead_id, properties, (), Outcome(**outcome) if outcome else None)


def load_map(values: Iterable[str]) -> dict[str, str]:
    """Column renames from ``--map`` values: ``old=new`` pairs, YAML files or shipped maps.

    A file (or a shipped map's name, ``hubspot`` or ``salesforce``) is a YAML mapping
    of column to canonical name. Later values win.
    """
    renames: dict[str, str] = {}
    for value in values:
        path = Path(value)
        shipped = _MAPS_DIR / f"{value}.yaml"
        if path.is_file() or ("=" not in value and shipped.is_file()):
            renames.update(_map_file(path if path.is_file() else shipped))
        elif "=" in value:
            old, _, new = value.partition("=")
            if not old.strip() or not new.strip():
                raise LeadsyncError(f"--map {value!r}: write it as column=name")
            renames[old.strip()] = new.strip()
        else:
            raise LeadsyncError(
                f"--map {value!r}: no such file, and not a column=name pair "
                f"(shipped maps: {', '.join(sorted(p.stem for p in _MAPS_DIR.glob('*.yaml')))})"
            )
    return renames


def _map_file(path: Path) -> dict[str, str]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LeadsyncError(f"{path}: cannot read the file ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise LeadsyncError(
            f"{path}{at}: not valid YAML ({getattr(exc, 'problem', exc)})"
        ) from None
    if not isinstance(data, dict):
        raise LeadsyncError(f"{path}: a map is a YAML mapping of column: canonical name")
    for old, new in data.items():
        if not isinstance(new, str) or not new.strip():
            raise LeadsyncError(f"{path}: {old!r}: the new name must be a non-empty string")
    return {str(old).strip(): new.strip() for old, new in data.items()}
