"""Writing to a Salesforce org: scores (REST collections and Bulk ingest), tasks, fields.

Partial failures come from the sandbox's fault plan (per-record ``UNABLE_TO_LOCK_ROW``)
and from records Salesforce itself refuses; lost answers from dropped connections.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sf_support import Orgs, lead_ids, own_writes, write

from leadsync.connectors.base import TaskRequest
from leadsync.connectors.salesforce.records import parse_model
from leadsync.errors import CrmAuthError, CrmError


@pytest.fixture
def orgs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Orgs]:
    opened = Orgs(monkeypatch)
    yield opened
    opened.close()


def _record(org: object, rid: str) -> dict[str, object]:
    found = org.box.store.get(rid)  # type: ignore[attr-defined]
    assert found is not None
    return found[1]


def test_scores_are_written_200_a_call_and_read_back(orgs: Orgs) -> None:
    org = orgs(leads=450, seed=11)
    ids = lead_ids(org.box)[:450]
    result = org.sf.write_scores([write(i, score=70 + n % 5) for n, i in enumerate(ids)])
    assert set(result.done) == set(ids) and result.failed == {}
    assert org.by_endpoint() == {"PATCH composite/sobjects": 3, "GET query": 1}
    rec = _record(org, ids[1])
    assert rec["Lead_Score__c"] == 71 and rec["Lead_Score_Tier__c"] == "warm"
    assert parse_model(str(rec["Lead_Score_Reasons__c"])) == "b2b-saas@1.0"
    back = {c.lead.id: c for p in org.sf.all_leads(None) for c in p.leads}
    written = back[ids[1]].written
    assert (written.score, written.tier, written.model) == (Decimal(71), "warm", "b2b-saas@1.0")


def test_partial_failures_are_retried_or_recorded_never_dropped(orgs: Orgs) -> None:
    org = orgs(leads=300, seed=12)
    ids = lead_ids(org.box)[:250]
    org.box.faults.update(partial_failure_rate=0.3, seed=4)
    gone = ids[0]
    org.box.store.delete("Lead", gone)
    writes = [write(i) for i in ids] + [write("00Q5g00000zzzzzAAA")]
    result = org.sf.write_scores(writes)
    org.box.faults.clear()
    assert set(result.done) | set(result.failed) == {w.lead_id for w in writes}
    assert {gone, "00Q5g00000zzzzzAAA"} <= set(result.failed)
    still_locked = set(result.failed) - {gone, "00Q5g00000zzzzzAAA"}
    assert all(result.failed[i].startswith("UNABLE_TO_LOCK_ROW") for i in still_locked)
    assert len(still_locked) <= 2  # locked in all 5 rounds: recorded for the next run
    assert result.failed[gone].startswith("ENTITY_IS_DELETED")
    for rid in result.done:
        assert _record(org, rid)["Lead_Score__c"] == 42
    assert org.calls("PATCH composite/sobjects") > 2  # the locked ones went again


def test_bulk_ingest_writes_large_batches_and_its_window_marks_own_writes(orgs: Orgs) -> None:
    org = orgs(leads=2300, seed=13)
    cursor = org.sf.cursor_at(datetime.now(UTC) - timedelta(seconds=1))
    ids = lead_ids(org.box)[:2100]
    org.box.faults.update(partial_failure_rate=0.01, seed=2)
    result = org.sf.write_scores([write(i, score=90, tier="mql") for i in ids])
    org.box.faults.clear()
    assert set(result.done) == set(ids) and result.failed == {}
    calls = org.by_endpoint()
    assert calls["POST jobs/ingest"] == 1 and calls["PUT jobs/ingest/{id}/batches"] == 1
    assert calls.get("PATCH composite/sobjects", 0) >= 1  # the locked rows, through REST
    assert all(_record(org, i)["Lead_Score__c"] == 90 for i in ids)
    ours = own_writes(org.sf, result.done)
    edited = org.box.touch("Lead", 1)
    pages = list(org.sf.changed_leads(cursor, ours))
    assert {c.lead.id for p in pages for c in p.leads} == set(edited)
    assert sum(p.skipped for p in pages) == len(ids)


def _task(key_n: int, lead_id: str, owner: str | None = None) -> TaskRequest:
    return TaskRequest(f"leadsync:acme:{lead_id}:{key_n}", lead_id, "Lead", owner,
                       f"MQL: lead {lead_id} scored 80", "+50 demo request",
                       datetime(2026, 12, 1, tzinfo=UTC))  # fmt: skip


def test_tasks_are_created_once_and_found_back(orgs: Orgs) -> None:
    org = orgs(leads=50, seed=14)
    ids = lead_ids(org.box)[:5]
    owner = next(r["Id"] for r in org.box.store.rows("User") if r["IsActive"])
    tasks = [_task(1, i, owner) for i in ids]
    before = org.sf.get_lead(ids[0])
    assert before is not None
    assert org.sf.find_tasks([t.key for t in tasks]) == {}
    result = org.sf.create_tasks(tasks)
    assert set(result.done) == {t.key for t in tasks} and result.failed == {}
    task = _record(org, result.done[tasks[0].key])
    assert (task["WhoId"], task["OwnerId"], task["Priority"], task["Status"]) == (
        ids[0], owner, "High", "Not Started")  # fmt: skip
    assert str(task["Description"]).endswith(f"[{tasks[0].key}]")
    assert str(task["ActivityDate"]) == "2026-12-01"
    assert org.sf.find_tasks([t.key for t in tasks] + ["leadsync:acme:00Q5g000000zzzzAAA:1"]) == (
        result.done)  # fmt: skip
    assert org.by_endpoint()["POST composite/sobjects"] == 1
    # an MQL task is open: it never becomes an engagement event of its lead
    crm = org.sf.get_lead(ids[0])
    assert crm is not None and crm.lead.events == before.lead.events


def test_lost_answers_on_task_creation_never_duplicate(orgs: Orgs) -> None:
    org = orgs(leads=50, seed=15)
    tasks = [_task(1, i) for i in lead_ids(org.box)[:20]]
    org.box.faults.update(drop_rate=0.4, seed=3)
    result = org.sf.create_tasks(tasks)
    org.box.faults.clear()
    assert set(result.done) == {t.key for t in tasks}
    assert org.box.counters.snapshot()["POST composite/sobjects"].get(0, 0) >= 1  # dropped
    markers = [str(r["Description"]) for r in org.box.store.rows("Task")
               if "[leadsync:" in str(r.get("Description"))]  # fmt: skip
    assert len(markers) == 20


def test_answers_lost_after_the_tasks_were_made_never_duplicate(orgs: Orgs) -> None:
    org = orgs(leads=50, seed=16)
    tasks = [_task(1, i) for i in lead_ids(org.box)[:30]]
    org.box.faults.update(lost_answer_rate=0.5, seed=3)  # done, then the connection drops
    result = org.sf.create_tasks(tasks)
    org.box.faults.clear()
    assert set(result.done) == {t.key for t in tasks}
    assert org.box.counters.snapshot()["POST composite/sobjects"].get(0, 0) >= 1
    made = [r["Id"] for r in org.box.store.rows("Task") if "[leadsync:" in str(r["Description"])]
    assert sorted(made) == sorted(result.done.values())


def test_missing_score_fields_say_what_the_admin_must_do(orgs: Orgs) -> None:
    org = orgs(leads=5, sandbox={"score_fields": False})
    with pytest.raises(CrmError) as err:
        org.sf.ensure_score_fields(["cold", "warm", "mql"])
    message = str(err.value)
    for needle in ("Lead_Score__c", "Lead_Score_Tier__c", "Lead_Score_Reasons__c",
                   "Number", "Long Text Area", "permission set", "Leadsync_Integration"):  # fmt: skip
        assert needle in message
    ok = orgs(leads=5)
    assert ok.sf.ensure_score_fields(["cold", "warm", "mql"]) == []


def test_read_only_score_field_is_a_permission_error(orgs: Orgs) -> None:
    org = orgs(leads=5)
    spec = org.box.store.schema.get("Lead")
    assert spec is not None
    field = spec.field("Lead_Score__c")
    assert field is not None
    object.__setattr__(field, "updateable", False)
    try:
        with pytest.raises(CrmAuthError, match="Edit access"):
            org.sf.ensure_score_fields(["cold"])
    finally:
        object.__setattr__(field, "updateable", True)


class _LeaseLost(Exception):
    pass


def test_the_fence_is_asked_before_every_task_batch(orgs: Orgs) -> None:
    """A replica that lost its lease between two collections sends no further one."""
    org = orgs(leads=300, seed=15)
    asked = 0

    def fence() -> None:
        nonlocal asked
        asked += 1
        if asked > 1:
            raise _LeaseLost

    with pytest.raises(_LeaseLost):
        org.sf.create_tasks([_task(1, i) for i in lead_ids(org.box)[:250]], fence)
    made = [r for r in org.box.store.rows("Task") if "[leadsync:" in str(r.get("Description"))]
    assert len(made) == 200  # one collection of 200, then the fence stopped it


def test_task_states_say_done_open_or_deleted(orgs: Orgs) -> None:
    org = orgs(leads=20, seed=16)
    ids = lead_ids(org.box)[:3]
    made = org.sf.create_tasks([_task(1, i) for i in ids]).done
    done, deleted, still = (made[f"leadsync:acme:{i}:1"] for i in ids)
    client = org.box.client(org.box.sessions.new_access_token())
    client.Task.update(done, {"Status": "Completed"})
    client.Task.delete(deleted)
    states = org.sf.task_states([done, deleted, still])
    assert {k: v.status for k, v in states.items()} == {
        done: "done", deleted: "deleted", still: "open"
    }  # fmt: skip
    assert states[still].due_at is not None
