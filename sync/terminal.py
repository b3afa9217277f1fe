"""The consoles commands print through: a terminal's width on a terminal, full values
anywhere else (a pipe, a file, a CI log), so that nothing piped is cut at 80 columns;
and a reader that closed the pipe (``| head``) ends the command the same way whichever
printer met it (:class:`PipeClosed`)."""

from __future__ import annotations

import errno
import sys
from typing import TextIO

import rich.console


class PipeClosed(Exception):
    """The reader of stdout went away (``leadsync … | head -1``): not an ``OSError``, so
    that click does not turn it into its own exit 1 on the way to ``cli.main``."""


class Console(rich.console.Console):
    """rich's console, but a closed pipe is a :class:`BrokenPipeError` for the command
    line to handle like any other write's, not rich's own ``SystemExit(1)``."""

    def on_broken_pipe(self) -> None:
        self.quiet = True  # nothing more to write anywhere
        raise BrokenPipeError(errno.EPIPE, "the reader closed the pipe")


#: Wide enough for any value leadsync prints; rich sizes tables to their content.
UNCUT = 100_000


def console(*, stderr: bool = False, file: TextIO | None = None) -> Console:
    """A rich console on stdout, stderr or ``file``, wrapped to the terminal only on one."""
    stream = file or (sys.stderr if stderr else sys.stdout)
    width = None if stream.isatty() else UNCUT
    return Console(file=file, stderr=stderr, width=width, highlight=False, soft_wrap=True)
