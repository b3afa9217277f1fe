"""``leadsync review``: the quarterly review of an account's scoring, from the CRM's
outcomes and leadsync's score history.

Each lead is read from the CRM with what became of it (:func:`account_leads`), and
scored again as it was when leadsync first scored it, or before sales took it on if
that came first — its events up to that moment, the account's model — which gives its
initial score and the reasons behind it; the score history says when leadsync first
scored it and when it became MQL. The figures are
:func:`leadsync.scoring.review.review`'s.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol, runtime_checkable

import typer
import yaml

from leadsync.config import templates
from leadsync.config.accounts import parse_duration
from leadsync.scoring.engine import score
from leadsync.scoring.lead import Lead
from leadsync.scoring.loader import parse_model, read_yaml
from leadsync.scoring.model import ScoringModel
from leadsync.scoring.review import Reviewed, ReviewReport, review
from leadsync.sync import leadoptions, reviewreport, terminal
from leadsync.sync.commands import AccountOption, AccountsFile, opened
from leadsync.sync.export import account_leads
from leadsync.sync.output import number

if TYPE_CHECKING:
    from leadsync.connectors.base import Connector, TaskState
    from leadsync.sync.history import ScoreHistory
    from leadsync.sync.state import StateStore


class Period(StrEnum):
    month = "month"
    week = "week"


class ReviewFormat(StrEnum):
    table = "table"
    json = "json"
    html = "html"


def review_command(
    account: AccountOption,
    since: Annotated[
        str | None,
        typer.Option(help="Only leads leadsync first scored in this past span (90d, 12w…)."),
    ] = None,
    period: Annotated[Period, typer.Option(help="Tier volumes by month or by week.")] = (
        Period.month
    ),
    fmt: Annotated[ReviewFormat, typer.Option("--format", "-f")] = ReviewFormat.table,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here, not stdout.")] = None,
    suggest: Annotated[
        Path | None,
        typer.Option(
            help="Write the account's model with a suggested MQL threshold and rule points "
            "here, to `model diff` and `model backtest` before adopting it."
        ),
    ] = None,
    accounts_file: AccountsFile = None,
) -> None:
    """A quarterly review of the model: MQL → SQL rate, close rate and sales cycle by
    initial score band, who won with a low score, tiers over time — a table, JSON or one
    HTML page.

    It also lists the MQLs sales rejected and the rules whose points disagree with the
    outcomes; --suggest writes a model file with a suggested MQL threshold and points,
    to `model diff` and `model backtest` before adopting it."""
    now = datetime.now(UTC)
    try:
        cutoff = now - parse_duration(since) if since else None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--since") from None
    leadoptions.writable(out, "--out")
    leadoptions.writable(suggest, "--suggest")
    with opened(account, accounts_file) as ctx:
        leads = account_leads(
            ctx.connector, with_outcomes=True, require_consent=ctx.account.require_consent
        )
        tasks = task_states(ctx.connector, ctx.store, account, now)
        reviewed = reviewed_leads(leads, ctx.model, ctx.store.history, account, cutoff, now, tasks)
        field = ctx.connector.feedback_field() if isinstance(ctx.connector, KnowsFeedback) else None
        report = review(reviewed, ctx.model, period=period.value, feedback_field=field)
        page = reviewreport.review_html(report, account)
        ctx.store.save_review(account, page)  # what `leadsync daemon --http` serves
        if suggest is not None:
            suggest.write_text(suggested_model(ctx.account.model, report, account), "utf-8")
            typer.echo(f"suggested model written to {suggest}", err=True)
    if fmt is ReviewFormat.json:
        text = json.dumps(reviewreport.review_json(report), ensure_ascii=False) + "\n"
    elif fmt is ReviewFormat.html:
        text = page
    else:
        console = terminal.console(file=out.open("w", encoding="utf-8") if out else None)
        reviewreport.review_table(report, console)
        return
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"review written to {out}", err=True)


@runtime_checkable
class ReadsTasks(Protocol):
    """A connector that can say where the MQL tasks it created stand."""

    def task_states(self, task_ids: Sequence[str]) -> dict[str, TaskState]: ...


@runtime_checkable
class KnowsFeedback(Protocol):
    """A connector that can say whether the CRM has the field sales' feedback goes in."""

    def feedback_field(self) -> str | None: ...


def task_states(
    connector: Connector, store: StateStore, account: str, now: datetime
) -> dict[str, str]:
    """Lead id → where its latest MQL task stands (``overdue``: open past its due date)."""
    latest = {c.lead_id: c.task_id for c in store.tasks(account) if c.task_id}
    if not latest or not isinstance(connector, ReadsTasks):
        return {}
    states = connector.task_states(sorted(set(latest.values())))
    out = {}
    for lead_id, task_id in latest.items():
        state = states.get(task_id)
        if state is not None:
            late = state.status == "open" and state.due_at is not None and state.due_at < now
            out[lead_id] = "overdue" if late else state.status
    return out


def reviewed_leads(
    leads: Iterator[Lead],
    model: ScoringModel,
    history: ScoreHistory,
    account: str,
    cutoff: datetime | None = None,
    now: datetime | None = None,
    tasks: Mapping[str, str] | None = None,
) -> Iterator[Reviewed]:
    """The account's leads as the review sees them (those first scored since ``cutoff``),
    with where their MQL task stands (``tasks``, from :func:`task_states`)."""
    now = now or datetime.now(UTC)
    tasks = tasks or {}
    milestones = history.milestones(account)
    for lead in leads:
        first, became_mql = milestones.get(lead.id, (None, None))
        if cutoff is not None and (first is None or first < cutoff):
            continue
        yield Reviewed(score(lead, model, _before(first, lead, now)), became_mql, first,
                       lead.outcome, tasks.get(lead.id))  # fmt: skip


def _before(first: datetime | None, lead: Lead, now: datetime) -> datetime:
    """When to score a lead for its initial score: when leadsync first scored it, or
    before sales took it on (its SQL or conversion date) if that came first — what it did
    in the sales cycle would otherwise explain its own outcome."""
    outcome = lead.outcome
    moments = [first, outcome.sql_at, outcome.converted_at] if outcome else [first]
    return min((m for m in moments if m is not None), default=now)


def suggested_model(model_name: str, report: ReviewReport, account: str) -> str:
    """The model as a YAML file with the review's suggestions applied — never adopted by
    leadsync itself: a file to ``model diff`` and ``model backtest`` first.

    The MQL threshold becomes the suggested one; each rule whose points disagree with the
    outcomes gets its points scaled by its lift. A header comment says what changed and
    on what data.
    """
    text, source = templates.model_source(model_name)
    data = read_yaml(text)
    notes = [f"Suggested by `leadsync review` for account {account} on "
             f"{datetime.now(UTC):%Y-%m-%d}, from {source}: {report.with_outcome} leads with "
             f"an outcome, {report.converted} converted."]  # fmt: skip
    threshold = report.threshold
    if threshold is not None and threshold.precision is not None and threshold.recall is not None:
        notes.append(
            f"mql_threshold {data.get('mql_threshold')} → {number(threshold.score)}: "
            f"{threshold.mqls} MQLs, {threshold.precision:.0%} of them converted, "
            f"{threshold.recall:.0%} of the converted."
        )
        data["mql_threshold"] = number(threshold.score)
        _move_tiers(data, threshold.score)
    changed = {r.rule: r for r in report.rules if r.disagrees}
    for rule in data.get("rules", []):
        lift = changed.get(str(rule.get("id")))
        if lift is None or not isinstance(rule.get("points"), int | float):
            continue
        why = (
            f"none of its {lift.leads} leads converted"
            if lift.lift == 0
            else f"its {lift.leads} leads converted at {lift.lift:.2f}× the average"
        )
        notes.append(f"{rule['id']}: {rule['points']} → {lift.suggested} points ({why})")
        rule["points"] = lift.suggested
    data["version"] = f"{data.get('version', '1')}-review"
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88)
    header = "".join(f"# {line}\n" for note in notes for line in textwrap.wrap(note, 86))
    result = header + body
    parse_model(result, source="suggested model")  # it loads, or this is a bug
    return result


def _move_tiers(data: dict[str, Any], threshold: Decimal) -> None:
    """The tier that starts at the old MQL threshold starts at the new one (tiers stay
    in increasing order: the lower ones are not moved past it)."""
    tiers = data.get("tiers") or []
    if tiers and tiers[-1].get("min") is not None:
        lower = [t.get("min") for t in tiers[:-1] if t.get("min") is not None]
        if not lower or max(lower) < threshold:
            tiers[-1]["min"] = number(threshold)
