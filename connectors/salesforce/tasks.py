"""MQL follow-up Tasks on Salesforce: each created exactly once, in few calls.

Every Task carries its crossing key as the last line of its Description,
``[leadsync:…]`` (:func:`marker`): that is how :meth:`TaskWriter.find_tasks` finds it
again, and how a Bulk job's results are mapped back to keys (Bulk API 2.0 reports
results in no particular order, each row with the columns that were uploaded).

How many at a time:

- up to ``BULK_TASKS_MIN`` (2,000) tasks: ``POST /composite/sobjects``, 200 a call;
- above: one Bulk API 2.0 *insert* job on Task. Why 2,000: REST costs one call per
  200 (10 at 2,000, 58 at 11,500); a job costs create + upload + close + polls +
  ``successfulResults`` — 5 calls at the very least, 6 to 8 on a real org, where a job
  of a few thousand rows stays queued or in progress for seconds. Below ~2,000 the
  job saves at most a call or two, for a minute of latency and one of the org's daily
  Bulk batches; above it the saving grows with every 200 tasks.

Exactly once. A create is not safe to repeat, so no lost answer is retried blindly:

- REST: the batch's keys are looked up (:meth:`TaskWriter.find_tasks`) and only the
  missing tasks are created again.
- Bulk: a failed upload leaves the job open, which Salesforce never processes: it is
  aborted and the rows go in a new job. A lost close or poll answer is followed by
  :meth:`BulkJobs.settle` (get the job; abort it if still open; wait if it runs). A
  finished job's ``successfulResults`` name the tasks it made (what ``find_tasks`` would
  find, for one call instead of one per 2,000 leads); rows a job left unreported
  (aborted or failed part-way) have their keys looked up with ``find_tasks`` and only
  the missing ones are created again. When the job's fate cannot be learnt (its status
  unreadable) the error is raised: the crossings stay pending, and the next run looks
  them up before creating anything.
- Rows a job refuses: ``UNABLE_TO_LOCK_ROW`` goes again through REST (with its lock
  rounds); any other error lands in ``BatchResult.failed`` with its code, never dropped.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from leadsync.connectors.base import BatchResult, TaskRequest
from leadsync.connectors.salesforce.api import SalesforceApi
from leadsync.connectors.salesforce.bulk import BulkJobs, IngestNotStarted, IngestOutcome
from leadsync.connectors.salesforce.soql import chunk_ids, soql
from leadsync.errors import CrmAuthError, CrmError, CrmRateLimited

__all__ = ["BULK_TASKS_MIN", "TaskWriter", "marker"]

log = logging.getLogger(__name__)

#: Collections carry 200 records a call.
COLLECTION_MAX = 200
#: More tasks than this in one batch go through a Bulk API 2.0 insert job.
BULK_TASKS_MIN = 2_000
#: Bulk jobs tried for one batch before giving up (each after a job that made nothing).
BULK_ATTEMPTS = 3
_LOCKED = "UNABLE_TO_LOCK_ROW"
_RECORD_ID = re.compile(r"\b(?:00Q|003)[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?\b")

#: ``send(method, records by key, failed, safe=…)`` → key → new id (``ScoreWriter._collections``).
Send = Callable[..., dict[str, str]]


def marker(key: str) -> str:
    """The line that ties a Task to its crossing key."""
    return f"[{key}]"


class TaskWriter:
    """Creates and finds MQL tasks for one org."""

    def __init__(
        self, api: SalesforceApi, bulk: BulkJobs, send: Send, *, bulk_min: int = BULK_TASKS_MIN
    ) -> None:
        self.api = api
        self.bulk = bulk
        self.send = send
        self.bulk_min = bulk_min
        """Batches larger than this go through a Bulk insert job (tests lower it)."""

    def create_tasks(
        self, tasks: Sequence[TaskRequest], fence: Callable[[], None] | None = None
    ) -> BatchResult:
        """Create tasks; ``fence`` runs before each request that may create some (a REST
        collection, a Bulk insert job) and raises to stop."""
        result = BatchResult()
        check = fence or (lambda: None)
        if len(tasks) > self.bulk_min:
            self._bulk(tasks, result, check)
        else:
            self._rest(tasks, result, check)
        return result

    # -- REST ------------------------------------------------------------------------------
    def _rest(
        self, tasks: Sequence[TaskRequest], out: BatchResult, fence: Callable[[], None]
    ) -> None:
        for start in range(0, len(tasks), COLLECTION_MAX):
            self._rest_batch(tasks[start : start + COLLECTION_MAX], out, fence)

    def _rest_batch(
        self, tasks: Sequence[TaskRequest], out: BatchResult, fence: Callable[[], None]
    ) -> None:
        pending = {t.key: t for t in tasks}
        for attempt in range(3):
            records = {key: _task_record(t) for key, t in pending.items()}
            fence()
            try:
                created = self.send("POST", records, out.failed, safe=False)
            except (CrmAuthError, CrmRateLimited):
                raise
            except CrmError:
                # The answer was lost or refused: some tasks may exist. Look, don't guess.
                if attempt == 2:
                    raise
                found = self.find_tasks(list(pending))
                out.done.update(found)
                pending = {k: t for k, t in pending.items() if k not in found}
                if not pending:
                    return
                continue
            out.done.update(created)
            return

    # -- Bulk ------------------------------------------------------------------------------
    def _bulk(
        self, tasks: Sequence[TaskRequest], out: BatchResult, fence: Callable[[], None]
    ) -> None:
        pending = {t.key: t for t in tasks}
        for attempt in range(BULK_ATTEMPTS):
            if len(pending) <= self.bulk_min:
                self._rest(list(pending.values()), out, fence)
                return
            header, rows = _task_table(pending.values())
            fence()
            try:
                outcome = self.bulk.insert("Task", header, rows)
            except IngestNotStarted:
                if attempt == BULK_ATTEMPTS - 1:
                    raise
                log.warning("Salesforce Task insert job made nothing; sending its rows again")
                continue
            locked = self._read(outcome, pending, out)
            unknown = [k for k in pending if k not in out.done and k not in out.failed]
            unknown = [k for k in unknown if k not in locked]
            if unknown:  # rows the job did not report on: look, don't guess
                if outcome.info.get("state") == "Failed" and not outcome.created:
                    raise CrmError(
                        f"Salesforce Bulk API Task insert job {outcome.info.get('id')} failed: "
                        f"{outcome.info.get('errorMessage') or 'no reason given'}"
                    )
                found = self.find_tasks(unknown)
                out.done.update(found)
                unknown = [k for k in unknown if k not in found]
            if locked:
                self._rest([pending[k] for k in locked], out, fence)
            pending = {k: pending[k] for k in unknown}
            if not pending:
                return
        raise CrmError(
            f"Salesforce: {len(pending)} MQL tasks still not created after "
            f"{BULK_ATTEMPTS} Bulk API jobs"
        )

    def _read(
        self, outcome: IngestOutcome, pending: dict[str, TaskRequest], out: BatchResult
    ) -> list[str]:
        """Created and failed rows into ``out`` by their marker; the keys refused as locked."""
        if outcome.recovered:
            log.warning("Salesforce Task insert job %s: an answer was lost; job settled as %s",
                        outcome.info.get("id"), outcome.info.get("state"))  # fmt: skip
        for row in outcome.created:
            key = _key_of(row.get("Description", ""))
            if key in pending and row.get("sf__Id") and key not in out.done:
                out.done[key] = row["sf__Id"]
        locked: list[str] = []
        for row in outcome.failed:
            key = _key_of(row.get("Description", ""))
            if key not in pending or key in out.done:
                continue
            error = _bulk_error(row.get("sf__Error", ""))
            if error.startswith(_LOCKED):
                locked.append(key)
            else:
                out.failed[key] = error
        return locked

    # -- look-up ---------------------------------------------------------------------------
    def find_tasks(self, keys: Sequence[str]) -> dict[str, str]:
        """Tasks already created for ``keys``: one query per 2,000 leads (deleted included).

        The lead id is read from the key (``leadsync:<account>:<lead id>:<n>``) to filter on
        ``WhoId``; the marker is matched here, not in SOQL, because Task ``Description`` is a
        Long Text Area, which Salesforce does not allow in a WHERE clause.
        """
        by_lead: dict[str, list[str]] = defaultdict(list)
        for key in keys:
            found = _RECORD_ID.search(key)
            if found:
                by_lead[found.group(0)].append(key)
        out: dict[str, str] = {}
        for chunk in chunk_ids(list(by_lead)):
            text = soql("SELECT Id, WhoId, Description FROM Task WHERE WhoId IN {ids}", ids=chunk)
            for row in self.api.query_rows(text, include_deleted=True):
                description = str(row.get("Description") or "")
                for key in by_lead.get(str(row.get("WhoId")), []):
                    if marker(key) in description and key not in out:
                        out[key] = str(row["Id"])
        return out


def _description(task: TaskRequest) -> str:
    body = f"{task.body}\n\n{marker(task.key)}" if task.body else marker(task.key)
    return body[-32000:]


def _task_record(task: TaskRequest) -> dict[str, Any]:
    record: dict[str, Any] = {
        "attributes": {"type": "Task"},
        "WhoId": task.lead_id,
        "Subject": task.subject[:255],
        "Description": _description(task),
        "ActivityDate": task.due_at.date().isoformat(),
        "Priority": "High",
        "Status": "Not Started",
    }
    if task.owner_id:
        record["OwnerId"] = task.owner_id
    return record


def _task_table(tasks: Iterable[TaskRequest]) -> tuple[list[str], list[list[str]]]:
    """The insert job's CSV: the REST record's fields as columns (an empty cell sets none)."""
    tasks = list(tasks)
    owners = any(t.owner_id for t in tasks)
    header = ["WhoId", "Subject", "Description", "ActivityDate", "Priority", "Status"]
    rows = [
        [t.lead_id, t.subject[:255], _description(t), t.due_at.date().isoformat(), "High",
         "Not Started"] + ([t.owner_id or ""] if owners else [])
        for t in tasks
    ]  # fmt: skip
    return header + (["OwnerId"] if owners else []), rows


def _key_of(description: str) -> str | None:
    """The crossing key in a Description's last line, ``[key]``; None without one."""
    lines = description.rstrip().splitlines()
    last = lines[-1].strip() if lines else ""
    return last[1:-1] if last.startswith("[") and last.endswith("]") else None


def _bulk_error(text: str) -> str:
    """A Bulk ``sf__Error`` (``CODE:message:fields --``) as REST's ``CODE: message``."""
    body = text.strip().removesuffix("--").strip()
    code, _, rest = body.partition(":")
    message = rest.rpartition(":")[0] if rest.count(":") else rest
    return f"{code}: {message}".strip(": ") if code else text
