"""``leadsync model fit``: learn a model's rules and points from leads with outcomes.

The command reads the history twice — once to fit (:mod:`~leadsync.sync.fithistory`,
:mod:`~leadsync.sync.fit`), once to score every lead with the model as written
(:mod:`~leadsync.sync.fitmodel`) — and reports the training and held-out figures side
by side. scikit-learn is imported only when the command runs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from leadsync.config import templates
from leadsync.errors import LeadError, LeadsyncError
from leadsync.sync import leadoptions
from leadsync.sync.terminal import Console

if TYPE_CHECKING:
    from leadsync.scoring.backtest import BacktestReport
    from leadsync.sync.fit import Fit
    from leadsync.sync.fitmodel import Checked

err = Console(stderr=True, highlight=False, soft_wrap=True)


AsOf = Annotated[
    str | None,
    typer.Option(
        help="Score as of this moment (ISO 8601 with a timezone). Default: now. "
        "A moment before the outcomes keeps later activity out of the fit."
    ),
]


class FitFormat(StrEnum):
    table = "table"
    json = "json"


def fit_command(
    leads: Annotated[
        str,
        typer.Option("--leads", "-l", help="A JSON Lines or CSV file of leads with outcomes."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the fitted model.")],
    start: Annotated[
        str | None,
        typer.Option(
            help="Keep this model's rules and labels (a template, name or .yaml), re-fit "
            "their points, and add only rules that earn their place."
        ),
    ] = None,
    mql_rate: Annotated[
        float | None,
        typer.Option(min=0.001, max=1.0, help="The share of leads the MQL threshold keeps (0.1)."),
    ] = None,
    mql_precision: Annotated[
        float | None,
        typer.Option(
            min=0.01, max=1.0, help="Instead: the lowest threshold whose MQLs convert this often."
        ),
    ] = None,
    max_rules: Annotated[
        int, typer.Option(min=1, max=200, help="At most this many rules (a start model's count).")
    ] = 20,
    exclude: Annotated[
        list[str] | None,
        typer.Option(help="Leave this property or event type out of the fit. Repeatable."),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="The model's name (default: the start model's, or --out's).")
    ] = None,
    as_of: AsOf = None,
    id_column: leadoptions.IdColumn = "id",
    outcome_column: leadoptions.OutcomeColumn = None,
    maps: leadoptions.Maps = None,
    skip_invalid: Annotated[
        bool, typer.Option(help="Report invalid lines on stderr and carry on.")
    ] = False,
    fmt: Annotated[FitFormat, typer.Option("--format", "-f", help="Output format.")] = (
        FitFormat.table
    ),
) -> None:
    """Learn a model from leads whose outcome.converted is known: rules found in the data,
    points fitted by logistic regression and rounded, tiers and MQL threshold from the
    target. One lead in five (by its id) is held out and reported beside the training
    figures, both scored by the engine with the file written."""
    from leadsync.sync.fit import Target, fit
    from leadsync.sync.fithistory import read_history
    from leadsync.sync.fitmodel import engine_check, model_body, model_spec, model_text

    if mql_rate is not None and mql_precision is not None:
        raise typer.BadParameter("give --mql-rate or --mql-precision, not both")
    if leads == "-":
        raise typer.BadParameter("model fit reads the file twice: give a file, not stdin")
    leadoptions.writable(out, "--out")  # before the fit, not after minutes of it
    moment = leadoptions.as_of(as_of)
    start_spec = templates.resolve_model(start) if start is not None else None
    columns = leadoptions.columns(id_column, outcome_column, maps)
    skipped = [0]

    def report(error: LeadError) -> None:
        skipped[0] += 1
        err.print(f"skipped {error}", markup=False)

    history = read_history(
        leads, moment.timestamp(), columns, start_spec, report if skip_invalid else None
    )
    target = Target(mql_rate if mql_precision is None else None, mql_precision)
    fitted = fit(history, start_spec, target, max_rules, frozenset(exclude or ()))
    today = datetime.now(UTC)
    model_name = name or (start_spec.name if start_spec else out.stem)
    version = f"{start_spec.version}-fit" if start_spec else f"{today:%Y-%m-%d}"
    description = f"Fitted by leadsync model fit on {history.source}." + (
        f" Started from {start_spec.ref}." if start_spec else ""
    )
    body = model_body(fitted, model_name, version, description)
    spec = model_spec(body)
    checked = engine_check(
        history,
        columns,
        spec,
        start_spec,
        fitted.intended,
        (lambda _: None) if skip_invalid else None,
    )
    if checked.agree != checked.rows:
        raise LeadsyncError(
            f"the engine scores {checked.rows - checked.agree} of {checked.rows} leads "
            "differently from the fit: a bug in leadsync model fit, please report it"
        )
    try:
        out.write_text(
            model_text(body, fitted, history, checked, start_spec, moment, today), "utf-8"
        )
    except OSError as exc:
        raise LeadsyncError(f"{out}: cannot write the model ({exc.strerror})") from None
    if fmt is FitFormat.json:
        print(json.dumps(_as_json(out, fitted, checked, history.read), ensure_ascii=False))
    else:
        _table(out, fitted, checked, history.read)
    warning = _overfit(checked)
    if warning:
        err.print(f"warning: {warning}", markup=False)
    if skipped[0]:
        err.print(f"{skipped[0]} invalid line(s) skipped.")


def _overfit(checked: Checked) -> str | None:
    """A line when the held-out leads say the rules do not generalise."""
    trained, held = checked.training.auc, checked.held_out.auc
    if trained is None or held is None:
        return None
    if held < 0.55 or trained - held > 0.05:
        return (
            f"the held-out AUC ({held:.3f}) is far below the training AUC ({trained:.3f}) "
            "or near chance: the rules found do not carry over to leads the fit did not see "
            "(more history, or fewer rules with --max-rules)"
        )
    return None


def _as_json(out: Path, fitted: Fit, checked: Checked, read: int) -> dict[str, Any]:
    from leadsync.sync.labreport import backtest_json

    return {
        "model": str(out),
        "leads": read,
        "rules": len(fitted.rules),
        "candidates": fitted.candidates,
        "forward_selection": [
            {"rule": label, "check_auc": round(auc, 4)} for label, auc in fitted.path
        ],
        "mql_threshold": fitted.mql_threshold,
        "tiers": fitted.tiers,
        "training": backtest_json(checked.training),
        "held_out": backtest_json(checked.held_out),
        "start": None
        if checked.start_held_out is None or checked.start_training is None
        else {
            "training": backtest_json(checked.start_training),
            "held_out": backtest_json(checked.start_held_out),
        },
    }


def _table(out: Path, fitted: Fit, checked: Checked, read: int) -> None:
    console = Console(highlight=False)
    if not console.is_terminal:
        console.width = max(console.width, 100)
    console.print(
        f"{out}: {len(fitted.rules)} rules chosen from {fitted.candidates} candidates, "
        f"MQL at {fitted.mql_threshold:g} ({read} leads read)"
    )
    table = Table("model", "part", "leads", "converted", "ROC AUC", "MQLs", "precision", "recall")
    rows: list[tuple[str, BacktestReport | None]] = [
        ("training", checked.training),
        ("held out", checked.held_out),
    ]
    for part, report in rows:
        _row(table, "fitted", part, report)
    if checked.start_held_out is not None:
        _row(table, "start", "training", checked.start_training)
        _row(table, "start", "held out", checked.start_held_out)
    console.print(table)
    if checked.start_held_out is not None:
        console.print(f"start: {checked.start_held_out.model}, as it is.")
    console.print(
        f"Scored by the engine with {out} (every lead as the fit meant). "
        f"`leadsync model show {out}` reads it; `leadsync model backtest --model {out}` "
        "gives the full report."
    )


def _row(table: Table, model: str, part: str, report: BacktestReport | None) -> None:
    if report is None:
        return
    m = report.mql
    table.add_row(
        model,
        part,
        f"{report.leads:,}",
        f"{report.converted:,}",
        "–" if report.auc is None else f"{report.auc:.3f}",
        f"{m.mqls:,}",
        "–" if m.precision is None else f"{m.precision:.1%}",
        "–" if m.recall is None else f"{m.recall:.1%}",
    )
