"""``leadsync demo``: the whole product on a local HubSpot, offline, in under a minute.

It starts the HubSpot sandbox with a few thousand generated contacts, runs a
backfill through the real connector and pipeline, lets the sandbox simulate some
activity, runs an incremental sync, and prints what happened and what it cost in
API calls against the least the endpoints' page and batch limits allow.
"""

from __future__ import annotations

import contextlib
import os
import random
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from leadsync.config.accounts import Account, TaskSettings
from leadsync.config.templates import resolve_model
from leadsync.connectors.base import ApiUsage, open_connector
from leadsync.connectors.hubspot.connector import BATCH_LIMITS
from leadsync.connectors.salesforce.connector import BATCH_LIMITS as SALESFORCE_LIMITS
from leadsync.connectors.salesforce.connector import use_session_factory
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox
from leadsync.scoring.model import ScoringModel
from leadsync.sync import terminal
from leadsync.sync.pipeline import RunReport, Sync
from leadsync.sync.state import StateStore

TOKEN_ENV = "LEADSYNC_DEMO_HUBSPOT_TOKEN"
SECRET_ENV = "LEADSYNC_DEMO_SALESFORCE_SECRET"


@dataclass(frozen=True, slots=True)
class Step:
    report: RunReport
    usage: ApiUsage
    limits: dict[str, int]

    @property
    def minimum(self) -> int:
        """The least calls the CRM's page and batch limits allow for what the step moved."""
        return self.usage.minimum(self.limits)


def run_demo(
    crm: str = "hubspot",
    contacts: int = 3000,
    seed: int = 7,
    changed: int = 60,
    console: Console | None = None,
    review_path: Path = Path("leadsync-demo-review.html"),
) -> list[Step]:
    """Backfill then one incremental run on a fresh sandbox; prints and returns both steps,
    then writes the account's review to ``review_path``."""
    console = console or terminal.console()
    steps: list[Step] = []
    with (
        tempfile.TemporaryDirectory(prefix="leadsync-demo-") as folder,
        _sandbox(crm, contacts, seed) as (account, limits, touch, about),
    ):
        store = StateStore(f"sqlite:///{Path(folder) / 'state.db'}")
        model = resolve_model(account.model)
        console.print(f"{crm} sandbox: {about}, model {model.ref}")
        try:
            for mode, label in (("backfill", "Backfill"), ("incremental", "Incremental run")):
                if mode == "incremental":
                    touched = touch(changed)
                    what = "a demo request each" if crm == "salesforce" else "a visit or a form"
                    console.print(
                        f"The sandbox simulates new activity on {len(touched)} records ({what})…"
                    )
                connector = open_connector(account)
                try:
                    with console.status(f"{label}…"):
                        report = Sync(account, connector, store, model).run(mode)  # type: ignore[arg-type]
                    steps.append(Step(report, connector.usage(), limits))
                finally:
                    connector.close()
                _print_step(console, label, steps[-1])
            _write_review(account, model, store, review_path, console)
        finally:
            store.close()
    return steps


def _write_review(
    account: Account, model: ScoringModel, store: StateStore, path: Path, console: Console
) -> None:
    """The sandbox account's quarterly review (``leadsync review``), as an HTML file."""
    from leadsync.scoring.review import review
    from leadsync.sync.export import account_leads
    from leadsync.sync.review import reviewed_leads
    from leadsync.sync.reviewreport import review_html

    connector = open_connector(account)
    try:
        with console.status("Review…"):
            leads = account_leads(connector, with_outcomes=True)
            report = review(reviewed_leads(leads, model, store.history, account.id), model)
    finally:
        connector.close()
    path.write_text(review_html(report, account.id), encoding="utf-8")
    console.print(f"The account's review (leadsync review --format html): {path.resolve()}")


@contextlib.contextmanager
def _sandbox(
    crm: str, records: int, seed: int
) -> Iterator[tuple[Account, dict[str, int], Callable[[int], list[str]], str]]:
    """An account on a running sandbox (secrets through the environment, as a user's),
    the CRM's batch limits, a function that simulates activity on N records, and what
    the sandbox holds, in words."""
    if crm == "hubspot":
        with HubSpotSandbox(contacts=records, seed=seed, profile="professional") as sandbox:
            os.environ[TOKEN_ENV] = sandbox.token
            owners = [o.id for o in sandbox.store.dataset.owners[:3]]
            account = Account(
                id="demo",
                crm="hubspot",
                credentials={"token": TOKEN_ENV},
                host=sandbox.url,
                tasks=TaskSettings(round_robin=owners),
            )
            try:
                yield account, BATCH_LIMITS, sandbox.touch, f"{records} contacts"
            finally:
                os.environ.pop(TOKEN_ENV, None)
        return
    with SalesforceSandbox(leads=records, seed=seed, outcomes=True) as sandbox:  # for the review
        os.environ[SECRET_ENV] = sandbox.client_secret
        account = Account(
            id="demo",
            crm="salesforce",
            credentials={
                "consumer_key": sandbox.client_id,
                "consumer_secret": SECRET_ENV,
                "instance_url": sandbox.instance_url,
            },
        )
        use_session_factory(lambda _account: sandbox.session())
        try:
            converted = sum(1 for lead in sandbox.store.rows("Lead") if lead.get("IsConverted"))
            about = (
                f"{records} leads, {converted} of them converted (the sales outcomes the "
                "review reads; scoring leaves converted leads out)"
            )
            yield account, SALESFORCE_LIMITS, lambda n: _demo_requests(sandbox, n, seed), about
        finally:
            use_session_factory(None)
            os.environ.pop(SECRET_ENV, None)


def _demo_requests(sandbox: SalesforceSandbox, count: int, seed: int) -> list[str]:
    """``count`` open Leads fill in a "Request a demo" form: each becomes a responded
    member of a Web campaign, as Salesforce records a form fill, so the incremental run
    finds new activity worth points (moving only ``SystemModstamp`` would rescore the
    Leads to the same scores). Returns the Leads' ids."""
    store = sandbox.store
    at = store.now()
    web = {str(c["Id"]) for c in store.rows("Campaign") if c.get("Type") == "Web"}
    answered = {str(m["LeadId"]) for m in store.rows("CampaignMember") if m["CampaignId"] in web}
    open_leads = sorted(
        str(r["Id"])
        for r in store.rows("Lead")
        if not r.get("IsConverted") and str(r["Id"]) not in answered  # a request counts once
    )
    chosen = random.Random(seed).sample(open_leads, min(count, len(open_leads)))
    campaign = store.load(
        "Campaign",
        {"Name": "Request a demo", "Type": "Web", "Status": "In Progress", "IsActive": True,
         "StartDate": at.date(), "Description": "demo_request", "OwnerId": store.api_user_id},
        at=at,
    )  # fmt: skip
    for lead in chosen:
        store.load(
            "CampaignMember",
            {"CampaignId": campaign, "LeadId": lead, "ContactId": None, "Status": "Responded",
             "HasResponded": True, "FirstRespondedDate": at.date()},
            at=at,
        )  # fmt: skip
    return chosen


def _print_step(console: Console, label: str, step: Step) -> None:
    c = step.report.counts
    total = step.usage.total
    console.print(
        f"[bold]{label}[/]: {c['leads']} records scored, {c['writes']} scores written, "
        f"{c['unchanged']} unchanged, {c['skipped_own_writes']} skipped (our own write-back), "
        f"{c['mql']} MQLs, {c['tasks']} tasks created"
    )
    if step.report.tiers:
        tiers = Counter(step.report.tiers)
        console.print("  tiers: " + " · ".join(f"{t} {n}" for t, n in tiers.most_common()))
    table = Table(
        title=f"{total} API calls; the page and batch limits allow {step.minimum} at best"
    )
    table.add_column("endpoint")
    table.add_column("calls", justify="right")
    table.add_column("records", justify="right")
    for name, count in sorted(step.usage.calls.items(), key=lambda kv: -kv[1]):
        table.add_row(name, str(count), str(step.usage.items.get(name, "")))
    console.print(table)
