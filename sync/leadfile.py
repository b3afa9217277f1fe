"""Reading canonical leads from a JSON Lines file (or stdin), one at a time."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from leadsync.errors import LeadError, LeadsyncError
from leadsync.scoring.lead import Lead, parse_lead


def read_leads(
    source: str | Path, on_invalid: Callable[[LeadError], None] | None = None
) -> Iterator[Lead]:
    """Yield the leads of ``source`` (``-`` is stdin) lazily, in file order.

    A malformed line raises :class:`LeadError` naming it, unless ``on_invalid`` is
    given: then it is reported there and skipped. Blank lines are ignored.
    """
    name = "<stdin>" if str(source) == "-" else str(source)
    try:
        stream = (
            sys.stdin if str(source) == "-" else open(source, encoding="utf-8")  # noqa: SIM115 - closed below
        )
    except OSError as exc:
        raise LeadsyncError(f"{name}: cannot read the file ({exc.strerror})") from None
    try:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            where = f"{name}:{number}"
            try:
                try:
                    data = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise LeadError(
                        f"not valid JSON ({exc.msg} at column {exc.colno})", where
                    ) from None
                lead = parse_lead(data, where)
            except LeadError as error:
                if on_invalid is None:
                    raise
                on_invalid(error)
                continue
            yield lead
    except UnicodeDecodeError as exc:
        raise LeadsyncError(f"{name}: not UTF-8 text ({exc.reason})") from None
    finally:
        if stream is not sys.stdin:
            stream.close()
