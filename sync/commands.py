"""The account commands (setup, backfill, sync, explain) and what they share:
opening an account, its state and its lease."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from leadsync.config.accounts import Account
from leadsync.config.accountsfile import load_accounts
from leadsync.config.settings import Settings
from leadsync.config.templates import resolve_model
from leadsync.connectors.base import Connector, open_connector
from leadsync.errors import ConfigError
from leadsync.scoring.engine import format_points
from leadsync.scoring.model import ScoringModel
from leadsync.sync import logs, mql, terminal
from leadsync.sync.output import mql_note
from leadsync.sync.terminal import Console

if TYPE_CHECKING:  # the state store and the pipeline load SQLAlchemy: imported when used
    from leadsync.sync.hold import Hold
    from leadsync.sync.pipeline import Change, Mode, RunReport
    from leadsync.sync.state import StateStore

log = logging.getLogger("leadsync.cli")
out = terminal.console()

AccountOption = Annotated[str, typer.Option("--account", "-a", help="The account's id.")]
AccountsFile = Annotated[
    Path | None,
    typer.Option(
        "--accounts", help="The accounts file (default: LEADSYNC_ACCOUNTS_FILE or accounts.yaml)."
    ),
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Write nothing to the CRM; print what would change.")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON lines instead of tables.")]


@dataclass
class Context:
    settings: Settings
    account: Account
    model: ScoringModel
    store: StateStore
    connector: Connector
    hold: Hold | None = None
    """The account's lease, when the command holds it (every run that writes)."""


@contextlib.contextmanager
def opened(
    account_id: str, accounts_file: Path | None, *, lease: bool = False
) -> Iterator[Context]:
    """Everything a command needs for one account, closed afterwards.

    With ``lease``, the account's lease is taken before the CRM is called (a run already
    going on elsewhere ends the command with one line naming it: :class:`LeaseHeld`) and
    held, its heartbeat beating, until the block ends.
    """
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    check_ca_bundle()
    account = load_accounts(accounts_file or settings.accounts_file).get(account_id)
    model = resolve_model(account.model)
    store = store_for(settings)
    try:
        with holding(store, account.id, settings if lease else None) as hold:
            connector = open_connector(account)
            try:
                yield Context(settings, account, model, store, connector, hold)
            finally:
                connector.close()
    finally:
        store.close()


def check_ca_bundle() -> None:
    """A ``REQUESTS_CA_BUNDLE`` (or ``CURL_CA_BUNDLE``) that names no file is one message
    now, not a traceback from inside requests at the first call."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        value = os.environ.get(name)
        if value and not Path(value).expanduser().exists():
            raise ConfigError(
                f"{name}={value}: no such file or folder; point it at a CA certificate "
                "(PEM), e.g. the one `leadsync sandbox salesforce` printed, or unset it"
            )


def store_for(settings: Settings, *, create: bool = True) -> StateStore:
    """The state store the settings name; ``create=False`` for a command that only reads
    it: a SQLite file that does not exist is then an error, never made."""
    from leadsync.sync.state import StateStore

    return StateStore(settings.state_url(), create=create)


@contextlib.contextmanager
def holding(store: StateStore, account_id: str, settings: Settings | None) -> Iterator[Hold | None]:
    """The account's lease for this command (``None`` without ``settings``): the same
    lease table and fencing as the daemon's, in the name of ``hostname:pid``, for
    ``LEADSYNC_LEASE`` renewed every third of it."""
    if settings is None:
        yield None
        return
    from leadsync.sync.hold import Hold
    from leadsync.sync.leases import Leases, default_replica_id

    leases = Leases(store.engine, default_replica_id(), settings.lease_time())
    try:
        with Hold.take(store, leases, account_id) as hold:
            hold.beat()
            yield hold
    finally:
        leases.close()


def setup(
    account: AccountOption,
    create: Annotated[
        bool,
        typer.Option(
            "--create",
            help="Create what is missing: HubSpot's properties and their group; Salesforce's "
            "score fields (Metadata API), the permission set and its assignment.",
        ),
    ] = False,
    accounts_file: AccountsFile = None,
) -> None:
    """Check leadsync's score fields on an account; with --create, create what is missing.

    Without --create nothing is changed: each missing or unusable field is named with what
    to do. HubSpot: --create makes the properties and their group (the token needs the
    schema write scope; a first backfill makes them too). Salesforce: --create makes the
    fields, a permission set granting access to them and its assignment to the
    integration user (which then needs "Customize Application" and "Modify Metadata
    Through Metadata API Functions").
    """
    with opened(account, accounts_file) as ctx:
        tiers = [t.name for t in ctx.model.tiers]
        if create:
            created, problems = ctx.connector.ensure_score_fields(tiers, create=True), []
        else:
            created, problems = [], ctx.connector.score_field_problems(tiers)
        robin = ctx.account.tasks.round_robin
        # the owners are listed only to check a round robin: without one there is nothing
        wrong = mql.unusable_owners(robin, ctx.connector.owners()) if robin else []
    for item in created:
        out.print(f"{account}: created {item}", markup=False)
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    if problems:
        typer.echo(
            f"{account}: nothing was changed; `leadsync setup --account {account} --create` "
            "creates what is missing",
            err=True,
        )
    else:
        out.print(f"{account}: the score fields are in place", markup=False)
    for problem in wrong:
        typer.echo(f"{account}: tasks.round_robin: {problem}", err=True)
    if problems or wrong:
        raise typer.Exit(1)


def backfill(
    account: AccountOption,
    dry_run: DryRun = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Stop after this many leads.")] = None,
    accounts_file: AccountsFile = None,
    as_json: AsJson = False,
) -> None:
    """Score every lead of an account; resumable after Ctrl-C or a crash."""
    with opened(account, accounts_file, lease=not dry_run) as ctx:
        report = _run(ctx, "backfill", dry_run, limit, as_json)
    _summary(report, as_json)
    _exit_if_refused(report)


def sync(
    account: AccountOption,
    dry_run: DryRun = False,
    accounts_file: AccountsFile = None,
    as_json: AsJson = False,
) -> None:
    """One incremental run: score the leads changed since the last run."""
    with opened(account, accounts_file, lease=not dry_run) as ctx:
        report = _run(ctx, "incremental", dry_run, None, as_json)
    _summary(report, as_json)
    _exit_if_refused(report)


def _exit_if_refused(report: RunReport) -> None:
    """Exit 1 when the CRM refused a score or a task: the run is partial, not ok."""
    if report.counts["task_failures"] or report.counts["write_failures"]:
        raise typer.Exit(1)


def _run(ctx: Context, mode: Mode, dry_run: bool, limit: int | None, as_json: bool) -> RunReport:
    from leadsync.sync.leases import LeaseLost
    from leadsync.sync.pipeline import Sync

    changes: list[Change] = []

    def on_change(change: Change) -> None:
        if not dry_run:
            return
        if as_json:
            typer.echo(json.dumps({"change": change.as_json()}, ensure_ascii=False))
        elif len(changes) < 50:
            changes.append(change)

    hold = None if dry_run or ctx.account.dry_run else ctx.hold
    runner = Sync(
        ctx.account,
        ctx.connector,
        ctx.store,
        ctx.model,
        guard=hold.guard if hold else None,
        replica=hold.leases.holder if hold else None,
    )
    fenced: dict[str, Any] = (
        {"stop": hold.lost.is_set, "on_start": hold.on_start} if hold is not None else {}
    )
    if sys.stderr.isatty() and not as_json:
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        ) as progress:
            task = progress.add_task(f"{ctx.account.id} {mode}", detail="")
            started = datetime.now(UTC)

            def on_page(report: RunReport) -> None:
                seconds = max((datetime.now(UTC) - started).total_seconds(), 1e-6)
                leads = report.counts["leads"]
                progress.update(
                    task,
                    detail=f"{leads} leads · {report.counts['writes']} writes · "
                    f"{report.counts['tasks']} tasks · {leads / seconds:,.0f} leads/s",
                )

            report = runner.run(
                mode, dry_run=dry_run, limit=limit, on_page=on_page, on_change=on_change, **fenced
            )
    else:

        def on_page(report: RunReport) -> None:
            log.info("page", extra={"account": ctx.account.id, **report.counts})

        report = runner.run(
            mode, dry_run=dry_run, limit=limit, on_page=on_page, on_change=on_change, **fenced
        )
    if hold is not None and hold.lost.is_set():  # stopped after the page it could save
        raise LeaseLost(
            f"account {ctx.account.id}: another leadsync run took over its lease during this "
            f"run, which stopped after {report.counts['leads']} leads; it resumes from there"
        )
    if changes:
        table = Table(title="What would change (first 50)")
        for column in ("lead", "score", "tier", "task", "why"):
            table.add_column(column)
        for c in changes:
            old = "—" if c.old_score is None else format_points(c.old_score, signed=False)
            table.add_row(
                c.lead_id,
                f"{old} → {format_points(c.new_score, signed=False)}",
                f"{c.old_tier or '—'} → {c.new_tier}",
                "✔" if c.task else "",
                c.reasons,
            )
        out.print(table)
    return report


def _summary(report: RunReport, as_json: bool) -> None:
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "summary": {
                        "account": report.account_id,
                        "mode": report.mode,
                        "dry_run": report.dry_run,
                        "status": report.status,
                        "counts": dict(report.counts),
                        "tiers": dict(report.tiers),
                    }
                }
            )
        )
        return
    c = report.counts
    verb = "would write" if report.dry_run else "wrote"
    tiers = " · ".join(f"{name} {count}" for name, count in report.tiers.most_common())
    out.print(
        f"{report.account_id} {report.mode}{' (dry run)' if report.dry_run else ''}: "
        f"{report.status} · {c['leads']} leads scored · {verb} {c['writes']} · "
        f"{c['unchanged']} unchanged · {c['tasks']} tasks · {c['api_calls']} API calls"
    )
    if tiers:
        out.print(f"tiers: {tiers}{mql_note(report.tiers, c['mql'])}")
    if c["write_failures"] or c["task_failures"]:
        out.print(
            f"[yellow]{c['write_failures']} writes and {c['task_failures']} tasks failed; "
            "they are retried at the next run[/]"
        )
        if report.error:
            out.print(report.error, markup=False)


def explain(
    account: AccountOption,
    contact: Annotated[str, typer.Option("--contact", "-c", help="The CRM record id.")],
    accounts_file: AccountsFile = None,
    as_json: AsJson = False,
) -> None:
    """Score one lead now, live from the CRM, and say why."""
    with opened(account, accounts_file) as ctx:
        crm_lead = ctx.connector.get_lead(contact)
        if crm_lead is None:  # the CRM's answer, not the command line, is at fault: 1
            typer.echo(f"error: account {account!r} has no record {contact!r}", err=True)
            raise typer.Exit(1)
        from leadsync.sync.pipeline import account_score

        result, _ = account_score(ctx.account, ctx.model, crm_lead.lead, datetime.now(UTC))
    if as_json:
        from leadsync.sync.output import as_json as result_json

        typer.echo(json.dumps(result_json(result)))
        return
    out.print(
        f"[bold]{crm_lead.name or contact}[/] ({contact}): "
        f"{format_points(result.score, signed=False)} · {result.tier}"
        f"{' · MQL' if result.is_mql else ''} · {result.model}"
    )
    if crm_lead.written.score is not None:
        written = crm_lead.written
        out.print(f"in the CRM now: {format_points(written.score, signed=False)} · {written.tier}")
    table = Table()
    for column in ("points", "rule", "count", "group", "before caps"):
        table.add_column(column)
    for reason in sorted(result.reasons, key=lambda r: -r.points):
        table.add_row(
            format_points(reason.points),
            reason.title + (f" ({reason.detail})" if reason.detail else ""),
            str(reason.count),
            reason.group,
            format_points(reason.raw_points),
        )
    out.print(table)
