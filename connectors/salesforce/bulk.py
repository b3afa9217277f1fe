"""Bulk API 2.0 for large backfills: query jobs to read, ingest jobs to write scores and tasks.

Why Bulk above ``bulk_threshold``: a REST backfill costs one call per 2,000 leads read
plus one per 200 scores written and per activity chunk; a Bulk query job costs
create + a few polls + one call per results page (any size), and an ingest job
create + upload + close + polls + a results read, whatever the number of records.
Each request goes through :meth:`SalesforceApi.bulk` (simple-salesforce's Bulk 2.0
client), so it is limited, retried and re-authenticated like any other.

Results pages are streamed to a temporary file (``download_job_data``) and parsed from
there: the CSV text of a page never sits in memory next to its rows, and
:meth:`BulkJobs.stream` hands rows over one at a time, so a page may be as large as one
call can carry without costing memory.

Activities are read with one query job per source over the whole object (an
``IN (…)`` list per page would cost a job per page) and spooled by lead id
(``salesforce_spool``), so memory stays flat however many activities an org holds.

Own write-back in Bulk: an ingest job answers no ``SystemModstamp`` per record, and a
query per page to fetch them would double the calls. The stamp reported for each
written record is instead the job's window, ``bulk:<created>|<finished>|<user id>``:
``changed_leads`` treats a record as leadsync's own write when its ``SystemModstamp`` lies
in that window *and* its ``LastModifiedById`` is the job's user (another user's edit in
the window is never mistaken for ours). Cost: zero calls.

Inserts (:meth:`BulkJobs.insert`) are not safe to repeat: the upload and the close are
never retried blindly. A lost upload aborts the still-open job (nothing of it was
processed: :class:`IngestNotStarted`); a lost close or poll is followed by
:meth:`BulkJobs.settle` — get the job, abort it if it is still open, wait for it if it
runs — so the caller learns what the job did before it creates anything again.
"""

from __future__ import annotations

import contextlib
import csv
import io
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simple_salesforce.bulk2 import Operation

from leadsync.connectors.salesforce.api import SalesforceApi
from leadsync.connectors.salesforce.soql import Row, csv_value, normal_stamp
from leadsync.errors import CrmError

__all__ = [
    "BulkJobs",
    "IngestNotStarted",
    "IngestOutcome",
    "window_stamp",
    "within_window",
]

#: Poll delays (seconds) while a job runs; the last one repeats.
POLL_DELAYS = (0.5, 1.0, 2.0, 4.0, 5.0)
#: Rows per results page of a query job (one call each).
RESULTS_PAGE = 50_000
#: Bytes read at a time while a results page streams to its file.
_CHUNK = 1 << 16
_DONE = ("JobComplete", "Failed", "Aborted")
_RUNNING = ("UploadComplete", "InProgress")


class IngestNotStarted(CrmError):
    """An ingest job ended before Salesforce processed any row: the rows may be sent again."""


@dataclass(slots=True)
class IngestOutcome:
    """What one insert job did: its final info and the result rows Salesforce reported.

    ``created`` are ``successfulResults`` rows (``sf__Id``, ``sf__Created`` and the uploaded
    columns), ``failed`` ``failedResults`` rows (``sf__Id``, ``sf__Error`` and the uploaded
    columns); both in no particular order. Rows in neither were not processed (the job
    was aborted or failed part-way) or their results could not be read. ``recovered``:
    an answer was lost and the job's state had to be looked up.
    """

    info: dict[str, Any]
    created: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    recovered: bool = False


def window_stamp(job: dict[str, Any]) -> str:
    """The own-write stamp of every record an ingest job wrote (see the module docstring)."""
    start = normal_stamp(job.get("createdDate")) or ""
    end = normal_stamp(job.get("systemModstamp")) or ""
    return f"bulk:{start}|{end}|{job.get('createdById', '')}"


def within_window(stamp: str, modstamp: str | None, modified_by: str | None) -> bool:
    """Whether a record's current stamp and last modifier fall in a :func:`window_stamp`."""
    if not stamp.startswith("bulk:") or not modstamp:
        return False
    start, _, rest = stamp[5:].partition("|")
    end, _, user = rest.partition("|")
    return bool(start and end) and start <= modstamp <= end and (not user or user == modified_by)


class BulkJobs:
    """Query and ingest jobs on one org."""

    def __init__(
        self,
        api: SalesforceApi,
        *,
        poll_delays: Sequence[float] = POLL_DELAYS,
        sleep: Callable[[float], None] = time.sleep,
        max_polls: int = 10_000,
    ) -> None:
        self.api = api
        self.poll_delays = tuple(poll_delays) or (0.0,)
        self.sleep = sleep
        self.max_polls = max_polls

    # -- jobs ----------------------------------------------------------------------------
    def start_query(self, sobject: str, soql_text: str) -> str:
        """Create a query job (a harmless duplicate if retried); its id."""
        job = self.api.bulk(
            "create query job",
            sobject,
            lambda c: c.create_job(Operation.query, soql_text),
            safe=True,
        )
        return str(job["id"])

    def finish(self, sobject: str, job_id: str, *, query: bool) -> dict[str, Any]:
        """Poll until the job ends (JobComplete, Failed or Aborted); its final info."""
        for n in range(self.max_polls):
            self.sleep(self.poll_delays[min(n, len(self.poll_delays) - 1)])
            info = self.api.bulk(
                "job status", sobject, lambda c: c.get_job(job_id, query), safe=True
            )
            if info.get("state") in _DONE:
                return dict(info)
        raise CrmError(f"Salesforce Bulk API job {job_id} on {sobject} did not finish in time")

    def wait(self, sobject: str, job_id: str, *, query: bool) -> dict[str, Any]:
        """:meth:`finish`, a job that failed or was aborted being a CrmError."""
        info = self.finish(sobject, job_id, query=query)
        if info.get("state") != "JobComplete":
            raise CrmError(
                f"Salesforce Bulk API job {job_id} on {sobject} ended {info.get('state')}: "
                f"{info.get('errorMessage') or 'no reason given'}"
            )
        return info

    # -- query results -------------------------------------------------------------------
    def results(
        self, sobject: str, job_id: str, locator: str = "", page_size: int = RESULTS_PAGE
    ) -> Iterator[tuple[list[Row], str]]:
        """Pages of a finished query job's rows, each with the locator of the next page."""
        for rows, nxt in self.row_pages(sobject, job_id, locator, page_size):
            yield list(rows), nxt

    def row_pages(
        self, sobject: str, job_id: str, locator: str = "", page_size: int = RESULTS_PAGE
    ) -> Iterator[tuple[Iterator[Row], str]]:
        """Like :meth:`results`, each page's rows read one at a time from its file (consume
        them before asking for the next page: the file goes then)."""
        for path, nxt in self._pages(sobject, job_id, locator, page_size):
            yield _read_rows(path), nxt

    def stream(self, sobject: str, job_id: str, page_size: int = RESULTS_PAGE) -> Iterator[Row]:
        """Every row of a finished query job, one at a time: memory does not grow with
        ``page_size``, which only sets how many rows one call carries."""
        for path, _ in self._pages(sobject, job_id, "", page_size):
            yield from _read_rows(path)

    def _pages(
        self, sobject: str, job_id: str, locator: str, page_size: int
    ) -> Iterator[tuple[Path, str]]:
        """Each results page streamed to a temporary file (one call): (file, next locator)."""
        with tempfile.TemporaryDirectory(prefix="leadsync-bulk-") as folder:
            while True:
                page = self.api.bulk(
                    "query results",
                    sobject,
                    lambda c, loc=locator: c.download_job_data(
                        folder, job_id, loc, page_size, chunk_size=_CHUNK
                    ),
                    safe=True,
                )
                path = Path(str(page["file"]))
                locator = str(page.get("locator") or "")
                try:
                    yield path, locator
                finally:
                    path.unlink(missing_ok=True)
                if not locator:
                    return

    def query(self, sobject: str, soql_text: str) -> Iterator[list[Row]]:
        job_id = self.start_query(sobject, soql_text)
        self.wait(sobject, job_id, query=True)
        for rows, _ in self.results(sobject, job_id):
            yield rows

    # -- ingest --------------------------------------------------------------------------
    def update(
        self, sobject: str, header: Sequence[str], rows: Sequence[Sequence[str]]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """One update job for ``rows``: (final job info, id → ``CODE:message`` of failures).

        Writing the same values twice is harmless, so every step may be retried; a job
        that fails or is aborted is a CrmError (its records are written again next run).
        """
        job_id = self._create(sobject, Operation.update)
        self._upload(sobject, job_id, header, rows, safe=True)
        self.api.bulk("close job", sobject, lambda c: c.close_job(job_id), safe=False)
        info = self.wait(sobject, job_id, query=False)
        failed: dict[str, str] = {}
        if int(info.get("numberRecordsFailed") or 0):
            for row in self.ingest_results(sobject, job_id, "failedResults"):
                failed[row.get("sf__Id") or row.get("Id") or ""] = row.get("sf__Error", "")
        return info, failed

    def insert(
        self, sobject: str, header: Sequence[str], rows: Sequence[Sequence[str]]
    ) -> IngestOutcome:
        """One insert job for ``rows``, its created and failed rows read back.

        Raises :class:`IngestNotStarted` when the upload failed (the job is aborted
        unprocessed: send the rows again); any other CrmError means the job's fate is
        unknown — the caller must look before creating anything again.
        """
        job_id = self._create(sobject, Operation.insert)
        try:
            self._upload(sobject, job_id, header, rows, safe=False)
        except CrmError as error:
            # A job never closed is never processed: nothing was made. Abort it to tidy up
            # (if even that fails, Salesforce drops the open job by itself).
            self._abort(sobject, job_id)
            raise IngestNotStarted(f"Salesforce Bulk API upload to {job_id}: {error}") from error
        recovered = False
        try:
            self.api.bulk("close job", sobject, lambda c: c.close_job(job_id), safe=False)
            info = self.finish(sobject, job_id, query=False)
        except CrmError:
            info, recovered = self.settle(sobject, job_id), True
        state = info.get("state")
        processed = int(info.get("numberRecordsProcessed") or 0)
        failures = int(info.get("numberRecordsFailed") or 0)
        if state == "Aborted" and not processed:
            raise IngestNotStarted(f"Salesforce Bulk API job {job_id} on {sobject} was aborted")
        out = IngestOutcome(dict(info), recovered=recovered)
        if state in ("JobComplete", "Failed"):  # results are kept for both
            if processed > failures:
                out.created = self.ingest_results(sobject, job_id, "successfulResults")
            if failures:
                out.failed = self.ingest_results(sobject, job_id, "failedResults")
        return out

    def settle(self, sobject: str, job_id: str) -> dict[str, Any]:
        """A job whose close or poll answer was lost, brought to an end: its final info.

        Still ``Open`` (the close never arrived): aborted, so it can never run, then looked
        at again — an abort answers no counters, and a close that arrived late may have
        started it. Queued or running: waited for. Ended: as it is.
        """
        info = self.api.bulk("job status", sobject, lambda c: c.get_job(job_id, False), safe=True)
        if info.get("state") == "Open":
            self._abort(sobject, job_id)
            info = self.api.bulk(
                "job status", sobject, lambda c: c.get_job(job_id, False), safe=True
            )
        if info.get("state") in _RUNNING:
            info = self.finish(sobject, job_id, query=False)
        if info.get("state") not in _DONE:
            raise CrmError(
                f"Salesforce Bulk API job {job_id} on {sobject} is {info.get('state')}: "
                "it could not be aborted"
            )
        return dict(info)

    def ingest_results(self, sobject: str, job_id: str, kind: str) -> list[dict[str, str]]:
        """``successfulResults`` or ``failedResults`` of an ingest job, as CSV rows."""
        text = self.api.bulk(
            f"{kind}", sobject, lambda c: c.get_ingest_results(job_id, kind), safe=True
        )
        return list(csv.DictReader(io.StringIO(str(text))))

    def _create(self, sobject: str, operation: Operation) -> str:
        """Create an ingest job: a retried create leaves at most an empty open job behind."""
        job = self.api.bulk(
            "create ingest job", sobject, lambda c: c.create_job(operation), safe=True
        )
        return str(job["id"])

    def _upload(
        self,
        sobject: str,
        job_id: str,
        header: Sequence[str],
        rows: Iterable[Sequence[str]],
        *,
        safe: bool,
    ) -> None:
        """The job's data as one CSV upload (its text lives only for this call)."""
        data = _csv_text(header, rows)
        self.api.bulk("upload", sobject, lambda c: c.upload_job_data(job_id, data), safe=safe)

    def _abort(self, sobject: str, job_id: str) -> None:
        """Abort an ingest job. Refused (it has ended, or a retried abort finds it aborted
        already): nothing to do — the caller looks at the job's state either way."""
        with contextlib.suppress(CrmError):
            self.api.bulk("abort job", sobject, lambda c: c.abort_job(job_id, False), safe=True)


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _read_rows(path: Path) -> Iterator[Row]:
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            yield {k: csv_value(v) for k, v in row.items()}
