"""Whether an ``--account`` names an account at all, for the commands that take one
without opening it (``runs``, ``history``, ``forget``): a typo is one line naming the
accounts the file has, not an empty history or "0 rows erased"."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from leadsync.config.accountsfile import load_accounts
from leadsync.errors import ConfigError

if TYPE_CHECKING:
    from leadsync.sync.state import StateStore

__all__ = ["known_account"]


def known_account(
    account_id: str, accounts_file: Path, store: StateStore, *, file_required: bool = True
) -> None:
    """Return when ``account_id`` is in the accounts file, or the state still holds runs
    or leads of it (an account removed from the file keeps its history); else raise the
    accounts file's :class:`ConfigError` ("no account 'x' in the accounts file (known:
    …)", or what is wrong with the file).

    Without ``file_required`` an accounts file that does not exist (the default one,
    not named on the command line) checks nothing: reading the state needs no file.
    """
    if not file_required and not accounts_file.exists():
        return
    try:
        load_accounts(accounts_file).get(account_id)
    except ConfigError:
        if not _in_state(store, account_id):
            raise


def _in_state(store: StateStore, account_id: str) -> bool:
    if store.runs(account_id, 1):
        return True
    leads = store.known_leads(account_id)
    try:
        return next(leads, None) is not None
    finally:
        leads.close()  # the generator holds a connection until closed
