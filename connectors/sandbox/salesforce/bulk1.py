"""Bulk API 1.0 query jobs for the Salesforce sandbox: ``/services/async/<version>/job…``.

Third-party extractors still read through Bulk API 1.0 (tap-salesforce's Bulk mode,
simple-salesforce's ``sf.bulk``), so the sandbox serves its query jobs as the Bulk API
Developer Guide describes them ("Step One: Create a Job" … "Get Batch Results", "JobInfo",
"BatchInfo", "Errors"):

- every call carries the session in ``X-SFDC-Session``; a bad one is HTTP 400
  ``InvalidSessionId`` "Invalid session id" (the ``<error>`` document clients match on);
- ``POST job`` with a ``jobInfo`` in XML or JSON (``operation`` query or queryAll, ``object``,
  ``contentType`` CSV, JSON or XML) answers 201 with the job ``Open``, in the request's format;
- ``POST job/<id>/batch`` with the SOQL as the body answers 201 with a ``batchInfo``
  ``Queued``; ``GET job/<id>/batch[/<batch>]`` shows it ``InProgress`` for
  ``polls_in_progress`` polls, then ``Completed`` (``numberRecordsProcessed``), or ``Failed``
  with ``stateMessage`` "InvalidBatch : Failed to process query: CODE: message" when the SOQL
  is wrong or selects a compound address ("FUNCTIONALITY_NOT_ENABLED: Selecting compound data
  not supported in Bulk Query", as quoted in jsforce#380 and haoide#137; geolocations do
  work, tap-salesforce#17);
- ``GET …/batch/<batch>/result`` lists the result ids (``<result-list>`` or a JSON array),
  ``GET …/result/<result>`` is the rows: CSV with every value quoted and "Records not found
  for this query" when there are none, or JSON records (``attributes``; date-times as epoch
  milliseconds, as Bulk 1.0 JSON has them), or an XML ``queryResult``;
- ``POST job/<id>`` with ``state`` Closed or Aborted; ``GET job/<id>`` shows the batch counts.

Batch info and results follow the job's content type (XML for a CSV job); job info follows
the request's ``Content-Type``. Ingest operations are refused: the sandbox emulates them in
Bulk API 2.0 only. A query runs when its batch is added (a snapshot, as in ``bulk.py``).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from leadsync.connectors.sandbox.salesforce.bulk import COMPOUND_MESSAGE, csv_value
from leadsync.connectors.sandbox.salesforce.http import ApiError, Call, Reply
from leadsync.connectors.sandbox.salesforce.query import BoundQuery
from leadsync.connectors.sandbox.salesforce.store import Store, format_datetime

__all__ = ["Bulk1Api"]

NS = "http://www.force.com/2009/06/asyncapi/dataload"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_XML = "application/xml"
_JSON = "application/json"
_QUERIES = ("query", "queryAll")
_NO_ROWS = "Records not found for this query"
_COMPOUND = f"FUNCTIONALITY_NOT_ENABLED: {COMPOUND_MESSAGE}"


class BulkError(Exception):
    """A Bulk 1.0 failure: HTTP ``status`` with ``exceptionCode`` and ``exceptionMessage``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(slots=True)
class _Batch:
    id: str
    job_id: str
    created: datetime
    state: str = "Queued"
    message: str | None = None
    polls_left: int = 0
    modstamp: datetime | None = None
    bound: BoundQuery | None = None
    rows: list[Mapping[str, Any]] = field(default_factory=list)
    result_id: str = ""

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "jobId": self.job_id, "state": self.state}
        if self.message:
            out["stateMessage"] = self.message
        done = self.state == "Completed"
        out |= {
            "createdDate": _stamp(self.created),
            "systemModstamp": _stamp(self.modstamp or self.created),
            "numberRecordsProcessed": len(self.rows) if done else 0,
            "numberRecordsFailed": 0, "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0, "apexProcessingTime": 0,
        }  # fmt: skip
        return out


@dataclass(slots=True)
class _Job:
    id: str
    operation: str
    sobject: str
    content_type: str
    concurrency: str
    created: datetime
    created_by: str
    api_version: float
    state: str = "Open"
    modstamp: datetime | None = None
    batches: dict[str, _Batch] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        states = [b.state for b in self.batches.values()]
        processed = sum(len(b.rows) for b in self.batches.values() if b.state == "Completed")
        return {
            "id": self.id, "operation": self.operation, "object": self.sobject,
            "createdById": self.created_by, "createdDate": _stamp(self.created),
            "systemModstamp": _stamp(self.modstamp or self.created), "state": self.state,
            "concurrencyMode": self.concurrency, "contentType": self.content_type,
            "numberBatchesQueued": states.count("Queued"),
            "numberBatchesInProgress": states.count("InProgress"),
            "numberBatchesCompleted": states.count("Completed"),
            "numberBatchesFailed": states.count("Failed"),
            "numberBatchesTotal": len(states), "numberRecordsProcessed": processed,
            "numberRetries": 0, "apiVersion": self.api_version, "numberRecordsFailed": 0,
            "totalProcessingTime": 0, "apiActiveProcessingTime": 0, "apexProcessingTime": 0,
        }  # fmt: skip


class Bulk1Api:
    """Handles ``/services/async/<version>/…``: sessions, jobs, batches and results."""

    def __init__(
        self,
        store: Store,
        *,
        compile_query: Callable[[str], BoundQuery],
        valid_session: Callable[[str | None], bool],
        spend: Callable[[], bool],
        polls_in_progress: int = 1,
    ) -> None:
        self.store = store
        self._compile = compile_query
        self._valid = valid_session
        self._spend = spend
        self.polls_in_progress = polls_in_progress
        self.jobs: dict[str, _Job] = {}
        self._jobs_seq = itertools.count(1)
        self._batch_seq = itertools.count(1)
        self._lock = threading.RLock()

    @property
    def batch_count(self) -> int:
        """Batches created (``DailyBulkApiBatches`` counts them)."""
        return sum(len(j.batches) for j in self.jobs.values())

    def handle(self, call: Call, api_version: float) -> Reply:
        """Answer one call whose ``parts`` are the path below ``/services/async/<version>/``."""
        wants_json = call.headers.get("Content-Type", "").startswith(_JSON)
        try:
            if not self._valid(call.headers.get("X-SFDC-Session")):
                raise BulkError(400, "InvalidSessionId", "Invalid session id")
            if not self._spend():
                raise BulkError(403, "ExceededQuota", "TotalRequests Limit exceeded.")
            with self._lock:
                return self._route(call, api_version, wants_json)
        except BulkError as exc:
            return _render(
                exc.status, "error", {"exceptionCode": exc.code, "exceptionMessage": exc.message},
                as_json=wants_json,
            )  # fmt: skip

    def _route(self, call: Call, api_version: float, wants_json: bool) -> Reply:
        parts = [p for p in call.parts if p]
        if not parts or parts[0] != "job":
            raise BulkError(400, "InvalidUrl", "Unknown URL: " + "/".join(parts))
        if len(parts) == 1 and call.method == "POST":
            job = self._create(call, api_version, wants_json)
            return _render(201, "jobInfo", job.info(), as_json=wants_json)
        job = self._job(parts[1] if len(parts) > 1 else "")
        if len(parts) == 2:
            if call.method == "POST":
                self._change_state(job, call, wants_json)
            elif call.method != "GET":
                raise BulkError(405, "MethodNotAllowed", f"HTTP Method '{call.method}' not allowed")
            return _render(200, "jobInfo", job.info(), as_json=wants_json)
        if parts[2] != "batch":
            raise BulkError(400, "InvalidUrl", "Unknown URL: " + "/".join(parts))
        as_json = job.content_type == "JSON"
        if len(parts) == 3 and call.method == "POST":
            return _render(201, "batchInfo", self._add_batch(job, call).info(), as_json=as_json)
        if len(parts) == 3 and call.method == "GET":
            infos = [self._poll(b).info() for b in job.batches.values()]
            if as_json:
                return Reply(200, {"batchInfo": infos}, content_type=_JSON)
            inner = "".join(f"<batchInfo>{_xml_fields(i)}</batchInfo>" for i in infos)
            return Reply(200, _xml_doc("batchInfoList", inner), content_type=_XML)
        batch = job.batches.get(parts[3])
        if batch is None:
            raise BulkError(400, "InvalidBatch", f"Invalid batch id: {parts[3]}")
        if len(parts) == 4 and call.method == "GET":
            return _render(200, "batchInfo", self._poll(batch).info(), as_json=as_json)
        if parts[4:5] == ["result"] and call.method == "GET":
            if batch.state != "Completed":
                raise BulkError(400, "InvalidBatch", f"Batch not completed: {batch.state}")
            if len(parts) == 5:
                if as_json:
                    return Reply(200, [batch.result_id], content_type=_JSON)
                inner = f"<result>{batch.result_id}</result>"
                return Reply(200, _xml_doc("result-list", inner), content_type=_XML)
            if len(parts) == 6 and parts[5] == batch.result_id:
                return self._rows(job, batch)
            raise BulkError(400, "InvalidBatch", f"Invalid result id: {parts[5:]}")
        raise BulkError(400, "InvalidUrl", "Unknown URL: " + "/".join(parts))

    # -- jobs --------------------------------------------------------------------------------
    def _create(self, call: Call, api_version: float, wants_json: bool) -> _Job:
        info = _parse_body(call.body, wants_json)
        operation = str(info.get("operation") or "")
        if operation not in _QUERIES:
            raise BulkError(
                400, "InvalidJob",
                f"Operation {operation or '(none)'}: the sandbox emulates Bulk API 1.0 query jobs "
                "only (its ingest jobs are in Bulk API 2.0)",
            )  # fmt: skip
        spec = self.store.schema.get(str(info.get("object") or ""))
        if spec is None:
            raise BulkError(400, "InvalidJob", f"Unable to find object: {info.get('object')}")
        content = str(info.get("contentType") or "XML")
        if content not in ("CSV", "JSON", "XML"):
            raise BulkError(400, "InvalidJob", f"Invalid contentType: {content}")
        serial = str(info.get("concurrencyMode", "Parallel")) in ("Serial", "1")
        now = self.store.now()
        job = _Job(
            self.store.make_id("750", next(self._jobs_seq)), operation, spec.name, content,
            "Serial" if serial else "Parallel", now, self.store.api_user_id, api_version,
        )  # fmt: skip
        self.jobs[job.id] = job
        return job

    def _job(self, job_id: str) -> _Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise BulkError(400, "InvalidJob", f"Invalid job id: {job_id}")
        return job

    def _change_state(self, job: _Job, call: Call, wants_json: bool) -> None:
        state = _parse_body(call.body, wants_json).get("state")
        if state not in ("Closed", "Aborted") or job.state != "Open":
            raise BulkError(400, "InvalidJobState", f"Invalid state change {job.state} → {state}")
        job.state, job.modstamp = str(state), self.store.now()

    # -- batches -------------------------------------------------------------------------------
    def _add_batch(self, job: _Job, call: Call) -> _Batch:
        if job.state != "Open":
            raise BulkError(400, "InvalidJobState", f"Unable to create batch: job is {job.state}")
        now = self.store.now()
        batch = _Batch(self.store.make_id("751", next(self._batch_seq)), job.id, now)
        batch.polls_left = self.polls_in_progress + 1
        try:
            bound = self._compile(call.body.decode("utf-8-sig").strip())
        except ApiError as exc:
            error = exc.body[0]
            batch.message = f"{error['errorCode']}: {error['message']}"
        else:
            if any(c.kind == "address" for c in bound.columns):
                batch.message = _COMPOUND
            else:
                rows = self.store.rows(bound.sobject, job.operation == "queryAll")
                batch.bound, batch.rows = bound, bound.run(rows, self.store.get)
                batch.result_id = self.store.make_id("752", next(self._batch_seq))
        if batch.message:
            batch.message = f"InvalidBatch : Failed to process query: {batch.message}"
        job.batches[batch.id] = batch
        return batch

    def _poll(self, batch: _Batch) -> _Batch:
        if batch.state in ("Queued", "InProgress") and batch.polls_left > 0:
            batch.polls_left -= 1
            final = "Failed" if batch.message else "Completed"
            batch.state = "InProgress" if batch.polls_left else final
            batch.modstamp = self.store.now()
        return batch

    # -- results ---------------------------------------------------------------------------
    def _rows(self, job: _Job, batch: _Batch) -> Reply:
        bound = batch.bound
        assert bound is not None
        base = f"/services/data/v{job.api_version:.1f}"
        if job.content_type == "JSON":
            records = [_epoch_ms(bound.project(r, self.store.get, base)) for r in batch.rows]
            return Reply(200, records, content_type=_JSON)
        if job.content_type == "XML":
            out = [f'<queryResult xmlns="{NS}" xmlns:xsi="{_XSI}">']
            for row in batch.rows:
                values = zip(bound.columns, bound.flat(row, self.store.get), strict=True)
                cells = "".join(
                    f'<{c.label} xsi:nil="true"/>' if v is None
                    else f"<{c.label}>{escape(csv_value(v))}</{c.label}>"
                    for c, v in values
                )  # fmt: skip
                out.append(
                    f'<records xsi:type="sObject"><type>{job.sobject}</type>{cells}</records>'
                )
            text = '<?xml version="1.0" encoding="UTF-8"?>' + "".join(out) + "</queryResult>"
            return Reply(200, text, content_type=_XML)
        if not batch.rows:
            return Reply(200, _NO_ROWS, content_type="text/csv")
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerow([c.label for c in bound.columns])
        writer.writerows([csv_value(v) for v in bound.flat(r, self.store.get)] for r in batch.rows)
        return Reply(200, buf.getvalue(), content_type="text/csv")


def _stamp(value: datetime) -> str:
    return format_datetime(value).replace("+0000", "Z")


def _epoch_ms(value: Any) -> Any:
    """Bulk 1.0 JSON results give dates and date-times as milliseconds since the epoch."""
    if isinstance(value, dict):
        return {k: _epoch_ms(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return int(value.astimezone(UTC).timestamp() * 1000)
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp() * 1000)
    return value


def _parse_body(body: bytes, as_json: bool) -> dict[str, Any]:
    """A ``jobInfo`` request body, JSON or XML."""
    try:
        if as_json:
            parsed = json.loads(body or b"{}")
            if not isinstance(parsed, dict):
                raise ValueError("not an object")
            return parsed
        root = ElementTree.fromstring(body or b"<jobInfo/>")
    except (ValueError, ElementTree.ParseError) as exc:
        code = "InvalidJob" if as_json else "InvalidXML"
        raise BulkError(400, code, f"Unable to parse the job: {exc}") from None
    return {child.tag.rpartition("}")[2]: (child.text or "").strip() for child in root}


def _xml_fields(info: Mapping[str, Any]) -> str:
    return "".join(f"<{k}>{escape(_xml_text(v))}</{k}>" for k, v in info.items())


def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _xml_doc(root: str, inner: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="{NS}">{inner}</{root}>'


def _render(status: int, root: str, info: Mapping[str, Any], *, as_json: bool) -> Reply:
    """A ``jobInfo``/``batchInfo``/``error`` in XML, or JSON with sorted keys (as documented)."""
    if as_json:
        return Reply(status, dict(sorted(info.items())), content_type=_JSON)
    return Reply(status, _xml_doc(root, _xml_fields(info)), content_type=_XML)
