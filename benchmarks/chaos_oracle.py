"""The chaos benchmark's oracle: once the runs are over, the CRM read back through its API
against the engine and the state databases -- lost writes, wrong scores, duplicate and
missing tasks, overlapping runs (what each counts: ``bench_chaos``'s docstring) -- and
the row of the table."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from chaos_crms import ACCOUNT
from chaos_runner import Scenario

from leadsync.sync.runhistory import Run


def oracle(scenario: Scenario) -> dict[str, Any]:
    """The CRM read back against the engine and the last state database: the row."""
    scenario.crm.faults.clear()
    expected, held, tasks = scenario.crm.engine(), scenario.crm.held(), scenario.crm.tasks()
    store = scenario.db.store
    stored = store.scores(ACCOUNT, list(store.known_leads(ACCOUNT)))
    crossings = [c for c in store.tasks(ACCOUNT) if c.state != "gone"]
    lost = sum(
        1
        for rid, row in stored.items()
        if row.digest and rid in held and held[rid][:2] != (row.score, row.tier)
    )
    wrong = [
        rid
        for rid, r in expected.items()
        if held.get(rid, (None, None, None))[:2] != (r.score, r.tier)
        or r.explanation() not in (held[rid][2] or "")
    ]
    per_lead = Counter(lead for _, lead in tasks)
    keys = {key for key, _ in tasks}
    missing = sorted(
        {rid for rid, r in expected.items() if r.is_mql and rid not in per_lead}
        | {c.lead_id for c in crossings if c.key not in keys}
    )
    overlapping, fenced = overlaps(scenario)
    runs = sum(len(scenario.runs(db)) for db in scenario.dbs)
    if wrong:
        scenario.notes.append(f"wrong scores, e.g. {wrong[:5]}")
    if missing:
        scenario.notes.append(f"MQLs without a task, e.g. {missing[:5]}")
    return {
        "runs": runs,
        "faults": sum(scenario.crm.faults.injected.values()) + sum(scenario.events.values()),
        "by_kind": dict(scenario.crm.faults.injected + scenario.events),
        "lost": lost,
        "wrong": len(wrong),
        "duplicates": sum(n - 1 for n in per_lead.values() if n > 1),
        "missing": len(missing),
        "overlaps": overlapping,
        "fenced": fenced,
        "records": len(expected),
        "mqls": sum(1 for r in expected.values() if r.is_mql),
        "tasks": len(tasks),
    }


def overlaps(scenario: Scenario) -> tuple[int, int]:
    """Pairs of runs live at once, and runs fenced off after a stall (see ``bench_chaos``)."""
    runs = [r for db in scenario.dbs for r in scenario.runs(db)]
    fenced = {r.id for r in runs if "took over its lease" in (r.error or "")}

    def end(run: Run) -> datetime:
        if run.ended_at is not None:
            return run.ended_at
        kills = [
            k.at for k in scenario.kills if k.replica == run.replica and k.at >= run.started_at
        ]
        return min(kills) if kills else datetime.now(UTC)

    count = 0
    for a, b in itertools.combinations(sorted(runs, key=lambda r: r.started_at), 2):
        if a.id in fenced and a.replica is not None:
            continue
        if b.started_at < end(a):
            count += 1
            if count > 5:
                continue
            scenario.notes.append(
                f"overlap: run {a.id} ({a.replica or 'cli'}, {a.status}) "
                f"{a.started_at:%H:%M:%S.%f}–{end(a):%H:%M:%S.%f} and run {b.id} "
                f"({b.replica or 'cli'}) from {b.started_at:%H:%M:%S.%f}"
            )
    if count > 5:
        scenario.notes.append(f"… {count - 5} more overlaps")
    return count, len(fenced)
