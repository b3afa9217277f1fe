"""The checks that change nothing: ``leadsync config check`` (the accounts file, its
models and that its credentials are set here) and ``leadsync check`` (can this account
run, as ``dbt debug`` asks of a project?).

In ``leadsync check`` each step reads and nothing is written — not to the CRM (no
property, field, task or score), not to the state database (not even opened): the
credentials are read, one page of leads is read with its activity (the read scopes or
permissions), leadsync's fields are checked, the round-robin owners looked up, and the
API budget the CRM reports is shown. What cannot be checked without writing (the write
scopes) is said.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from leadsync.config.accounts import Account
from leadsync.config.accountsfile import load_accounts
from leadsync.config.settings import Settings
from leadsync.config.templates import resolve_model
from leadsync.connectors.base import Connector, open_connector
from leadsync.errors import ConfigError, LeadsyncError
from leadsync.sync import logs, mql
from leadsync.sync.commands import AccountOption, AccountsFile, check_ca_bundle, out


def config_check(
    path: Annotated[
        Path, typer.Argument(metavar="ACCOUNTS_FILE", help="The accounts file to validate.")
    ],
) -> None:
    """Validate an accounts file, each account's model and that each credential it names
    is set here (never printing one); exit 1 with every fault named."""
    accounts = load_accounts(path)
    failed = False
    for account in accounts.accounts:
        faults = unset_credentials(account)
        try:
            model = resolve_model(account.model)
        except Exception as error:  # a ModelError names the model file and fault
            faults.append(f"model: {error}")
        for fault in faults:
            typer.echo(f"{path}: account {account.id!r}: {fault}", err=True)
        if faults:
            failed = True
            continue
        typer.echo(f"{account.id}: {account.crm}, model {model.ref}")
    if failed:
        raise typer.Exit(1)
    typer.echo(f"{path}: valid ({len(accounts.accounts)} accounts)")


def unset_credentials(account: Account) -> list[str]:
    """Each credential of ``account`` that cannot be read here: a variable not set, a
    secrets file missing or unreadable (:meth:`SecretRef.resolve`'s words)."""
    from leadsync.config.secret_refs import SecretRef

    credentials = (
        account.hubspot_credentials()
        if account.crm == "hubspot"
        else account.salesforce_credentials()
    )
    faults = []
    for name, ref in credentials:
        if isinstance(ref, SecretRef):
            try:
                ref.resolve(f"credentials.{name}", multiline=name == "private_key")
            except ConfigError as error:
                faults.append(str(error))
    return faults


#: Leads read by the read step: one page, so that the activity of so many leads likely
#: touches every activity source (and so every read scope) in a few batch calls.
SAMPLE = 25


class Steps:
    """Prints each step as ``ok`` or ``FAIL`` and remembers whether one failed."""

    def __init__(self) -> None:
        self.failed = False

    def ok(self, name: str, text: str) -> None:
        out.print(f"  [green]ok[/]    {name}: {text}", highlight=False)

    def fail(self, name: str, text: str) -> None:
        self.failed = True
        out.print(f"  [red]FAIL[/]  {name}: ", end="")
        out.print(text, markup=False)

    def run(self, name: str, step: Callable[[], str]) -> bool:
        """Run ``step``; its text on success, the error's message on a leadsync error."""
        try:
            text = step()
        except LeadsyncError as error:
            self.fail(name, str(error))
            return False
        self.ok(name, text)
        return True


def check(account: AccountOption, accounts_file: AccountsFile = None) -> None:
    """Check that an account can run: credentials, read scopes, fields, owners, API budget.

    Nothing is changed in the CRM or the state database; exit 1 when a check fails.
    """
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    check_ca_bundle()
    path = accounts_file or settings.accounts_file
    acct = load_accounts(path).get(account)
    steps = Steps()
    model = resolve_model(acct.model)
    out.print(f"{acct.id} ({acct.crm}, model {model.ref}, accounts file {path})", markup=False)
    unset = unset_credentials(acct)
    for fault in unset:
        steps.fail("credentials", fault)
    if not unset:
        connector = open_connector(acct)
        try:
            _with_connector(steps, acct, connector, [t.name for t in model.tiers])
        finally:
            connector.close()
    out.print("nothing was changed in the CRM or the state database", markup=False)
    if steps.failed:
        raise typer.Exit(1)


def _with_connector(steps: Steps, acct: Account, connector: Connector, tiers: list[str]) -> None:
    def read() -> str:
        leads = connector.sample_leads(SAMPLE)
        events = sum(len(lead.lead.events) for lead in leads)
        return f"accepted; read {len(leads)} leads and their {events} activities"

    if not steps.run("credentials and read access", read):
        return
    _fields(steps, connector, tiers, acct.id)
    _owners(steps, connector, acct)
    usage = connector.usage()
    if usage.daily_limit is not None and usage.daily_remaining is not None:
        steps.ok(
            "API budget",
            f"{usage.daily_remaining:,} of {usage.daily_limit:,} calls left today "
            f"({acct.daily_reserve:.0%} kept for other integrations; this check made "
            f"{usage.total})",
        )
    else:
        steps.ok("API budget", f"the CRM did not say; this check made {usage.total} calls")
    out.print("  [dim]--    write access (scores, tasks, fields) is not tried: that would write[/]")


def _fields(steps: Steps, connector: Connector, tiers: list[str], account_id: str) -> None:
    try:
        problems = connector.score_field_problems(tiers)
    except LeadsyncError as error:
        problems = [str(error)]
    for problem in problems:
        steps.fail("fields", problem)
    if problems:
        out.print(
            f"        `leadsync setup --account {account_id} --create` creates what is missing"
        )
    else:
        steps.ok("fields", "leadsync's score fields are in place")


def _owners(steps: Steps, connector: Connector, acct: Account) -> None:
    robin = acct.tasks.round_robin
    try:
        owners = connector.owners()
    except LeadsyncError as error:
        steps.fail("owners", str(error))
        return
    wrong = mql.unusable_owners(robin, owners)
    for problem in wrong:
        steps.fail("owners", f"tasks.round_robin: {problem}")
    if wrong:
        return
    if robin:
        steps.ok("owners", f"every round-robin owner ({', '.join(robin)}) is active")
    else:
        active = sum(o.active for o in owners)
        steps.ok("owners", f"{active} active owners; each task goes to its lead's owner")


__all__ = ["check", "config_check", "unset_credentials"]
