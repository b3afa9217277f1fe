"""The sync pipeline end to end on the Salesforce sandbox, through the real connector.

Backfill writes the engine's score to every lead; a second run writes nothing; changed
leads are rewritten alone; each MQL crossing gets exactly one Task, owned by the lead's
owner; the Bulk path ends in the same state as the REST path.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sf_support import Org, Orgs, lead_ids, read_all

from leadsync.scoring.model import ScoringModel
from leadsync.sync.pipeline import Sync
from leadsync.sync.state import StateStore


@pytest.fixture
def orgs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Orgs]:
    opened = Orgs(monkeypatch)
    yield opened
    opened.close()


def _sync(org: Org, b2b: ScoringModel, tmp_path: Path) -> Sync:
    store = StateStore(f"sqlite:///{tmp_path / f'{org.account.id}.db'}")
    return Sync(org.account, org.sf, store, b2b)


def _scores(org: Org) -> dict[str, Decimal | None]:
    return {
        r["Id"]: None if r.get("Lead_Score__c") is None else Decimal(str(r["Lead_Score__c"]))
        for r in org.box.store.rows("Lead")
        if not r.get("IsConverted")
    }


def _leadsync_tasks(org: Org) -> list[dict[str, object]]:
    return [r for r in org.box.store.rows("Task") if "[leadsync:" in str(r.get("Description"))]


@pytest.mark.parametrize("threshold", [10_000, 50])
def test_backfill_then_incremental_runs(
    orgs: Orgs, b2b: ScoringModel, tmp_path: Path, threshold: int
) -> None:
    org = orgs(leads=250, seed=31, salesforce={"bulk_threshold": threshold})
    sync = _sync(org, b2b, tmp_path)
    report = sync.run("backfill")
    assert report.status == "ok"
    scores = _scores(org)
    assert None not in scores.values() and report.counts["writes"] == len(scores)
    pages = read_all(org.sf.all_leads(None))
    for crm in (c for p in pages for c in p.leads):
        assert (
            crm.written.score == sync.store.scores(org.account.id, [crm.lead.id])[crm.lead.id].score
        )
    tasks = _leadsync_tasks(org)
    assert len(tasks) == report.counts["tasks"] == report.counts["mql"] > 0
    owners = {c.lead.id: c for p in pages for c in p.leads}
    for task in tasks:
        crm = owners[str(task["WhoId"])]
        if crm.owner_active:
            assert task["OwnerId"] == crm.owner_id

    before = org.calls()
    second = sync.run("incremental")
    assert second.counts["writes"] == 0 and second.counts["tasks"] == 0
    # the backfill's write-backs are listed once and their inputs checked, none re-read:
    # one query page, and one query per activity object (Task, Event, CampaignMember)
    assert second.counts["skipped_own_writes"] == len(scores) and second.counts["leads"] == 0
    assert org.calls() - before == 1 + 3

    before = org.calls()
    quiet = sync.run("incremental")
    assert quiet.counts["writes"] == 0 and quiet.counts["leads"] == 0
    assert org.calls() - before == 1 + 3

    plain = [
        r["Id"]
        for r in org.box.store.rows("Lead")
        if not any(w in str(r.get("Title") or "").lower() for w in ("chief", "ceo", "vp", "dir"))
    ][:3]
    client = org.box.client()
    for rid in plain:
        client.Lead.update(rid, {"Title": "Chief Executive Officer"})
    third = sync.run("incremental")
    assert third.counts["leads"] == 3 and third.counts["writes"] == 3
    new = _scores(org)
    assert {rid for rid in new if new[rid] != scores[rid]} == set(plain)
    assert len(_leadsync_tasks(org)) == len(tasks) + third.counts["tasks"]


def test_dry_run_writes_nothing(orgs: Orgs, b2b: ScoringModel, tmp_path: Path) -> None:
    org = orgs(leads=40, seed=32)
    report = _sync(org, b2b, tmp_path).run("backfill", dry_run=True)
    assert report.counts["writes"] == len(lead_ids(org.box))
    assert set(_scores(org).values()) == {None}
    assert org.calls("PATCH") == org.calls("POST") == 0
