"""Bulk API 2.0 for the Salesforce sandbox: query and ingest jobs with their state machine.

Copied from the live recordings in ``shared/salesforce-reference/bulk2.json``:

- query job: ``POST jobs/query`` answers 200 with ``state: UploadComplete``; polling
  ``GET jobs/query/{id}`` shows ``InProgress`` then ``JobComplete`` (``jobType: V2Query``,
  ``numberRecordsProcessed``); ``GET …/results[?maxRecords=N][&locator=L]`` answers CSV with
  ``Sforce-NumberOfRecords`` and ``Sforce-Locator`` (base64 of the next offset, ``MTA`` for
  10 as recorded, or the string ``null`` on the last page); every page repeats the header.
- ingest job: ``POST jobs/ingest`` answers 200 with ``state: Open`` and a ``contentUrl``
  without a leading slash; ``PUT …/batches`` (CSV) answers 201 with no body; ``PATCH
  {"state": "UploadComplete"}``; polling shows ``InProgress`` then ``JobComplete`` (rows
  that fail are counted in ``numberRecordsFailed``) or ``Failed`` with ``errorMessage``
  (``InvalidBatch : InvalidBatch : Field name not found : X`` for an unknown column).
  ``successfulResults`` has ``sf__Id, sf__Created`` then the input columns, ``failedResults``
  ``sf__Id, sf__Error`` (``CODE:message:fields --``), ``unprocessedrecords`` the raw rows.
  Rows come back in upload order here; Salesforce promises no order, so a client maps them
  by their own columns (an insert's failed rows have an empty ``sf__Id``).
- a query selecting a compound address is refused at creation: 400 "Selecting compound data
  not supported in Bulk Query" (the message clients match on; the ``errorCode`` is a guess);
- ``PATCH {"state": "Aborted"}``; aborting a finished job is 400 ``INVALIDJOBSTATE``;
  ``DELETE`` is 204; an unknown job is 404 ``NOT_FOUND``.

The work is done at once (a query is a snapshot taken at creation, an ingest is applied on
``UploadComplete``) but each job reports ``InProgress`` for ``polls_in_progress`` polls, so a
client's polling loop runs as against a real org without anyone sleeping in tests.
"""

from __future__ import annotations

import base64
import csv
import io
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from leadsync.connectors.sandbox.salesforce.http import ApiError, Call, Reply, not_found
from leadsync.connectors.sandbox.salesforce.query import BoundQuery
from leadsync.connectors.sandbox.salesforce.store import RecordError, Store, format_datetime

__all__ = ["COMPOUND_MESSAGE", "BulkApi", "Job", "csv_value"]

_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^"}
_DELIMITERS["BACKQUOTE"] = "`"
_OPERATIONS = {"insert", "update", "upsert", "delete", "hardDelete"}
_CSV_TYPE = "text/csv"
#: Bulk queries cannot select compound addresses (airbyte#8206 matches this message).
COMPOUND_MESSAGE = "Selecting compound data not supported in Bulk Query"
_STATUS = {"UploadComplete": "UPLOAD_COMPLETE", "InProgress": "IN_PROGRESS", "Aborted": "ABORTED"}


@dataclass(slots=True)
class Job:
    """One Bulk 2.0 job and everything its result resources need."""

    id: str
    kind: str  # "query" | "ingest"
    operation: str
    sobject: str
    created: datetime
    api_version: float
    column_delimiter: str = "COMMA"
    line_ending: str = "LF"
    external_id: str | None = None
    created_by: str = ""
    state: str = "Open"
    modstamp: datetime | None = None
    polls_left: int = 0
    error: str | None = None
    bound: BoundQuery | None = None
    rows: list[Any] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    uploads: list[list[list[str]]] = field(default_factory=list)
    ok: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)

    def info(self, *, full: bool) -> dict[str, Any]:
        """The job JSON; ``full`` adds what GET shows (jobType, counters)."""
        out: dict[str, Any] = {
            "id": self.id, "operation": self.operation, "object": self.sobject,
            "createdById": self.created_by, "createdDate": format_datetime(self.created),
            "systemModstamp": format_datetime(self.modstamp or self.created),
            "state": self.state, "concurrencyMode": "Parallel", "contentType": "CSV",
            "apiVersion": self.api_version,
        }  # fmt: skip
        if self.external_id:
            out["externalIdFieldName"] = self.external_id
        if self.kind == "ingest" and self.state == "Open":
            v = f"{self.api_version:.1f}"
            out["contentUrl"] = f"services/data/v{v}/jobs/ingest/{self.id}/batches"
        if full:
            out["jobType"] = "V2Query" if self.kind == "query" else "V2Ingest"
        out |= {"lineEnding": self.line_ending, "columnDelimiter": self.column_delimiter}
        if full:
            done = self.state in ("JobComplete", "Failed", "Aborted")
            processed = len(self.rows) if self.kind == "query" else len(self.ok) + len(self.failed)
            out["numberRecordsProcessed"] = processed if done else 0
            if self.kind == "ingest":
                out["numberRecordsFailed"] = len(self.failed) if done else 0
            out |= {"retries": 0, "totalProcessingTime": 0}
            if self.kind == "ingest":
                out |= {"apiActiveProcessingTime": 0, "apexProcessingTime": 0}
            if self.error:
                out["errorMessage"] = self.error
        return out


class BulkApi:
    """Handles ``/services/data/vXX.X/jobs/...``."""

    def __init__(
        self,
        store: Store,
        *,
        compile_query: Callable[[str], BoundQuery],
        fail_item: Callable[[], bool],
        polls_in_progress: int = 1,
    ) -> None:
        self.store = store
        self._compile = compile_query
        self._fail_item = fail_item
        self.polls_in_progress = polls_in_progress
        self.jobs: dict[str, Job] = {}
        self._seq = itertools.count(1)
        self._lock = threading.RLock()

    def handle(self, call: Call, api_version: float) -> Reply:
        """Route a call whose ``parts`` start after ``jobs``."""
        parts = [p for p in call.parts[1:] if p]
        if not parts or parts[0] not in ("query", "ingest"):
            raise not_found()
        kind = parts[0]
        with self._lock:
            if len(parts) == 1:
                if call.method == "POST":
                    return self._create(call, kind, api_version)
                if call.method == "GET":
                    jobs = [j.info(full=False) for j in self.jobs.values() if j.kind == kind]
                    return Reply(200, {"done": True, "records": jobs})
                raise not_found()
            job = self.jobs.get(parts[1])
            if job is None or job.kind != kind:
                raise not_found()
            if len(parts) == 2:
                return self._job(call, job)
            sub = parts[2].lower()
            if kind == "query" and sub == "results" and call.method == "GET":
                return self._results(call, job)
            if kind == "ingest" and sub == "batches" and call.method == "PUT":
                return self._upload(call, job)
            if kind == "ingest" and call.method == "GET":
                table = {"successfulresults": (["sf__Id", "sf__Created"], job.ok),
                         "failedresults": (["sf__Id", "sf__Error"], job.failed),
                         "unprocessedrecords": ([], job.unprocessed)}  # fmt: skip
                if sub in table:
                    extra, rows = table[sub]
                    return self._csv(job, extra + job.header, rows)
            raise not_found()

    # -- lifecycle -------------------------------------------------------------------------
    def _create(self, call: Call, kind: str, api_version: float) -> Reply:
        body = call.json()
        if not isinstance(body, dict):
            raise ApiError(400, "INVALIDJOB", "Invalid job definition")
        delimiter = str(body.get("columnDelimiter") or "COMMA")
        ending = str(body.get("lineEnding") or "LF")
        if delimiter not in _DELIMITERS or ending not in ("LF", "CRLF"):
            raise ApiError(400, "INVALIDJOB", "Invalid columnDelimiter or lineEnding")
        job_id = self.store.make_id("750", next(self._seq))
        now = self.store.now()
        if kind == "query":
            operation = body.get("operation", "query")
            if operation not in ("query", "queryAll"):
                raise ApiError(400, "INVALIDJOB", f"Invalid operation: {operation}")
            bound = self._compile(str(body.get("query") or ""))
            if any(c.kind == "address" for c in bound.columns):
                raise ApiError(400, "API_ERROR", COMPOUND_MESSAGE)
            rows = bound.run(
                self.store.rows(bound.sobject, operation == "queryAll"), self.store.get
            )
            job = Job(job_id, kind, operation, bound.sobject, now, api_version, delimiter, ending)
            job.bound, job.rows, job.header = bound, rows, [c.label for c in bound.columns]
            job.state, job.polls_left = "UploadComplete", self.polls_in_progress + 1
        else:
            operation = str(body.get("operation", ""))
            spec = self.store.schema.get(str(body.get("object", "")))
            if operation not in _OPERATIONS:
                raise ApiError(400, "INVALIDJOB", f"Invalid operation: {operation}")
            if spec is None:
                raise ApiError(400, "INVALIDJOB", f"Unsupported object: {body.get('object')}")
            external = body.get("externalIdFieldName")
            if operation == "upsert" and str(external).casefold() != "id":
                raise ApiError(400, "INVALIDJOB", "The sandbox supports upsert on Id only")
            job = Job(job_id, kind, operation, spec.name, now, api_version, delimiter, ending)
            job.external_id = "Id" if operation == "upsert" else None
        job.created_by = self.store.api_user_id
        self.jobs[job_id] = job
        return Reply(200, job.info(full=False))

    def _job(self, call: Call, job: Job) -> Reply:
        if call.method == "GET":
            if job.state in ("UploadComplete", "InProgress") and job.polls_left > 0:
                job.polls_left -= 1
                job.state = "InProgress" if job.polls_left else self._final(job)
                job.modstamp = self.store.now()
            return Reply(200, job.info(full=True))
        if call.method == "DELETE":
            if job.state in ("InProgress",) or (job.kind == "ingest" and job.state == "Open"):
                raise ApiError(400, "INVALIDJOBSTATE", f"Deleting a job in state {job.state}")
            del self.jobs[job.id]
            return Reply(204)
        if call.method != "PATCH":
            raise not_found()
        state = (call.json() or {}).get("state")
        if state == "Aborted":
            if job.state not in ("Open", "UploadComplete", "InProgress"):
                raise ApiError(400, "INVALIDJOBSTATE", "Aborting already Completed Job not allowed")
            if job.kind == "ingest" and job.state == "Open":
                job.unprocessed = [row for upload in job.uploads for row in upload]
            job.state, job.modstamp = "Aborted", self.store.now()
            return Reply(200, job.info(full=False))
        if state == "UploadComplete" and job.kind == "ingest" and job.state == "Open":
            job.state, job.modstamp = "UploadComplete", self.store.now()
            job.polls_left = self.polls_in_progress + 1
            self._process(job)
            return Reply(200, job.info(full=False))
        raise ApiError(400, "INVALIDJOBSTATE", f"Invalid state transition to {state}")

    @staticmethod
    def _final(job: Job) -> str:
        return "Failed" if job.error else "JobComplete"

    # -- query results ---------------------------------------------------------------------
    def _results(self, call: Call, job: Job) -> Reply:
        if job.state != "JobComplete" or job.bound is None:
            raise ApiError(
                412,
                "JOB_NOT_COMPLETE",
                "can only download query results of successfully completed bulk job with status: "
                f"JOB_COMPLETE. Current status: {_STATUS.get(job.state, job.state.upper())}",
            )
        try:
            offset = int(base64.b64decode(_pad(call.param("locator") or "MA")).decode())
            size = int(call.param("maxRecords") or len(job.rows) or 1)
        except ValueError:
            raise ApiError(400, "INVALIDLOCATOR", "Invalid locator or maxRecords") from None
        page = job.rows[offset : offset + max(size, 1)]
        nxt = offset + len(page)
        values = [[csv_value(v) for v in job.bound.flat(r, self.store.get)] for r in page]
        reply = self._csv(job, job.header, values)
        locator = base64.b64encode(str(nxt).encode()).decode().rstrip("=")
        reply.headers["Sforce-Locator"] = locator if nxt < len(job.rows) else "null"
        reply.headers["Sforce-NumberOfRecords"] = str(len(page))
        return reply

    def _csv(self, job: Job, header: list[str], rows: list[list[str]]) -> Reply:
        buf = io.StringIO()
        writer = csv.writer(
            buf,
            delimiter=_DELIMITERS[job.column_delimiter],
            lineterminator="\r\n" if job.line_ending == "CRLF" else "\n",
            quoting=csv.QUOTE_ALL,
        )
        writer.writerow(header)
        writer.writerows(rows)
        return Reply(200, buf.getvalue(), content_type=_CSV_TYPE)

    # -- ingest ----------------------------------------------------------------------------
    def _upload(self, call: Call, job: Job) -> Reply:
        if job.state != "Open":
            raise ApiError(400, "INVALIDJOBSTATE", f"Job is in state {job.state}")
        text = call.body.decode("utf-8-sig")
        rows = list(csv.reader(io.StringIO(text), delimiter=_DELIMITERS[job.column_delimiter]))
        rows = [r for r in rows if r]
        if not rows:
            raise ApiError(400, "INVALIDJOB", "Found no data in the CSV")
        if job.header and rows[0] != job.header:
            raise ApiError(400, "INVALIDJOB", "Every batch of a job must have the same header")
        job.header = rows[0]
        job.uploads.append(rows[1:])
        return Reply(201)

    def _process(self, job: Job) -> None:
        spec = self.store.schema.objects[job.sobject]
        for name in job.header:
            if spec.field(name) is None:
                job.error = f"InvalidBatch : InvalidBatch : Field name not found : {name}"
                job.unprocessed = [row for upload in job.uploads for row in upload]
                return
        if not job.uploads:
            job.error = "InvalidBatch : InvalidBatch : No data uploaded"
            return
        with self.store.lock:
            for upload in job.uploads:
                for row in upload:
                    self._ingest_row(job, row)

    def _ingest_row(self, job: Job, row: list[str]) -> None:
        values: dict[str, Any] = {}
        record_id = ""
        for name, raw in zip(job.header, row, strict=False):
            if name.casefold() == "id":
                record_id = raw
            elif raw != "":  # an empty cell leaves the field alone; #N/A sets it to null
                values[name] = None if raw == "#N/A" else raw
        op = job.operation
        creating = op == "insert" or (op == "upsert" and not record_id)
        errors: list[RecordError] = []
        record = None
        if not creating:
            if not record_id:
                errors = [RecordError("MISSING_ARGUMENT", f"Id not specified in an {op} call")]
            else:
                record, error = self.store.locate(job.sobject, record_id)
                errors = [error] if error else []
        checked: dict[str, Any] = {}
        if not errors and op not in ("delete", "hardDelete"):
            checked, errors = self.store.check(job.sobject, values, creating=creating)
        if not errors and self._fail_item():
            errors = [
                RecordError(
                    "UNABLE_TO_LOCK_ROW",
                    f"unable to obtain exclusive access to this record or 1 records: {record_id}",
                )
            ]
        if errors:
            e = errors[0]
            job.failed.append([record_id, f"{e.code}:{e.message}:{','.join(e.fields)} --", *row])
            return
        if creating:
            rid = self.store.load(
                job.sobject, self.store.with_defaults(job.sobject, checked), at=self.store.now()
            )
            job.ok.append([rid, "true", *row])
            return
        assert record is not None
        if op == "hardDelete":
            del self.store.tables[job.sobject][record["Id"]]
        else:
            self.store.apply(
                record, job.sobject, {"IsDeleted": True} if op == "delete" else checked
            )
        job.ok.append([record["Id"], "false", *row])


def _pad(token: str) -> str:
    return token + "=" * (-len(token) % 4)


def csv_value(value: Any) -> str:
    """Bulk CSV text: empty for null, lower-case booleans, ``Z`` date-times."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_datetime(value).replace("+0000", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
