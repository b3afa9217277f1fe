"""The model lab: ``leadsync model backtest`` and ``leadsync model diff``.

Both stream a lead file (JSON Lines or CSV, see :mod:`leadsync.sync.leadfile`) — or,
with ``--account``, the account's leads read from the CRM now — through
the engine and the pure accumulators of :mod:`leadsync.scoring.backtest` and
:mod:`leadsync.scoring.diff`, so memory stays flat however many leads the file holds.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from leadsync.config import templates
from leadsync.errors import LeadError, LeadsyncError
from leadsync.scoring.backtest import Backtest
from leadsync.scoring.diff import ModelDiff
from leadsync.scoring.engine import compiled
from leadsync.scoring.lead import Lead
from leadsync.sync import fileranges, labpool, labreport, leadoptions, terminal
from leadsync.sync.commands import AccountsFile, opened
from leadsync.sync.export import ReadsOutcomes, account_leads
from leadsync.sync.leadfile import Columns, read_leads

err = terminal.console(stderr=True)


class LabFormat(StrEnum):
    table = "table"
    json = "json"
    html = "html"


Leads = Annotated[
    str | None,
    typer.Option("--leads", "-l", help="A JSON Lines or CSV file of leads; '-' reads stdin."),
]
FromAccount = Annotated[
    str | None,
    typer.Option(
        "--account",
        "-a",
        help="Instead of --leads: read the account's leads (and outcomes) from the CRM now.",
    ),
]
AsOf = Annotated[
    str | None,
    typer.Option(
        help="Score as of this moment (ISO 8601 with a timezone). Default: now. "
        "A moment before the outcomes keeps later activity out of the scores."
    ),
]
Fmt = Annotated[LabFormat, typer.Option("--format", "-f", help="Output format.")]
SkipInvalid = Annotated[bool, typer.Option(help="Report invalid lines on stderr and carry on.")]


def _reporter(skip_invalid: bool, counter: list[int]):
    def report(error: LeadError) -> None:
        counter[0] += 1
        err.print(f"skipped {error}", markup=False)

    return report if skip_invalid else None


@contextlib.contextmanager
def _source(
    leads: str | None,
    account: str | None,
    accounts_file: Path | None,
    on_invalid: Callable[[LeadError], None] | None,
    columns: Columns,
    outcomes: bool | None,
) -> Iterator[Iterator[Lead]]:
    """The leads to run on: a file's, or an account's read now (``outcomes``: True
    requires them, None takes them when the connector reads them)."""
    if (leads is None) == (account is None):
        raise typer.BadParameter("give --leads FILE or --account ID (one of them)")
    if leads is not None:
        yield read_leads(leads, on_invalid, columns)
        return
    assert account is not None
    with opened(account, accounts_file) as ctx:
        yield account_leads(
            ctx.connector,
            with_outcomes=bool(outcomes or isinstance(ctx.connector, ReadsOutcomes)),
            require_consent=ctx.account.require_consent,
        )


def backtest(
    model: Annotated[
        str, typer.Option("--model", "-m", help="A template name, a model name or a .yaml path.")
    ],
    leads: Leads = None,
    account: FromAccount = None,
    accounts_file: AccountsFile = None,
    as_of: AsOf = None,
    fmt: Fmt = LabFormat.table,
    id_column: leadoptions.IdColumn = "id",
    outcome_column: leadoptions.OutcomeColumn = None,
    maps: leadoptions.Maps = None,
    skip_invalid: SkipInvalid = False,
    lowest: Annotated[int, typer.Option(min=0, help="Lowest-scored converted leads shown.")] = 10,
    target_volume: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Suggest the threshold keeping MQLs within this share."
        ),
    ] = 0.10,
    target_precision: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Suggest the lowest threshold reaching this precision."
        ),
    ] = 0.5,
) -> None:
    """How well a model's scores predicted what became of the leads (outcome.converted).

    ROC AUC, conversion and lift per tier, MQL precision and recall, score deciles,
    the lowest-scored converted leads and suggested thresholds. Leads without an
    outcome are counted and left out.
    """
    moment = leadoptions.as_of(as_of)
    spec = templates.resolve_model(model)
    skipped = [0]
    now = moment.timestamp()
    lab = Backtest(spec, lowest, target_volume, target_precision)
    columns = leadoptions.columns(id_column, outcome_column, maps)
    reporter = _reporter(skip_invalid, skipped)
    if leads is not None and account is None and fileranges.usable(leads):
        labpool.backtest_file(leads, lab, now, reporter)
    else:
        with _source(leads, account, accounts_file, reporter, columns, True) as source:
            for lead in source:
                lab.add_lead(lead, now)
    report = lab.report()
    if not report.leads:
        where = leads if leads is not None else f"account {account}"
        raise LeadsyncError(
            f"{where}: no lead has an outcome ({report.without_outcome} read): give each "
            "an outcome.converted, or name the CSV column with --outcome-column"
        )
    if fmt is LabFormat.json:
        print(json.dumps(labreport.backtest_json(report), ensure_ascii=False))
    elif fmt is LabFormat.html:
        sys.stdout.write(labreport.backtest_html(report))
    else:
        labreport.backtest_table(report, terminal.console())
    if skipped[0]:
        err.print(f"{skipped[0]} invalid line(s) skipped.")


def diff(
    old: Annotated[
        str, typer.Argument(metavar="OLD", help="The model as it is (template, name or .yaml).")
    ],
    new: Annotated[str, typer.Argument(metavar="NEW", help="The model as it would be.")],
    leads: Leads = None,
    account: FromAccount = None,
    accounts_file: AccountsFile = None,
    as_of: AsOf = None,
    fmt: Fmt = LabFormat.table,
    id_column: leadoptions.IdColumn = "id",
    outcome_column: leadoptions.OutcomeColumn = None,
    maps: leadoptions.Maps = None,
    skip_invalid: SkipInvalid = False,
    top: Annotated[int, typer.Option(min=0, help="Leads shown per list.")] = 10,
) -> None:
    """What changing a model would change: tier moves, new and lost MQLs, the largest
    moves and the rules behind them, and both backtests when the leads have outcomes."""
    moment = leadoptions.as_of(as_of)
    old_spec, new_spec = templates.resolve_model(old), templates.resolve_model(new)
    skipped = [0]
    old_engine, new_engine = compiled(old_spec), compiled(new_spec)
    now = moment.timestamp()
    changes = ModelDiff(old_spec, new_spec, top)
    old_lab, new_lab = Backtest(old_spec, top), Backtest(new_spec, top)
    columns = leadoptions.columns(id_column, outcome_column, maps)
    reporter = _reporter(skip_invalid, skipped)
    with _source(leads, account, accounts_file, reporter, columns, None) as source:
        for lead in source:
            before, after = old_engine.score(lead, now), new_engine.score(lead, now)
            changes.add(before, after)
            converted = lead.outcome.converted if lead.outcome else None
            old_lab.add(before, converted)
            new_lab.add(after, converted)
    report = changes.report()
    old_backtest, new_backtest = old_lab.report(), new_lab.report()
    backtests = (old_backtest, new_backtest) if old_backtest.leads else None
    if fmt is LabFormat.json:
        print(json.dumps(labreport.diff_json(report, backtests), ensure_ascii=False))
    elif fmt is LabFormat.html:
        sys.stdout.write(labreport.diff_html(report, backtests))
    else:
        labreport.diff_table(report, backtests, terminal.console())
    if skipped[0]:
        err.print(f"{skipped[0]} invalid line(s) skipped.")
