"""Score write-back and MQL tasks on Salesforce, in as few calls as the batch limits allow.

Scores: ``PATCH /composite/sobjects`` (200 records a call, ``allOrNone: false``). Records
refused with ``UNABLE_TO_LOCK_ROW`` are sent again (a few rounds, with backoff); any other
per-record error lands in ``BatchResult.failed`` with its code — nothing is dropped.
A batch larger than one REST page (2,000 writes: a Bulk backfill page) goes through one
Bulk API 2.0 update job instead: ~6 calls whatever its size, against 11 for 2,000 REST
writes.

Own-write stamps: collections answer no ``SystemModstamp``. After the REST writes, one
``SELECT Id, SystemModstamp, LastModifiedById … WHERE Id IN (…)`` per 2,000 written
records (one call) reads them; a record whose last modifier is not the API user was
changed by someone else meanwhile and gets ``""`` (so its change is not skipped later).
Bulk writes report their job's window instead (see ``salesforce_bulk``): zero calls.

Tasks: delegated to :class:`~leadsync.connectors.salesforce.tasks.TaskWriter` (REST
collections, or one Bulk insert job above ``BULK_TASKS_MIN``; exactly once), which sends
its REST batches through this writer's :meth:`ScoreWriter._collections`.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from leadsync.connectors.base import BatchResult, ScoreWrite, TaskRequest
from leadsync.connectors.salesforce.api import SalesforceApi
from leadsync.connectors.salesforce.bulk import BulkJobs, window_stamp
from leadsync.connectors.salesforce.records import (
    ScoreFields,
    reasons_with_model,
    score_values,
)
from leadsync.connectors.salesforce.soql import chunk_ids, normal_stamp, soql
from leadsync.connectors.salesforce.tasks import BULK_TASKS_MIN, COLLECTION_MAX, TaskWriter, marker

__all__ = ["BULK_TASKS_MIN", "BULK_WRITE_MIN", "COLLECTION_MAX", "ScoreWriter", "marker"]

#: Writes above this many in one call go through a Bulk API 2.0 update job.
BULK_WRITE_MIN = 2_000
LOCK_ROUNDS = 5
_LOCKED = "UNABLE_TO_LOCK_ROW"


class ScoreWriter:
    """Writes scores and tasks for one org."""

    def __init__(
        self,
        api: SalesforceApi,
        bulk: BulkJobs,
        fields: ScoreFields,
        *,
        sleep: Callable[[float], None],
    ) -> None:
        self.api = api
        self.bulk = bulk
        self.fields = fields
        self.sleep = sleep
        self.tasks = TaskWriter(api, bulk, self._collections)

    # -- scores ----------------------------------------------------------------------------
    def write_scores(self, writes: Sequence[ScoreWrite]) -> BatchResult:
        result = BatchResult()
        by_object: dict[str, list[ScoreWrite]] = defaultdict(list)
        for write in writes:
            by_object[write.object_type].append(write)
        for sobject, group in by_object.items():
            if len(group) > BULK_WRITE_MIN:
                self._bulk_scores(sobject, group, result)
            else:
                self._rest_scores(sobject, group, result)
        return result

    def _rest_scores(self, sobject: str, writes: Sequence[ScoreWrite], out: BatchResult) -> None:
        records = {
            w.lead_id: {"attributes": {"type": sobject}, "Id": w.lead_id,
                        **score_values(w, self.fields)}
            for w in writes
        }  # fmt: skip
        done = self._collections("PATCH", records, out.failed, safe=True)
        for rid, stamp in self._stamps(sobject, list(done)).items():
            out.done[rid] = stamp

    def _bulk_scores(self, sobject: str, writes: Sequence[ScoreWrite], out: BatchResult) -> None:
        f = self.fields
        owners = any(w.owner_id for w in writes)
        header = ["Id", f.score, f.tier, f.reasons] + (["OwnerId"] if owners else [])
        rows = [
            [w.lead_id, str(w.score), w.tier, reasons_with_model(w.reasons, w.model)]
            + ([w.owner_id or ""] if owners else [])
            for w in writes
        ]
        info, failed = self.bulk.update(sobject, header, rows)
        if self.api.user_id is None and info.get("createdById"):
            self.api.learned_user = str(info["createdById"])
        stamp = window_stamp(info)
        locked = [w for w in writes if failed.get(w.lead_id, "").startswith(_LOCKED)]
        for w in writes:
            if w.lead_id not in failed:
                out.done[w.lead_id] = stamp
            elif not failed[w.lead_id].startswith(_LOCKED):
                out.failed[w.lead_id] = failed[w.lead_id]
        if locked:
            self._rest_scores(sobject, locked, out)

    def _collections(
        self,
        method: str,
        records: dict[str, dict[str, Any]],
        failed: dict[str, str],
        *,
        safe: bool,
    ) -> dict[str, str]:
        """Send ``records`` (key → body) in 200s; key → new id for successes.

        ``UNABLE_TO_LOCK_ROW`` refusals are sent again, up to ``LOCK_ROUNDS`` rounds.
        """
        pending = dict(records)
        done: dict[str, str] = {}
        for round_ in range(LOCK_ROUNDS):
            if round_:
                self.sleep(min(0.5 * 2 ** (round_ - 1), 8.0))
            locked: dict[str, dict[str, Any]] = {}
            keys = list(pending)
            for start in range(0, len(keys), COLLECTION_MAX):
                batch = keys[start : start + COLLECTION_MAX]
                answers = self.api.collection(method, [pending[k] for k in batch], safe=safe)
                for key, answer in zip(batch, answers, strict=False):
                    if answer.get("success"):
                        done[key] = str(answer.get("id") or key)
                        failed.pop(key, None)
                        continue
                    errors = answer.get("errors") or [{}]
                    code = str(errors[0].get("statusCode") or errors[0].get("errorCode") or "")
                    failed[key] = f"{code}: {errors[0].get('message', '')}".strip(": ")
                    if code == _LOCKED:
                        locked[key] = pending[key]
            if not locked:
                break
            pending = locked
        return done

    def _stamps(self, sobject: str, ids: Sequence[str]) -> dict[str, str]:
        """SystemModstamp of each written record, ``""`` if someone else touched it since.

        With a session id login the API user is unknown: it is learnt here as the last
        modifier of most of the records just written (a concurrent edit is a rare few).
        """
        stamps = {rid: "" for rid in ids}
        for chunk in chunk_ids(ids):
            text = soql(
                f"SELECT Id, SystemModstamp, LastModifiedById FROM {sobject} WHERE Id IN {{ids}}",
                ids=chunk,
            )
            rows = list(self.api.query_rows(text))
            if self.api.user_id is None and rows:
                by = Counter(str(r.get("LastModifiedById")) for r in rows)
                self.api.learned_user = by.most_common(1)[0][0]
            me = self.api.user_id
            for row in rows:
                if row.get("LastModifiedById") == me:
                    stamps[str(row["Id"])] = normal_stamp(row.get("SystemModstamp")) or ""
        return stamps

    # -- tasks -----------------------------------------------------------------------------
    def create_tasks(
        self, tasks: Sequence[TaskRequest], fence: Callable[[], None] | None = None
    ) -> BatchResult:
        return self.tasks.create_tasks(tasks, fence)

    def find_tasks(self, keys: Sequence[str]) -> dict[str, str]:
        return self.tasks.find_tasks(keys)
