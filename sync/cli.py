"""The ``leadsync`` command. Every user mistake ends in a message, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from leadsync.config import templates
from leadsync.errors import LeadError, LeadsyncError, ModelError
from leadsync.scoring.engine import ScoreResult, score
from leadsync.scoring.model import ScoringModel
from leadsync.sync import (
    commands,
    export,
    fitcommand,
    history_command,
    lab,
    leadoptions,
    output,
    review,
)
from leadsync.sync.describe import describe_model
from leadsync.sync.leadfile import read_leads

app = typer.Typer(
    help="leadsync: lead scoring that lives in your CRM.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
model_app = typer.Typer(
    help="Check, show and list scoring models; backtest and compare them on leads; fit one.",
    no_args_is_help=True,
)
app.add_typer(model_app, name="model")
config_app = typer.Typer(help="Check configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")
config_app.command("check")(commands.config_check)
app.command("setup")(commands.setup)
app.command("backfill")(commands.backfill)
app.command("sync")(commands.sync)
app.command("explain")(commands.explain)
app.command("runs")(commands.runs)
app.command("history")(history_command.history)
app.command("export")(export.export)
app.command("review")(review.review_command)
app.command("forget")(commands.forget)
model_app.command("backtest")(lab.backtest)
model_app.command("diff")(lab.diff)
model_app.command("fit")(fitcommand.fit_command)

EXIT_INVALID_DATA = 1
EXIT_INVALID_MODEL = 2

err = Console(stderr=True, highlight=False, soft_wrap=True)


class Format(StrEnum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"


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

    jsonl and csv stream one line per lead, in input order, in constant memory.
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

    source = read_leads(
        leads,
        report if skip_invalid else None,
        leadoptions.columns(id_column, outcome_column, maps),
    )
    results = _scored(source, spec, moment)
    if fmt is Format.jsonl:
        output.write_jsonl(results, sys.stdout)
    elif fmt is Format.csv:
        output.write_csv(results, sys.stdout)
    else:
        output.write_table(results, spec, Console(), top)
    if skipped:
        err.print(f"{skipped} invalid line(s) skipped.")


def _scored(leads: Iterator, spec: ScoringModel, moment: datetime) -> Iterator[ScoreResult]:
    for lead in leads:
        yield score(lead, spec, moment)


@model_app.command("check")
def model_check(
    paths: Annotated[list[Path], typer.Argument(help="Model files to validate.")],
) -> None:
    """Validate model files: exit 0 when all are valid, 2 with every fault listed otherwise."""
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
        raise typer.Exit(EXIT_INVALID_MODEL)


@model_app.command("show")
def model_show(
    name: Annotated[str, typer.Argument(help="A template name, a model name or a .yaml path.")],
) -> None:
    """Print a readable summary of a model: its rules, groups, tiers and MQL threshold."""
    Console().print(describe_model(templates.resolve_model(name)))


@model_app.command("list")
def model_list() -> None:
    """List the shipped templates and the models in LEADSYNC_MODELS_PATH."""
    console = Console()
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


@app.command("sandbox")
def sandbox(
    crm: Annotated[
        str,
        typer.Argument(
            help="hubspot or salesforce; or leads: print the generated people as canonical "
            "JSON Lines with their outcome, to backtest models on them."
        ),
    ],
    port: Annotated[int, typer.Option(help="0 picks a free port.")] = 0,
    contacts: Annotated[int, typer.Option(help="How many contacts (leads) to generate.")] = 1000,
    seed: Annotated[int, typer.Option(help="The data generator's seed.")] = 0,
    profile: Annotated[
        str, typer.Option(help="HubSpot: starter, professional or enterprise.")
    ] = "professional",
    faults: Annotated[
        str, typer.Option(help="e.g. error_rate=0.05,latency_ms=20,burst_429=3")
    ] = "",
    score_fields: Annotated[
        bool, typer.Option(help="Salesforce: start with leadsync's score fields on Lead/Contact.")
    ] = True,
    metadata_access: Annotated[
        bool, typer.Option(help="Salesforce: the API user may use the Metadata API.")
    ] = True,
    outcomes: Annotated[
        bool,
        typer.Option(
            help="Salesforce: serve the generated outcomes (opportunities; leads that reached "
            "one converted, so the sync no longer reads them)."
        ),
    ] = False,
) -> None:
    """Run a sandbox CRM in the foreground and print how to point a client at it."""
    from leadsync.connectors.sandbox.faults import Faults

    try:
        Faults.parse(faults)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--faults") from None
    if crm == "leads":
        _print_generated_leads(contacts, seed)
    elif crm == "hubspot":
        from leadsync.connectors.sandbox.hubspot.server import serve_forever

        serve_forever(
            port=port,
            contacts=contacts,
            seed=seed,
            profile=profile,
            faults=faults,
            print_fn=lambda line: print(line, flush=True),
        )
    elif crm == "salesforce":
        from leadsync.connectors.sandbox.salesforce.server import serve_forever as serve_salesforce

        serve_salesforce(
            port=port,
            leads=contacts,
            seed=seed,
            faults=faults,
            score_fields=score_fields,
            metadata_access=metadata_access,
            outcomes=outcomes,
        )
    else:
        raise typer.BadParameter("hubspot, salesforce or leads", param_hint="CRM")


def _print_generated_leads(contacts: int, seed: int) -> None:
    import json

    from leadsync.connectors.sandbox.data import generate
    from leadsync.connectors.sandbox.leads import lead_jsons

    write = sys.stdout.write
    for lead in lead_jsons(generate(contacts, seed=seed)):
        write(json.dumps(lead, ensure_ascii=False) + "\n")


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

    settings = Settings()
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


def main() -> None:
    """Entry point of the console script."""
    try:
        app()
    except ModelError as error:
        err.print(str(error), markup=False)
        sys.exit(EXIT_INVALID_MODEL)
    except LeadsyncError as error:
        err.print(f"error: {error}", markup=False)
        sys.exit(EXIT_INVALID_DATA)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)
    except KeyboardInterrupt:
        sys.exit(130)
