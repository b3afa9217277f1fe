"""``leadsync score`` of a large JSON Lines file on every core, in input order.

One process reads, scores and writes about 20,000 leads a second; a JSON Lines file of
4 MB or more is cut into byte ranges (:mod:`~leadsync.sync.fileranges`), each scored and
formatted by a worker process, and the main process writes the ranges' text in file
order — the same bytes one process writes, with at most two ranges per worker in
flight. A malformed line stops the output right before it, as in one process; with
``on_invalid`` it is reported in its place and skipped.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TextIO

from leadsync.errors import LeadError
from leadsync.scoring.engine import compiled
from leadsync.scoring.model import ScoringModel
from leadsync.sync import output
from leadsync.sync.fileranges import map_ranges, read_range
from leadsync.sync.leadfile import jsonl_leads

#: What a worker sends back for one range: the output text, the lines skipped, the
#: leads written and the fault that stopped the range (when not skipping).
Scored = tuple[str, list[LeadError], int, LeadError | None]

_worker: tuple[ScoringModel, float, str] | None = None


def score_file(
    path: str | Path,
    model: ScoringModel,
    moment: datetime,
    fmt: str,
    out: TextIO,
    on_invalid: Callable[[LeadError], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the scores of every lead of ``path`` to ``out`` as ``fmt`` (``jsonl`` or
    ``csv``); the number of leads written."""
    if fmt == "csv":
        out.write(output.CSV_HEADER)
    written = 0
    score = partial(_score, skip=on_invalid is not None)
    initargs = (model, moment.timestamp(), fmt)
    for (text, invalid, count, fault), size in map_ranges(path, score, _start, initargs):
        if on_invalid is not None:
            for error in invalid:
                on_invalid(error)
        out.write(text)
        if fault is not None:
            raise fault
        if progress is not None:
            progress(size)
        written += count
    return written


def _start(model: ScoringModel, moment: float, fmt: str) -> None:
    global _worker
    _worker = (model, moment, fmt)


def _score(name: str, start: int, end: int, first: int, *, skip: bool) -> Scored:
    """One byte range, in a worker: its leads scored and written as text."""
    assert _worker is not None
    model, moment, fmt = _worker
    engine = compiled(model)
    invalid: list[LeadError] = []
    results = []
    fault = None
    try:
        for lead in jsonl_leads(
            read_range(name, start, end), name, invalid.append if skip else None, first
        ):
            results.append(engine.score(lead, moment))
    except LeadError as error:
        fault = error
    text = io.StringIO()
    if fmt == "csv":
        output.write_csv(results, text, header=False)
    else:
        output.write_jsonl(results, text)
    return text.getvalue(), invalid, len(results), fault
