"""A progress bar for reading a large lead file, shown only to a person at a terminal.

A file is read line by line and its size is known, so the bar counts bytes; piped
output, CI logs and small files get no bar at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

#: Files smaller than this (a few thousand leads) are read before a bar would help.
MIN_BYTES = 4 << 20


@contextmanager
def reading(
    source: str, console: Console, what: str = "scoring", *, shown: bool = True
) -> Iterator[Callable[[int], None] | None]:
    """Yield a callable to report bytes read from ``source``, or None when no bar is shown
    (stdin, a small file, ``console`` not a terminal, or ``shown`` false: the caller's
    output goes to the same terminal while the file is read)."""
    try:
        size = os.path.getsize(source) if source != "-" else 0
    except OSError:
        size = 0
    if not shown or size < MIN_BYTES or not console.is_terminal:
        yield None
        return
    with Progress(
        TextColumn(f"{what} {os.path.basename(source)}"),
        BarColumn(),
        TaskProgressColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    ) as bar:
        task = bar.add_task(what, total=size)
        yield lambda n: bar.advance(task, n)
        bar.update(task, completed=size)
