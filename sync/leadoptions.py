"""The command-line options every command that reads a lead file shares, and ``--as-of``.

``score``, ``model backtest`` and ``model diff`` read JSON Lines or CSV the same way:
``--leads`` names the file, and ``--id-column``, ``--outcome-column`` and ``--map``
say how a CSV file's columns become canonical leads (see :class:`Columns`).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from leadsync.sync.leadfile import Columns, load_map

IdColumn = Annotated[
    str, typer.Option("--id-column", help="CSV: the column holding each lead's id.")
]
OutcomeColumn = Annotated[
    str | None,
    typer.Option(
        "--outcome-column",
        help="CSV: a 0/1, yes/no or true/false column that says whether the lead converted.",
    ),
]
Maps = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="CSV: rename columns to canonical names: column=name, a YAML file of "
        "'column: name', or a shipped map (hubspot, salesforce). Repeatable.",
    ),
]


def columns(id_column: str, outcome_column: str | None, maps: list[str] | None) -> Columns:
    """The :class:`Columns` the options describe (``--map`` files read and checked)."""
    return Columns(id=id_column, outcome=outcome_column, rename=load_map(maps or []))


def as_of(text: str | None) -> datetime:
    """``--as-of``: an ISO 8601 moment with a timezone; now when not given."""
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 date or timestamp") from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{text!r} has no timezone (add 'Z' or an offset like +02:00)")
    return moment


def writable(path: Path | None, option: str) -> None:
    """An output file the command can write, checked before any work (a usage fault, as
    click's own file options are): not a folder, in a folder that exists and is writable."""
    if path is None:
        return
    folder = path.expanduser().absolute().parent
    if path.is_dir():
        problem = "is a folder"
    elif not folder.is_dir():
        problem = f"cannot be written: there is no folder {folder}"
    elif not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        problem = "cannot be written: permission denied"
    else:
        return
    raise typer.BadParameter(f"{path} {problem}", param_hint=option)
