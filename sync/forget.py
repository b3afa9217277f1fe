"""``leadsync forget``: erase what leadsync stores about contacts (the right to erasure).

Only accounts the accounts file or the state knows are accepted: a typo in ``--account``
is a message, not "0 stored rows erased" (nor a lease row left for an account that never
existed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from leadsync.config.accountsfile import load_accounts
from leadsync.config.settings import Settings
from leadsync.errors import ConfigError
from leadsync.sync.commands import AccountOption, AccountsFile, holding, opened, out, store_for

if TYPE_CHECKING:
    from leadsync.sync.state import StateStore

__all__ = ["forget"]


def forget(
    account: AccountOption,
    contact: Annotated[
        list[str] | None, typer.Option("--contact", "-c", help="A record id (repeatable).")
    ] = None,
    all_deleted: Annotated[
        bool, typer.Option("--all-deleted", help="Every record deleted in the CRM.")
    ] = False,
    accounts_file: AccountsFile = None,
) -> None:
    """Erase everything leadsync stores about contacts (GDPR right to erasure)."""
    if not contact and not all_deleted:
        raise typer.BadParameter("give --contact ID or --all-deleted")
    if all_deleted:
        with opened(account, accounts_file, lease=True) as ctx:
            known = list(ctx.store.known_leads(account))
            still_there = ctx.connector.existing(known)
            gone = [i for i in known if i not in still_there]
            removed = ctx.store.forget(account, [*(contact or []), *gone])
        out.print(f"{len(gone)} deleted records found; {removed} stored rows erased.")
        return
    settings = Settings()
    store = store_for(settings)
    try:
        _known_account(account, accounts_file or settings.accounts_file, store)
        with holding(store, account, settings):
            removed = store.forget(account, contact or [])
    finally:
        store.close()
    out.print(f"{removed} stored rows erased for {len(contact or [])} record(s).")


def _known_account(account_id: str, accounts_file: Path, store: StateStore) -> None:
    """An account of the accounts file, or one the state still holds leads or runs of (an
    account removed from the file may still need its data erased); else a ConfigError,
    before anything is written."""
    try:
        load_accounts(accounts_file).get(account_id)
    except ConfigError:
        if next(iter(store.known_leads(account_id)), None) is None and not store.runs(
            account_id, 1
        ):
            raise  # names the accounts the file has, or what is wrong with the file
