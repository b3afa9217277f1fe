"""``leadsync history``: the scores leadsync wrote for one record, or the one it had at T.

Reads the score history (:mod:`leadsync.sync.history`) of the state database, which it
never creates.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from leadsync.config.settings import Settings
from leadsync.scoring.engine import format_points
from leadsync.sync import terminal
from leadsync.sync.commands import AccountOption, AccountsFile, AsJson, store_for
from leadsync.sync.knownaccount import known_account
from leadsync.sync.leadoptions import as_of

out = terminal.console()


def history(
    account: AccountOption,
    contact: Annotated[str, typer.Option("--contact", "-c", help="The record id.")],
    at: Annotated[
        str | None,
        typer.Option(help="Only the score the record had at this moment (ISO 8601, timezone)."),
    ] = None,
    became_mql: Annotated[
        bool, typer.Option("--became-mql", help="Only the score with which it last became MQL.")
    ] = False,
    as_json: AsJson = False,
    accounts_file: AccountsFile = None,
) -> None:
    """The scores leadsync wrote for one record, oldest first, or the one it had --at T."""
    moment = as_of(at) if at is not None else None
    settings = Settings()
    store = store_for(settings, create=False)  # only reads: a missing file is an error
    try:
        known_account(
            account,
            accounts_file or settings.accounts_file,
            store,
            file_required=accounts_file is not None,
        )
        if became_mql:
            found = store.history.became_mql(account, contact)
            entries = [found] if found else []
        elif moment is None:
            entries = store.history.of(account, contact)
        else:
            found = store.history.at(account, contact, moment)
            entries = [found] if found else []
    finally:
        store.close()
    if as_json:
        for e in entries:
            typer.echo(
                json.dumps(
                    {
                        "id": e.lead_id,
                        "at": e.scored_at.isoformat(),
                        "score": str(e.score),
                        "tier": e.tier,
                        "mql": e.mql,
                        "model": e.model,
                        "reasons_digest": e.reasons_digest,
                    }
                )
            )
        return
    if not entries:
        when = " as an MQL" if became_mql else f" at {moment.isoformat()}" if moment else ""
        out.print(f"{account}: no score written for {contact}{when}.")
        return
    table = Table(title=f"{account}: scores written for {contact}")
    for column in ("at", "score", "tier", "MQL", "model", "reasons digest"):
        table.add_column(column)
    for e in entries:
        table.add_row(
            e.scored_at.isoformat(timespec="seconds"),
            format_points(e.score, signed=False),
            e.tier,
            "✔" if e.mql else "",
            e.model,
            e.reasons_digest,
        )
    out.print(table)
