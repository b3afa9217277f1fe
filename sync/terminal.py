"""The consoles commands print through: a terminal's width on a terminal, full values
anywhere else (a pipe, a file, a CI log), so that nothing piped is cut at 80 columns."""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console

#: Wide enough for any value leadsync prints; rich sizes tables to their content.
UNCUT = 100_000


def console(*, stderr: bool = False, file: TextIO | None = None) -> Console:
    """A rich console on stdout, stderr or ``file``, wrapped to the terminal only on one."""
    stream = file or (sys.stderr if stderr else sys.stdout)
    width = None if stream.isatty() else UNCUT
    return Console(file=file, stderr=stderr, width=width, highlight=False, soft_wrap=True)
