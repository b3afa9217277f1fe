"""A backtest of a JSON Lines file on every core: chunks of lines scored in worker processes.

Reading, parsing and scoring a lead costs about 150 µs of one core, so one process does
some 6,000 leads a second; ``leadsync model backtest`` on a file of JSON Lines hands
byte ranges of the file to one worker process per core instead (each reads its own),
each counting its range in a :class:`~leadsync.scoring.backtest.Backtest` of its own,
merged back in file order — the same report as one process gives, with at most two
ranges per worker in flight (constant memory whatever the file's size). CSV files,
stdin and CRM accounts are read in one process (:mod:`leadsync.sync.lab`).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

from leadsync.errors import LeadError, LeadsyncError
from leadsync.scoring.backtest import Backtest, Counts
from leadsync.sync.leadfile import jsonl_leads

#: Bytes per range a worker reads: large enough that starting one costs little.
CHUNK = 8 << 20
#: Below this many bytes a file is scored in this process (starting workers costs more).
MIN_BYTES = 4 << 20

_worker: tuple[Backtest, float] | None = None


def usable(path: str | Path) -> bool:
    """Whether ``path`` is a JSON Lines file large enough to be worth several processes."""
    source = Path(path)
    if str(path) == "-" or source.suffix.lower() not in (".jsonl", ".ndjson"):
        return False
    try:
        return (os.cpu_count() or 1) > 1 and source.stat().st_size >= MIN_BYTES
    except OSError:
        return False


def backtest_file(
    path: str | Path,
    lab: Backtest,
    now: float,
    on_invalid: Callable[[LeadError], None] | None,
) -> None:
    """Count every lead of the JSON Lines file ``path`` into ``lab``."""
    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(workers, initializer=_start, initargs=(lab, now)) as pool:
        pending: deque[Future[tuple[Counts, list[LeadError]]]] = deque()
        for start, end, first in _ranges(path):
            pending.append(
                pool.submit(_count, str(path), start, end, first, on_invalid is not None)
            )
            if len(pending) >= 2 * workers:
                _merge(pending.popleft(), lab, on_invalid)
        while pending:
            _merge(pending.popleft(), lab, on_invalid)


def _ranges(path: str | Path) -> Iterator[tuple[int, int, int]]:
    """``(start, end, number of the first line)`` of byte ranges of about ``CHUNK`` bytes,
    each ending at a line's end: a worker reads its range itself, nothing is sent to it."""
    try:
        stream = open(path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise LeadsyncError(f"{path}: cannot read the file ({exc.strerror})") from None
    with stream:
        start, first = 0, 1
        while block := stream.read(CHUNK):
            block += stream.readline()  # to the end of the line the block cut
            yield start, start + len(block), first
            start += len(block)
            first += block.count(b"\n")


def _merge(
    future: Future[tuple[Counts, list[LeadError]]],
    lab: Backtest,
    on_invalid: Callable[[LeadError], None] | None,
) -> None:
    counted, invalid = future.result()  # a LeadError in a worker is raised here
    if on_invalid is not None:
        for error in invalid:
            on_invalid(error)
    lab.merge(counted)


def _start(lab: Backtest, now: float) -> None:
    global _worker
    _worker = (lab, now)


def _count(
    name: str, start: int, end: int, first: int, skip: bool
) -> tuple[Counts, list[LeadError]]:
    """One byte range, in a worker: its leads scored and counted in a Backtest of its own."""
    assert _worker is not None
    template, now = _worker
    lab = Backtest(
        template.model, template.lowest, template.target_volume, template.target_precision
    )
    with open(name, "rb") as stream:
        stream.seek(start)
        raw = stream.read(end - start)
    try:
        text = raw.decode("utf-8-sig" if start == 0 else "utf-8")
    except UnicodeDecodeError as exc:
        raise LeadsyncError(f"{name}: not UTF-8 text ({exc.reason})") from None
    invalid: list[LeadError] = []
    for lead in jsonl_leads(text.splitlines(), name, invalid.append if skip else None, first):
        lab.add_lead(lead, now)
    return lab.counts(), invalid
