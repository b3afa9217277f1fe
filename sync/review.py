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
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from leadsync.config.accounts import parse_duration
from leadsync.errors import ConfigError
from leadsync.scoring.engine import score
from leadsync.scoring.lead import Lead
from leadsync.scoring.model import ScoringModel
from leadsync.scoring.review import Reviewed, review
from leadsync.sync import reviewreport
from leadsync.sync.commands import AccountOption, AccountsFile, opened
from leadsync.sync.export import account_leads

if TYPE_CHECKING:
    from leadsync.sync.history import HistoryEntry, ScoreHistory


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
    fmt: Annotated[ReviewFormat, typer.Option("--format", "-f")] = ReviewFormat.table,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here, not stdout.")] = None,
    accounts_file: AccountsFile = None,
) -> None:
    """The review our method asks for: MQL → SQL rate, close rate and sales cycle by
    initial score band, who won with a low score, tiers over time."""
    now = datetime.now(UTC)
    try:
        cutoff = now - parse_duration(since) if since else None
    except ValueError as error:
        raise ConfigError(f"--since: {error}") from None
    with opened(account, accounts_file) as ctx:
        leads = account_leads(
            ctx.connector, with_outcomes=True, require_consent=ctx.account.require_consent
        )
        reviewed = reviewed_leads(leads, ctx.model, ctx.store.history, account, cutoff, now)
        report = review(reviewed, ctx.model)
        page = reviewreport.review_html(report, account)
        ctx.store.save_review(account, page)  # what `leadsync daemon --http` serves
    if fmt is ReviewFormat.json:
        text = json.dumps(reviewreport.review_json(report), ensure_ascii=False) + "\n"
    elif fmt is ReviewFormat.html:
        text = page
    else:
        console = Console(file=out.open("w", encoding="utf-8") if out else None)
        reviewreport.review_table(report, console)
        return
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        typer.echo(f"review written to {out}", err=True)


def reviewed_leads(
    leads: Iterator[Lead],
    model: ScoringModel,
    history: ScoreHistory,
    account: str,
    cutoff: datetime | None = None,
    now: datetime | None = None,
) -> Iterator[Reviewed]:
    """The account's leads as the review sees them (those first scored since ``cutoff``)."""
    now = now or datetime.now(UTC)
    for lead in leads:
        entries = history.of(account, lead.id)
        first = entries[0].scored_at if entries else None
        if cutoff is not None and (first is None or first < cutoff):
            continue
        yield Reviewed(score(lead, model, _before(first, lead, now)), _became_mql(entries), first,
                       lead.outcome)  # fmt: skip


def _before(first: datetime | None, lead: Lead, now: datetime) -> datetime:
    """When to score a lead for its initial score: when leadsync first scored it, or
    before sales took it on (its SQL or conversion date) if that came first — what it did
    in the sales cycle would otherwise explain its own outcome."""
    outcome = lead.outcome
    moments = [first, outcome.sql_at, outcome.converted_at] if outcome else [first]
    return min((m for m in moments if m is not None), default=now)


def _became_mql(entries: list[HistoryEntry]) -> datetime | None:
    """When the lead first crossed into MQL, per the history (None if it never did)."""
    return next((e.scored_at for e in entries if e.mql), None)
