"""``leadsync status``: where every account stands, read from the state database.

For each account of the accounts file, and each account the state still holds but the
file no longer lists: its last run, its next run and backoff (written by the daemon),
its last error, the replica holding its lease, where its sync stands and its API
budget. It only reads :class:`~leadsync.sync.state.StateStore` (SQLite or PostgreSQL,
``LEADSYNC_DATABASE_URL``), never calls a CRM and never resolves a credential, so it
prints no secret.

Where the sync stands is ``sync_position``, from what the state records about the
cursors — when each last moved — never the cursors themselves: a cursor is its
connector's opaque text (Salesforce's lists every id written inside its overlap, 18 KB
on a busy org), meaningless to a reader and too long for a table::

    "sync_position": {
        "incremental_saved_at": "2026-03-02T10:15:03+00:00",  # or null: no incremental yet
        "backfill": "done",              # "never", "in progress" (resumes) or "done"
        "backfill_saved_at": "2026-03-02T10:01:44+00:00"   # its last page, or its end
    }

An incremental cursor is saved after each page a run processed, so changes up to about
``incremental_saved_at`` are scored; a ``backfill`` ``in progress`` was stopped or is
running, and the next ``leadsync backfill`` resumes it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, select, union

from leadsync.config.accounts import Account, Schedule
from leadsync.config.accountsfile import load_accounts
from leadsync.config.settings import Settings
from leadsync.sync import terminal
from leadsync.sync.commands import AccountsFile, AsJson, store_for
from leadsync.sync.database import now
from leadsync.sync.leases import Lease, Leases
from leadsync.sync.migrations import account_status, cursors, leases, runs
from leadsync.sync.runhistory import AccountStatus, Run
from leadsync.sync.state import StateStore

__all__ = ["collect", "status"]


def status(accounts_file: AccountsFile = None, as_json: AsJson = False) -> None:
    """Every account's last run, next run, errors, lease, sync position and API budget."""
    settings = Settings()
    accounts = load_accounts(accounts_file or settings.accounts_file).accounts
    store = store_for(settings, create=False)
    try:
        rows = collect(store, accounts)
    finally:
        store.close()
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    _table(rows, terminal.console())


def collect(
    store: StateStore, accounts: list[Account], at: datetime | None = None
) -> list[dict[str, Any]]:
    """One JSON-ready record per account: those of ``accounts`` in order, then the
    accounts the state still holds that ``accounts`` no longer lists (sorted)."""
    at = at or now()
    statuses = store.account_status()
    held = Leases(store.engine, "leadsync-status", timedelta(0)).all()
    listed = {a.id for a in accounts}
    gone = sorted(_accounts_in_state(store) - listed)
    records = [_record(store, a.id, a, statuses.get(a.id), held.get(a.id), at) for a in accounts]
    records += [_record(store, i, None, statuses.get(i), held.get(i), at) for i in gone]
    return records


def _accounts_in_state(store: StateStore) -> set[str]:
    query = union(*(select(t.c.account_id) for t in (runs, cursors, account_status, leases)))
    with store.engine.connect() as conn:
        return set(conn.scalars(query))


def _record(
    store: StateStore,
    account_id: str,
    account: Account | None,
    state: AccountStatus | None,
    lease: Lease | None,
    at: datetime,
) -> dict[str, Any]:
    history = store.runs(account_id, 1)
    last = history[0] if history else None
    state = state or AccountStatus(account_id)
    return {
        "account": account_id,
        "crm": account.crm if account else None,
        "in_accounts_file": account is not None,
        "schedule": _schedule(account.schedule) if account else None,
        "last_run": _run(last) if last else None,
        "next_run_at": _iso(state.next_run_at),
        "last_success_at": _iso(_last_success(store, account_id, state)),
        "last_error": state.last_error,
        "last_error_kind": state.last_error_kind,
        "failures": state.failures,
        "backoff_until": _iso(state.backoff_until) if _future(state.backoff_until, at) else None,
        "lease": (
            {
                "holder": lease.holder,
                "instance": lease.instance,
                "since": _iso(lease.acquired_at),
                "expires_at": _iso(lease.expires_at),
                "token": lease.token,
            }
            if lease is not None and lease.expires_at > at
            else None
        ),
        "sync_position": _position(store, account_id),
        "api": _budget(state, last),
    }


def _position(store: StateStore, account_id: str) -> dict[str, Any]:
    """Where the account's sync stands, from when its cursors last moved (see the module
    docstring): a backfill row whose value is null is a finished backfill."""
    query = select(cursors.c.kind, cursors.c.value.is_(None), cursors.c.updated_at).where(
        cursors.c.account_id == account_id, cursors.c.kind.in_(("incremental", "backfill"))
    )
    with store.engine.connect() as conn:
        saved = {kind: (empty, at) for kind, empty, at in conn.execute(query)}
    inc, backfill = saved.get("incremental"), saved.get("backfill")
    return {
        "incremental_saved_at": _iso(inc[1]) if inc is not None and not inc[0] else None,
        "backfill": "never" if backfill is None else "done" if backfill[0] else "in progress",
        "backfill_saved_at": _iso(backfill[1]) if backfill is not None else None,
    }


def _last_success(store: StateStore, account_id: str, state: AccountStatus) -> datetime | None:
    """The end of the account's last ``ok`` run, the daemon's or a command's."""
    query = select(func.max(runs.c.ended_at)).where(
        runs.c.account_id == account_id, runs.c.status == "ok"
    )
    with store.engine.connect() as conn:
        ended = conn.scalar(query)
    moments = [m for m in (ended, state.last_success_at) if m is not None]
    return max(moments) if moments else None


def _run(run: Run) -> dict[str, Any]:
    seconds = (run.ended_at - run.started_at).total_seconds() if run.ended_at else None
    return {
        "id": run.id,
        "kind": run.kind,
        "status": run.status,
        "started_at": _iso(run.started_at),
        "ended_at": _iso(run.ended_at),
        "seconds": None if seconds is None else round(seconds, 3),
        "leads": run.counts.get("leads", 0),
        "writes": run.counts.get("writes", 0),
        "tasks": run.counts.get("tasks", 0),
        "api_calls": run.counts.get("api_calls", 0),
        "error": run.error,
        "replica": run.replica,
        "instance": run.instance,
    }


def _budget(state: AccountStatus, last: Run | None) -> dict[str, Any] | None:
    """The daemon's figure where it wrote one, else what the last run's CRM reported."""
    if state.api_remaining is not None or state.api_limit is not None:
        return {"remaining": state.api_remaining, "limit": state.api_limit, "source": "daemon"}
    reported = last is not None and {"api_daily_remaining", "api_daily_limit"} & set(last.counts)
    if last is not None and reported:
        return {
            "remaining": last.counts.get("api_daily_remaining"),
            "limit": last.counts.get("api_daily_limit"),
            "source": f"run {last.id}",
        }
    return None


def _schedule(schedule: Schedule | None) -> str | None:
    if schedule is None:
        return None
    if schedule.interval is not None:
        text = f"every {_duration(schedule.interval.total_seconds())}"
    else:
        text = f"cron {schedule.cron}"
    if schedule.jitter:
        text += f" ±{_duration(schedule.jitter.total_seconds())}"
    if schedule.full_rescore:
        text += f"; full re-score cron {schedule.full_rescore}"
    return text


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _future(moment: datetime | None, at: datetime) -> bool:
    return moment is not None and moment > at


# --- the table -----------------------------------------------------------------------


def _table(rows: list[dict[str, Any]], console: Console) -> None:
    if not rows:
        console.print("No accounts in the accounts file and no state yet.")
        return
    at = now().astimezone(UTC)
    table = Table(
        title="leadsync status",
        title_justify="left",
        caption="times in UTC · --json prints every field",
        caption_justify="left",
    )
    columns = ("account", "last run", "next run", "errors", "lease", "sync position", "API left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        name = f"[bold]{escape(row['account'])}[/]"
        if row["crm"]:
            name += f"\n{row['crm']}"
        if not row["in_accounts_file"]:
            name += "\n[yellow]not in the accounts file[/]"
        table.add_row(
            name,
            _last_run_cell(row["last_run"], at),
            _next_run_cell(row, at),
            _errors_cell(row, at),
            _lease_cell(row["lease"], at),
            _position_cell(row["sync_position"], at),
            _budget_cell(row["api"]),
        )
    console.print(table)


def _last_run_cell(run: dict[str, Any] | None, at: datetime) -> str:
    if run is None:
        return "[dim]never[/]"
    colour = {"ok": "green", "failed": "red", "running": "cyan", "interrupted": "magenta"}.get(
        run["status"], "yellow"
    )
    took = "…" if run["seconds"] is None else _duration(run["seconds"])
    text = (
        f"{run['kind']} [{colour}]{run['status']}[/]\n"
        f"{_when(run['started_at'], at)} · took {took}\n"
        f"{run['leads']} leads · {run['writes']} writes · {run['tasks']} tasks"
    )
    if run["replica"]:
        text += f"\n[dim]on {escape(run['replica'])}[/]"
    return text


def _next_run_cell(row: dict[str, Any], at: datetime) -> str:
    lines = []
    if row["next_run_at"]:
        lines.append(_when(row["next_run_at"], at))
    if row["schedule"]:
        lines.append(f"[dim]{escape(row['schedule'])}[/]")
    return "\n".join(lines) or "[dim]—[/]"


def _errors_cell(row: dict[str, Any], at: datetime) -> str:
    lines = []
    if row["last_error"]:
        kind = f"{row['last_error_kind']}: " if row["last_error_kind"] else ""
        lines.append(f"[red]{escape(kind + row['last_error'])}[/]")
    if row["failures"]:
        lines.append(f"{row['failures']} failure(s) in a row")
    if row["backoff_until"]:
        lines.append(f"backoff until {_when(row['backoff_until'], at)}")
    return "\n".join(lines) or "[dim]—[/]"


def _lease_cell(lease: dict[str, Any] | None, at: datetime) -> str:
    if lease is None:
        return "[dim]free[/]"
    return f"{escape(lease['holder'])}\n[dim]until {_when(lease['expires_at'], at)}[/]"


def _position_cell(position: dict[str, Any], at: datetime) -> str:
    saved = position["incremental_saved_at"]
    lines = [f"incremental saved {_when(saved, at)}" if saved else "[dim]no incremental yet[/]"]
    backfill, moved = position["backfill"], position["backfill_saved_at"]
    if backfill == "in progress":
        lines.append(f"[yellow]backfill in progress[/] [dim](last page {_when(moved, at)})[/]")
    elif backfill == "done":
        lines.append(f"backfill done [dim]{_when(moved, at)}[/]")
    else:
        lines.append("[dim]no backfill yet[/]")
    return "\n".join(lines)


def _budget_cell(api: dict[str, Any] | None) -> str:
    if api is None:
        return "[dim]unknown[/]"
    remaining = "?" if api["remaining"] is None else f"{api['remaining']:,}"
    limit = "?" if api["limit"] is None else f"{api['limit']:,}"
    return f"{remaining} / {limit}\n[dim]{api['source']}[/]"


def _when(iso: str, at: datetime) -> str:
    moment = datetime.fromisoformat(iso)
    delta = (moment - at).total_seconds()
    relative = f"in {_duration(delta)}" if delta > 0 else f"{_duration(-delta)} ago"
    shown = moment.astimezone(UTC)
    clock = shown.strftime("%H:%M:%S" if shown.date() == at.date() else "%Y-%m-%d %H:%M")
    return f"{clock} ({relative})"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"
