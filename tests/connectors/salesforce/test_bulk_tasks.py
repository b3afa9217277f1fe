"""MQL tasks through one Bulk API 2.0 insert job: exactly one Task per crossing key.

The threshold is lowered through the writer's ``bulk_min`` so a few dozen tasks take the
Bulk path. Lost answers come from the sandbox's ``lose_answer`` fault: targeted at one
step here (the work done, or not, and the connection closed either way), or at a random
fraction of all requests (``lost_answer_rate``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sf_support import Org, Orgs, lead_ids

from leadsync.connectors.base import TaskRequest
from leadsync.connectors.sandbox.salesforce.http import Call, Reply
from leadsync.errors import CrmError

BULK_MIN = 10


@pytest.fixture
def orgs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Orgs]:
    opened = Orgs(monkeypatch)
    yield opened
    opened.close()


def _org(orgs: Orgs, leads: int = 60, seed: int = 21) -> Org:
    org = orgs(leads=leads, seed=seed)
    org.sf.writer.tasks.bulk_min = BULK_MIN
    return org


def _tasks(org: Org, count: int, owner: str | None = None) -> list[TaskRequest]:
    return [
        TaskRequest(f"leadsync:acme:{lead}:1", lead, "Lead", owner, f"MQL: {lead} scored 80",
                    "+50 demo request\n+20 pricing page", datetime(2026, 12, 1, tzinfo=UTC))
        for lead in lead_ids(org.box)[:count]
    ]  # fmt: skip


def _tasks_by_key(org: Org) -> Counter[str]:
    """How many Tasks in the org carry each crossing key (straight from the store)."""
    found: Counter[str] = Counter()
    for row in org.box.store.rows("Task"):
        last = str(row.get("Description") or "").splitlines()[-1:]
        if last and last[0].startswith("[leadsync:"):
            found[last[0][1:-1]] += 1
    return found


def _is_close(call: Call) -> bool:
    return call.method == "PATCH" and call.parts[:2] == ["jobs", "ingest"] and (
        (call.json() or {}).get("state") == "UploadComplete")  # fmt: skip


def _is_upload(call: Call) -> bool:
    return call.method == "PUT" and call.parts[-1:] == ["batches"]


def _is_results(call: Call) -> bool:
    return call.parts[-1:] == ["successfulResults"]


def _lose(
    org: Org, monkeypatch: pytest.MonkeyPatch, match: Callable[[Call], bool], *, served: bool
) -> list[int]:
    """Lose the answer to the first request ``match`` picks: after doing its work
    (``served``) or without doing it (the request itself was lost). Returns a hit count."""
    box, hits, lose = org.box, [0], []
    original = box.dispatch_api

    def dispatch(call: Call, version: str) -> Reply:
        if not hits[0] and match(call):
            hits[0] += 1
            lose.append(True)
            return original(call, version) if served else Reply(204)
        return original(call, version)

    monkeypatch.setattr(box, "dispatch_api", dispatch)
    monkeypatch.setattr(box.faults, "lose_answer", lambda **_: bool(lose) and lose.pop())
    return hits


def test_a_large_batch_is_one_insert_job_with_one_task_per_key(orgs: Orgs) -> None:
    org = _org(orgs)
    owner = next(r["Id"] for r in org.box.store.rows("User") if r["IsActive"])
    tasks = _tasks(org, 30, owner)
    result = org.sf.create_tasks(tasks)
    assert set(result.done) == {t.key for t in tasks} and result.failed == {}
    assert _tasks_by_key(org) == {t.key: 1 for t in tasks}
    assert org.by_endpoint() == {"POST jobs/ingest": 1, "PUT jobs/ingest/{id}/batches": 1,
                                 "PATCH jobs/ingest/{id}": 1, "GET jobs/ingest/{id}": 2,
                                 "GET jobs/ingest/{id}/successfulResults": 1}  # fmt: skip
    task = org.box.store.get(result.done[tasks[3].key])
    assert task is not None and task[0] == "Task"
    row = task[1]
    assert (row["WhoId"], row["OwnerId"], row["Priority"], row["Status"]) == (
        tasks[3].lead_id, owner, "High", "Not Started")  # fmt: skip
    assert str(row["Description"]) == f"+50 demo request\n+20 pricing page\n\n[{tasks[3].key}]"
    assert str(row["ActivityDate"]) == "2026-12-01"
    assert org.sf.find_tasks([t.key for t in tasks]) == result.done
    # at or under the threshold: REST collections, as before
    small = _tasks(org, 45)[30 : 30 + BULK_MIN]
    org.box.counters.reset()
    assert set(org.sf.create_tasks(small).done) == {t.key for t in small}
    assert org.by_endpoint() == {"POST composite/sobjects": 1}


def test_failed_rows_are_reported_and_locked_rows_go_again(orgs: Orgs) -> None:
    org = _org(orgs, leads=80, seed=22)
    tasks = _tasks(org, 40)
    tasks[0] = replace(tasks[0], owner_id="005000000000zzzAAA")  # no such user
    ghost = TaskRequest("leadsync:acme:00Q5g00000zzzzzAAA:1", "00Q5g00000zzzzzAAA", "Lead", None,
                        "MQL", "", datetime(2026, 12, 1, tzinfo=UTC))  # fmt: skip
    org.box.faults.update(partial_failure_rate=0.2, seed=5)
    result = org.sf.create_tasks([*tasks, ghost])
    org.box.faults.clear()
    assert set(result.done) | set(result.failed) == {t.key for t in [*tasks, ghost]}
    assert set(result.failed) == {tasks[0].key, ghost.key}
    assert all(e.startswith("INVALID_CROSS_REFERENCE_KEY: ") for e in result.failed.values())
    calls = org.by_endpoint()
    assert calls["GET jobs/ingest/{id}/failedResults"] == 1
    assert calls["POST composite/sobjects"] >= 1  # the locked rows, through REST
    assert _tasks_by_key(org) == {t.key: 1 for t in tasks[1:]}


@pytest.mark.parametrize(
    ("match", "served", "jobs"),
    [
        (_is_close, True, 1),  # the job ran: its results say what it made
        (_is_close, False, 2),  # the close never arrived: aborted, sent again
        (_is_upload, True, 2),  # uploaded but unclosed: aborted, sent again
        (_is_results, True, 1),  # a read: retried
    ],
    ids=["close-answer", "close-request", "upload-answer", "results-answer"],
)
def test_a_lost_answer_never_duplicates_a_task(
    orgs: Orgs,
    monkeypatch: pytest.MonkeyPatch,
    match: Callable[[Call], bool],
    served: bool,
    jobs: int,
) -> None:
    org = _org(orgs, seed=23)
    tasks = _tasks(org, 25)
    hits = _lose(org, monkeypatch, match, served=served)
    result = org.sf.create_tasks(tasks)
    assert hits == [1]
    assert set(result.done) == {t.key for t in tasks} and result.failed == {}
    assert _tasks_by_key(org) == {t.key: 1 for t in tasks}
    assert {result.done[k] for k in result.done} == {
        str(r["Id"]) for r in org.box.store.rows("Task") if "[leadsync:" in str(r["Description"])
    }
    assert org.calls("POST jobs/ingest") == jobs
    states = Counter(j.state for j in org.box.bulk.jobs.values() if j.kind == "ingest")
    assert states["JobComplete"] == 1 and states["Aborted"] == jobs - 1
    assert org.calls("POST composite/sobjects") == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_answers_lost_at_random_still_give_one_task_per_key(orgs: Orgs, seed: int) -> None:
    """Any step may lose its answer; a run that gives up leaves its keys to the next,
    which looks them up before creating (as the sync does with pending crossings)."""
    org = _org(orgs, seed=24)
    tasks = _tasks(org, 40)
    org.box.faults.update(lost_answer_rate=0.25, seed=seed)
    done: dict[str, str] = {}
    for _ in range(6):
        missing = [t for t in tasks if t.key not in done]
        if not missing:
            break
        try:
            done.update(org.sf.find_tasks([t.key for t in missing]))
            done.update(org.sf.create_tasks([t for t in missing if t.key not in done]).done)
        except CrmError:
            continue
    org.box.faults.clear()
    assert org.box.counters.total() > 0 and any(
        by.get(0) for by in org.box.counters.snapshot().values()
    )  # answers were lost
    assert set(done) == {t.key for t in tasks}
    assert _tasks_by_key(org) == {t.key: 1 for t in tasks}
