"""The ``leadsync`` command. Every user mistake ends in a message, never a traceback.

Exit codes, the same for every command: 0 it did what was asked (or its reader closed
the pipe early: ``| head``); 1 a run or
configuration fault (a :class:`~leadsync.errors.LeadsyncError`: an accounts, model or
lead file at fault, a CRM or state database that refused, a run that was partial); 2 a
usage fault (an unknown option or command, a missing argument, an option's value out of
range), as click reports it; 130 interrupted by Ctrl-C.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from leadsync.config import templates
from leadsync.errors import LeadError, LeadsyncError, ModelError
from leadsync.scoring.engine import ScoreResult, score
from leadsync.scoring.model import ScoringModel
from leadsync.sync import (
    check,
    commands,
    export,
    fileranges,
    fitcommand,
    forget,
    history_command,
    lab,
    leadoptions,
    output,
    review,
    runs_command,
    sandbox_command,
    terminal,
)
from leadsync.sync.describe import describe_model
from leadsync.sync.leadfile import read_leads
from leadsync.sync.progress import reading


class _Commands(TyperGroup):
    """The root group: a write to a closed stdout, wherever in a command, leaves it as
    :class:`~leadsync.sync.terminal.PipeClosed` (click would exit 1 on an ``OSError``)."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise terminal.PipeClosed() from None


# Plain help, as click writes it: no `<bool>` on flags, paragraphs reflowed to the
# terminal, and no rich formatting to import before a command runs.
app = typer.Typer(
    cls=_Commands,
    help="leadsync: lead scoring that lives in your CRM.\n\n"
    "Exit codes: 0 done; 1 a run or configuration fault; 2 a usage fault.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
model_app = typer.Typer(
    help="Check, show and list scoring models; backtest and compare them on leads; fit one.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(model_app, name="model")
config_app = typer.Typer(
    help="Check configuration files.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(config_app, name="config")
config_app.command("check")(check.config_check)
app.command("check")(check.check)
app.command("setup")(commands.setup)
app.command("backfill")(commands.backfill)
app.command("sync")(commands.sync)
app.command("explain")(commands.explain)
app.command("runs")(runs_command.runs)
app.command("history")(history_command.history)
app.command("export")(export.export)
app.command("review")(review.review_command)
app.command("forget")(forget.forget)
model_app.command("backtest")(lab.backtest)
model_app.command("diff")(lab.diff)
model_app.command("fit")(fitcommand.fit_command)

EXIT_FAULT = 1
"""A run or configuration fault; click exits 2 on a usage fault by itself."""

err = terminal.console(stderr=True)


class Format(StrEnum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"leadsync {version('leadsync')}")
        raise typer.Exit()


@app.callback()
def _options(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """The options of ``leadsync`` itself (the group's help is the Typer's)."""


@app.command("status")
def status(accounts_file: commands.AccountsFile = None, as_json: commands.AsJson = False) -> None:
    """Every account's last run, next run, errors, lease, cursor and API budget."""
    from leadsync.sync import status as module  # SQLAlchemy: loaded only for this command

    module.status(accounts_file, as_json)


@app.command("score")
def score_command(
    model: Annotated[
        str, typer.Option("--model", "-m", help="A template name, a model name or a .yaml path.")
    ],
    leads: Annotated[
        str | None,
        typer.Option(
            "--leads",
            "-l",
            help="A JSON Lines or CSV file of leads; '-' reads stdin. "
            "Default: the example leads shipped with leadsync.",
        ),
    ] = None,
    id_column: leadoptions.IdColumn = "id",
    outcome_column: leadoptions.OutcomeColumn = None,
    maps: leadoptions.Maps = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Score as of this moment (ISO 8601 with a timezone). Default: now."),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    skip_invalid: Annotated[
        bool, typer.Option(help="Report invalid lines on stderr and carry on.")
    ] = False,
    top: Annotated[int, typer.Option(min=1, help="Rows in the table format.")] = 25,
) -> None:
    """Score leads offline with a model: table for people, jsonl or csv for machines.

    jsonl and csv stream one line per lead, in input order, in constant memory (a JSON
    Lines file of 4 MB or more on every core).
    """
    moment = leadoptions.as_of(as_of)
    spec = templates.resolve_model(model)
    if leads is None:
        leads = str(templates.example_leads())
        err.print(f"[dim]Scoring the example leads shipped with leadsync ({leads}).[/]")
    skipped = 0

    def report(error: LeadError) -> None:
        nonlocal skipped
        skipped += 1
        err.print(f"skipped {error}", markup=False)

    on_invalid = report if skip_invalid else None
    streaming = fmt is not Format.table and sys.stdout.isatty()
    with reading(leads, err, shown=not streaming) as progress:
        if fmt is not Format.table and fileranges.usable(leads):
            from leadsync.sync import scorepool  # a large JSON Lines file: every core

            scorepool.score_file(leads, spec, moment, fmt.value, sys.stdout, on_invalid, progress)
        else:
            columns = leadoptions.columns(id_column, outcome_column, maps)
            results = _scored(read_leads(leads, on_invalid, columns, progress), spec, moment)
            if fmt is Format.jsonl:
                output.write_jsonl(results, sys.stdout)
            elif fmt is Format.csv:
                output.write_csv(results, sys.stdout)
            else:
                output.write_table(results, spec, terminal.console(), top)
    if skipped:
        err.print(f"{skipped} invalid line(s) skipped.")


def _scored(leads: Iterator, spec: ScoringModel, moment: datetime) -> Iterator[ScoreResult]:
    for lead in leads:
        yield score(lead, spec, moment)


@model_app.command("check")
def model_check(
    paths: Annotated[
        list[Path], typer.Argument(metavar="MODEL_FILE", help="Model files to validate.")
    ],
) -> None:
    """Validate model files: exit 0 when all are valid, 1 with every fault listed otherwise."""
    failed = False
    for path in paths:
        try:
            spec = templates.resolve_model(str(path))
        except ModelError as error:
            failed = True
            err.print(str(error), markup=False)
        else:
            typer.echo(f"{path}: valid ({spec.ref}, {len(spec.rules)} rules)")
    if failed:
        raise typer.Exit(EXIT_FAULT)


@model_app.command("show")
def model_show(
    name: Annotated[
        str, typer.Argument(metavar="MODEL", help="A template name, a model name or a .yaml path.")
    ],
) -> None:
    """Print a readable summary of a model: its rules, groups, tiers and MQL threshold."""
    terminal.console().print(describe_model(templates.resolve_model(name)))


@model_app.command("list")
def model_list() -> None:
    """List the shipped templates and the models in LEADSYNC_MODELS_PATH."""
    console = terminal.console()
    for name, path in templates.user_models().items():
        console.print(f"[bold]{name}[/]  [dim]{path}[/]")
    for name in templates.template_names():
        spec = templates.resolve_model(name)
        console.print(f"[bold]{name}[/]  {spec.description or ''} [dim](template)[/]")


@app.command("demo")
def demo(
    crm: Annotated[str, typer.Option(help="hubspot or salesforce")] = "hubspot",
    contacts: Annotated[int, typer.Option(min=100, help="Contacts (leads) in the sandbox.")] = 3000,
    changed: Annotated[int, typer.Option(min=1, help="Contacts the sandbox changes.")] = 60,
    seed: Annotated[int, typer.Option(help="The data generator's seed.")] = 7,
) -> None:
    """The whole sync on a local sandbox CRM: backfill, activity, incremental run."""
    from leadsync.sync.demo import run_demo

    if crm not in ("hubspot", "salesforce"):
        raise typer.BadParameter("hubspot or salesforce", param_hint="--crm")
    run_demo(crm, contacts=contacts, seed=seed, changed=changed)


app.command("sandbox")(sandbox_command.sandbox)


def _duration(text: str, option: str, *, zero: bool = False) -> timedelta:
    from leadsync.config.accounts import parse_duration

    if zero and text.strip() in ("0", "off"):
        return timedelta(0)
    try:
        value = parse_duration(text)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint=option) from None
    if value < timedelta(0) or (value == timedelta(0) and not zero):
        raise typer.BadParameter("must be longer than 0s", param_hint=option)
    return value


@app.command("daemon")
def daemon_command(
    accounts_file: commands.AccountsFile = None,
    http: Annotated[
        str | None,
        typer.Option(help="Serve /metrics, /healthz and /readyz here, e.g. 127.0.0.1:9464."),
    ] = None,
    grace: Annotated[
        str, typer.Option(help="On SIGTERM/SIGINT, how long running pages may take to finish.")
    ] = "30s",
    lease: Annotated[
        str, typer.Option(help="Lease time: how soon another replica takes a dead one's accounts.")
    ] = "60s",
    replica_id: Annotated[
        str | None, typer.Option(help="This replica's name in leases and runs (default host:pid).")
    ] = None,
    backoff: Annotated[
        str, typer.Option(help="A failing account's first wait, doubled at each failure.")
    ] = "1m",
    backoff_max: Annotated[str, typer.Option(help="The longest wait of a failing account.")] = "1h",
    watch: Annotated[
        str, typer.Option(help="How often the accounts file is checked for changes (0: never).")
    ] = "5s",
    workers: Annotated[int, typer.Option(min=1, help="Accounts run at the same time.")] = 8,
) -> None:
    """Run every account on its schedule until SIGTERM; SIGHUP reloads the accounts file.

    See docs/daemon.md: schedules, full re-scores, leases between replicas, backoff,
    signals and reloads.
    """
    from leadsync.config.settings import Settings
    from leadsync.sync.daemon import Daemon, Options
    from leadsync.sync.worker import Backoff

    if http is not None:  # malformed on its face: a usage fault, before anything starts
        from leadsync.sync.http import parse_address

        try:
            parse_address(http)
        except LeadsyncError as error:
            message = str(error).removeprefix(f"--http {http!r}: ")
            raise typer.BadParameter(f"{http!r}: {message}", param_hint="--http") from None
    settings = Settings()
    commands.check_ca_bundle()
    options = Options(
        accounts_file=accounts_file or settings.accounts_file,
        grace=_duration(grace, "--grace", zero=True),
        lease=_duration(lease, "--lease"),
        replica_id=replica_id,
        http=http,
        backoff=Backoff(_duration(backoff, "--backoff"), _duration(backoff_max, "--backoff-max")),
        watch=_duration(watch, "--watch", zero=True),
        workers=workers,
    )
    raise typer.Exit(Daemon(options, settings).serve())


def _whole_summaries(typer_app: typer.Typer) -> None:
    """Give every command its whole first paragraph as the summary listed in ``--help``:
    click would cut it at the column's width, mid-sentence, with "..."."""
    for info in typer_app.registered_commands:
        text = info.help or inspect.getdoc(info.callback) or ""
        if info.short_help is None and text:
            info.short_help = " ".join(text.split("\n\n")[0].split())
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            info = group.typer_instance.info
            text = info.help if isinstance(info.help, str) else ""
            if not isinstance(info.short_help, str) and text:
                info.short_help = " ".join(text.split("\n\n")[0].split())
            _whole_summaries(group.typer_instance)


def _pipe_closed() -> NoReturn:
    """The reader of stdout stopped (``leadsync history … | head -1``): exit 0, quietly.

    0, not 141 (128 + SIGPIPE, as a process killed by the signal would): reading only
    the first lines is the reader's choice, not a fault of leadsync, and under ``set -o
    pipefail`` a 141 would fail the script's pipeline. stdout is pointed at /dev/null
    first, so that Python's last flush of it at exit cannot fail and print "Exception
    ignored" (the Python documentation's recipe for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout already closed, or not a file
        pass
    sys.exit(0)


def main() -> None:
    """Entry point of the console script."""
    _whole_summaries(app)
    try:
        app()
    except ModelError as error:  # already one line per fault, each naming its file
        err.print(str(error), markup=False)
        sys.exit(EXIT_FAULT)
    except LeadsyncError as error:
        err.print(f"error: {error}", markup=False)
        sys.exit(EXIT_FAULT)
    except (terminal.PipeClosed, BrokenPipeError):
        _pipe_closed()
    except KeyboardInterrupt:
        sys.exit(130)
