"""A backtest of a JSON Lines file on every core: chunks of lines scored in worker processes.

Reading, parsing and scoring a lead costs about 45 µs of one core, so one process does
some 20,000 leads a second; ``leadsync model backtest`` on a file of JSON Lines hands
byte ranges of the file (:mod:`~leadsync.sync.fileranges`) to one worker process per
core instead (each reads its own),
each counting its range in a :class:`~leadsync.scoring.backtest.Backtest` of its own,
merged back in file order — the same report as one process gives, with at most two
ranges per worker in flight (constant memory whatever the file's size). CSV files,
stdin and CRM accounts are read in one process (:mod:`leadsync.sync.lab`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from leadsync.errors import LeadError
from leadsync.scoring.backtest import Backtest, Counts
from leadsync.sync.fileranges import map_ranges, read_range
from leadsync.sync.leadfile import jsonl_leads

_worker: tuple[Backtest, float] | None = None


def backtest_file(
    path: str | Path,
    lab: Backtest,
    now: float,
    on_invalid: Callable[[LeadError], None] | None,
) -> None:
    """Count every lead of the JSON Lines file ``path`` into ``lab``."""
    count = partial(_count, skip=on_invalid is not None)
    for (counted, invalid), _ in map_ranges(path, count, _start, (lab, now)):
        if on_invalid is not None:
            for error in invalid:
                on_invalid(error)
        lab.merge(counted)


def _start(lab: Backtest, now: float) -> None:
    global _worker
    _worker = (lab, now)


def _count(
    name: str, start: int, end: int, first: int, *, skip: bool
) -> tuple[Counts, list[LeadError]]:
    """One byte range, in a worker: its leads scored and counted in a Backtest of its own."""
    assert _worker is not None
    template, now = _worker
    lab = Backtest(
        template.model, template.lowest, template.target_volume, template.target_precision
    )
    invalid: list[LeadError] = []
    lines = read_range(name, start, end)
    for lead in jsonl_leads(lines, name, invalid.append if skip else None, first):
        lab.add_lead(lead, now)
    return lab.counts(), invalid
