"""``leadsync forget``: erase what leadsync stores about contacts (the right to erasure).

Only accounts the accounts file or the state knows are accepted: a typo in ``--account``
is a message, not "0 stored rows erased" (nor a lease row left for an account that never
existed); and ``--contact`` on a state database that does not exist says so rather than
create an empty one to erase nothing from (a mistyped ``LEADSYNC_STATE_PATH``).
"""

from __future__ import annotations

from typing import Annotated

import typer

from leadsync.config.settings import Settings
from leadsync.sync.commands import AccountOption, AccountsFile, holding, opened, out, store_for
from leadsync.sync.knownaccount import known_account

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
    store = store_for(settings, create=False)  # nothing is stored where no state exists
    try:
        known_account(account, accounts_file or settings.accounts_file, store)
        with holding(store, account, settings):
            removed = store.forget(account, contact or [])
    finally:
        store.close()
    out.print(f"{removed} stored rows erased for {len(contact or [])} record(s).")
