"""``leadsync runs``: an account's run history, read from the state database.

It only reads the state: a state database that does not exist is an error naming it
(never created), and an account neither the accounts file nor the state knows is named.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from leadsync.config.settings import Settings
from leadsync.sync.commands import AccountOption, AccountsFile, AsJson, out, store_for
from leadsync.sync.knownaccount import known_account

__all__ = ["runs"]


def runs(
    account: AccountOption,
    limit: Annotated[int, typer.Option(min=1)] = 20,
    as_json: AsJson = False,
    accounts_file: AccountsFile = None,
) -> None:
    """The account's run history, newest first."""
    settings = Settings()
    store = store_for(settings, create=False)
    try:
        known_account(
            account,
            accounts_file or settings.accounts_file,
            store,
            file_required=accounts_file is not None,
        )
        history = store.runs(account, limit)
    finally:
        store.close()
    if as_json:
        for run in history:
            typer.echo(
                json.dumps(
                    {
                        "id": run.id,
                        "kind": run.kind,
                        "status": run.status,
                        "started_at": run.started_at.isoformat(),
                        "ended_at": run.ended_at.isoformat() if run.ended_at else None,
                        "counts": run.counts,
                        "error": run.error,
                        "replica": run.replica,
                        "instance": run.instance,
                    }
                )
            )
        return
    table = Table(title=f"{account}: last {len(history)} runs")
    for column in (
        "run",
        "kind",
        "started",
        "took",
        "status",
        "leads",
        "writes",
        "tasks",
        "API calls",
        "error",
    ):
        table.add_column(column)
    for run in history:
        took = f"{(run.ended_at - run.started_at).total_seconds():.1f}s" if run.ended_at else "…"
        table.add_row(
            str(run.id),
            run.kind,
            run.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            took,
            run.status,
            str(run.counts.get("leads", 0)),
            str(run.counts.get("writes", 0)),
            str(run.counts.get("tasks", 0)),
            str(run.counts.get("api_calls", 0)),
            run.error or "",
        )
    out.print(table)
