"""A large JSON Lines file cut into byte ranges that worker processes read themselves.

``leadsync model backtest`` (:mod:`~leadsync.sync.labpool`) and ``leadsync score``
(:mod:`~leadsync.sync.scorepool`) hand each worker a range of the file instead of its
lines: nothing is sent to a worker but three numbers, and at most a few ranges are in
memory at once, whatever the file's size.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from leadsync.errors import LeadsyncError

T = TypeVar("T")

#: Bytes per range a worker reads: large enough that starting one costs little.
CHUNK = 8 << 20
#: Below this many bytes a file is read in one process (starting workers costs more).
MIN_BYTES = 4 << 20


def usable(path: str | Path) -> bool:
    """Whether ``path`` is a JSON Lines file large enough to be worth several processes."""
    source = Path(path)
    if str(path) == "-" or source.suffix.lower() not in (".jsonl", ".ndjson"):
        return False
    try:
        return (os.cpu_count() or 1) > 1 and source.stat().st_size >= MIN_BYTES
    except OSError:
        return False


def ranges(path: str | Path) -> Iterator[tuple[int, int, int]]:
    """``(start, end, number of the first line)`` of byte ranges of about ``CHUNK`` bytes,
    each ending at a line's end."""
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


def read_range(name: str, start: int, end: int) -> list[str]:
    """The lines of one range, in a worker (a byte-order mark only at the file's start)."""
    with open(name, "rb") as stream:
        stream.seek(start)
        raw = stream.read(end - start)
    try:
        return raw.decode("utf-8-sig" if start == 0 else "utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise LeadsyncError(f"{name}: not UTF-8 text ({exc.reason})") from None


def map_ranges(
    path: str | Path,
    work: Callable[[str, int, int, int], T],
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
) -> Iterator[tuple[T, int]]:
    """``work(name, start, end, first line)`` of every range of ``path``, one worker
    process per core (each set up by ``initializer(*initargs)``), yielded in file order
    with the range's size in bytes; at most two ranges per worker are in flight, so
    memory stays flat whatever the file's size. A worker's exception is raised here."""
    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(workers, initializer=initializer, initargs=initargs) as pool:
        pending: deque[tuple[Future[T], int]] = deque()
        for start, end, first in ranges(path):
            pending.append((pool.submit(work, str(path), start, end, first), end - start))
            if len(pending) >= 2 * workers:
                job, size = pending.popleft()
                yield job.result(), size
        while pending:
            job, size = pending.popleft()
            yield job.result(), size
