"""``leadsync export``: an account's leads as canonical JSON Lines, streamed.

The leads exactly as the engine sees them — what the connector reads, events and all,
without the events of leads lacking consent when the account requires it — one line
per lead, a page of the connector at a time, so memory does not grow with the
account. With ``--with-outcomes``, each lead carries what became of it, read from the
CRM page by page, and Salesforce's converted Leads, which scoring leaves out, follow.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Protocol, TextIO, runtime_checkable

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from leadsync.connectors.base import Connector, LeadPage
from leadsync.errors import LeadsyncError
from leadsync.scoring.conditions import to_bool
from leadsync.scoring.lead import Lead, Outcome, lead_json
from leadsync.sync import leadoptions, terminal
from leadsync.sync.commands import AccountOption, AccountsFile, opened


@runtime_checkable
class ReadsOutcomes(Protocol):
    """A connector that can say what became of its leads."""

    def outcomes(self, lead_ids: Sequence[str]) -> dict[str, Outcome]: ...


@runtime_checkable
class ReadsConvertedLeads(Protocol):
    """A connector whose scoring reads leave out converted leads (Salesforce's Leads),
    which an export with outcomes adds."""

    def converted_leads(self, since: datetime | None = None) -> Iterator[LeadPage]: ...


def account_leads(
    connector: Connector,
    *,
    since: datetime | None = None,
    with_outcomes: bool = False,
    require_consent: bool = False,
    progress: Callable[[int], None] = lambda n: None,
) -> Iterator[Lead]:
    """The account's leads as the engine sees them (changed at or after ``since``, when
    given), a connector page at a time, each with its outcome when ``with_outcomes``."""
    if with_outcomes and not isinstance(connector, ReadsOutcomes):
        raise LeadsyncError(
            f"this CRM's connector cannot read outcomes yet ({type(connector).__name__}): "
            "export without --with-outcomes"
        )
    pages = _pages(connector, since)
    if with_outcomes and isinstance(connector, ReadsConvertedLeads):
        pages = itertools.chain(pages, connector.converted_leads(since))
    for page in pages:
        crm_leads = list(page.leads)
        outcomes = (
            connector.outcomes([c.lead.id for c in crm_leads])  # type: ignore[attr-defined]
            if with_outcomes
            else {}
        )
        for crm_lead in crm_leads:
            lead = crm_lead.lead
            if require_consent and to_bool(lead.properties.get("marketing_consent")) is not True:
                lead = Lead(lead.id, lead.properties, ())
            if with_outcomes:
                lead = dataclasses.replace(lead, outcome=outcomes.get(lead.id))
            yield lead
        progress(len(crm_leads))


def export_leads(connector: Connector, out: TextIO, **options: Any) -> int:
    """Write :func:`account_leads` (same options) to ``out`` as JSON Lines; the count."""
    written = 0
    for lead in account_leads(connector, **options):
        out.write(json.dumps(lead_json(lead), ensure_ascii=False) + "\n")
        written += 1
    return written


def _pages(connector: Connector, since: datetime | None) -> Iterator[LeadPage]:
    if since is None:
        return connector.all_leads(None)
    return connector.changed_leads(connector.cursor_at(since), lambda ids: {})


def export(
    account: AccountOption,
    since: Annotated[
        str | None,
        typer.Option(help="Only leads changed at or after this moment (ISO 8601, timezone)."),
    ] = None,
    with_outcomes: Annotated[
        bool, typer.Option("--with-outcomes", help="Add what became of each lead.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    accounts_file: AccountsFile = None,
) -> None:
    """Write the account's leads as canonical JSON Lines, as the engine sees them.

    Feed the file to ``leadsync model backtest`` or ``model diff``.
    """
    moment = leadoptions.as_of(since) if since is not None else None
    leadoptions.writable(output, "--output")
    err = terminal.console(stderr=True)
    with opened(account, accounts_file) as ctx:
        stream = output.open("w", encoding="utf-8") if output else sys.stdout
        try:
            with Progress(
                TextColumn("exporting {task.description}"),
                BarColumn(),
                TextColumn("{task.completed:,} leads"),
                TimeElapsedColumn(),
                console=err,
                transient=False,
            ) as bar:
                task = bar.add_task(account, total=None)
                count = export_leads(
                    ctx.connector,
                    stream,
                    since=moment,
                    with_outcomes=with_outcomes,
                    require_consent=ctx.account.require_consent,
                    progress=lambda n: bar.advance(task, n),
                )
        finally:
            if output:
                stream.close()
        usage = ctx.connector.usage()
    err.print(f"{count:,} leads exported in {usage.total:,} API calls.")
