"""Bulk API 2.0 for large backfills: query jobs for leads and activities, ingest jobs for scores.

Why Bulk above ``bulk_threshold``: a REST backfill costs one call per 2,000 leads read
plus one per 200 scores written and per activity chunk; a Bulk query job costs
create + a few polls + one call per results page (any size), and an ingest job
create + upload + close + polls + one failed-results read, whatever the number of
records. Each request goes through :meth:`SalesforceApi.bulk` (simple-salesforce's
Bulk 2.0 client), so it is limited, retried and re-authenticated like any other.

Activities are read with one query job per source over the whole object (an
``IN (…)`` list per page would cost a job per page) and spooled into a temporary SQLite
file indexed by lead id, so memory stays flat however many activities an org holds;
each page of leads then takes its events from the spool.

Own write-back in Bulk: an ingest job answers no ``SystemModstamp`` per record, and a
query per page to fetch them would double the calls. The stamp reported for each
written record is instead the job's window, ``bulk:<created>|<finished>|<user id>``:
``changed_leads`` treats a record as leadsync's own write when its ``SystemModstamp`` lies
in that window *and* its ``LastModifiedById`` is the job's user (another user's edit in
the window is never mistaken for ours). Cost: zero calls.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from simple_salesforce.bulk2 import Operation

from leadsync.connectors.salesforce_activity import ActivitySource
from leadsync.connectors.salesforce_api import SalesforceApi
from leadsync.connectors.salesforce_soql import Row, csv_value, normal_stamp
from leadsync.errors import CrmError
from leadsync.scoring.lead import Event

__all__ = ["BulkJobs", "EventSpool", "window_stamp", "within_window"]

#: Poll delays (seconds) while a job runs; the last one repeats.
POLL_DELAYS = (0.5, 1.0, 2.0, 4.0, 5.0)
#: Rows per results page of a query job (one call each).
RESULTS_PAGE = 50_000
_DONE = ("JobComplete", "Failed", "Aborted")


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

    # -- query ---------------------------------------------------------------------------
    def start_query(self, sobject: str, soql_text: str) -> str:
        """Create a query job (a harmless duplicate if retried); its id."""
        job = self.api.bulk(
            "create query job",
            sobject,
            lambda c: c.create_job(Operation.query, soql_text),
            safe=True,
        )
        return str(job["id"])

    def wait(self, sobject: str, job_id: str, *, query: bool) -> dict[str, Any]:
        """Poll until the job ends; its final info. A failed or aborted job is a CrmError."""
        for n in range(self.max_polls):
            self.sleep(self.poll_delays[min(n, len(self.poll_delays) - 1)])
            info = self.api.bulk(
                "job status", sobject, lambda c: c.get_job(job_id, query), safe=True
            )
            state = info.get("state")
            if state in _DONE:
                if state != "JobComplete":
                    raise CrmError(
                        f"Salesforce Bulk API job {job_id} on {sobject} ended {state}: "
                        f"{info.get('errorMessage') or 'no reason given'}"
                    )
                return dict(info)
        raise CrmError(f"Salesforce Bulk API job {job_id} on {sobject} did not finish in time")

    def results(
        self, sobject: str, job_id: str, locator: str = "", page_size: int = RESULTS_PAGE
    ) -> Iterator[tuple[list[Row], str]]:
        """Pages of a finished query job's rows, each with the locator of the next page."""
        while True:
            page = self.api.bulk(
                "query results",
                sobject,
                lambda c, loc=locator: c.get_query_results(job_id, loc, page_size),
                safe=True,
            )
            rows = [
                {k: csv_value(v) for k, v in row.items()}
                for row in csv.DictReader(io.StringIO(str(page["records"])))
            ]
            locator = str(page.get("locator") or "")
            yield rows, locator
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
        """One update job for ``rows``: (final job info, id → ``CODE:message`` of failures)."""
        job = self.api.bulk(
            "create ingest job", sobject, lambda c: c.create_job(Operation.update), safe=True
        )
        job_id = str(job["id"])
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        data = buf.getvalue()
        self.api.bulk("upload", sobject, lambda c: c.upload_job_data(job_id, data), safe=True)
        self.api.bulk("close job", sobject, lambda c: c.close_job(job_id), safe=False)
        info = self.wait(sobject, job_id, query=False)
        failed: dict[str, str] = {}
        if int(info.get("numberRecordsFailed") or 0):
            text = self.api.bulk(
                "failed results",
                sobject,
                lambda c: c.get_ingest_results(job_id, "failedResults"),
                safe=True,
            )
            for row in csv.DictReader(io.StringIO(str(text))):
                failed[row.get("sf__Id") or row.get("Id") or ""] = row.get("sf__Error", "")
        return info, failed


class EventSpool:
    """Activities of a whole org, by lead id, in a temporary SQLite file (flat memory)."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="leadsync-sf-")
        self._db = sqlite3.connect(str(Path(self._dir.name) / "events.db"))
        self._db.execute("CREATE TABLE ev (who TEXT, type TEXT, at TEXT, attrs TEXT)")
        self.rows = 0

    def add(self, rows: Sequence[Row], source: ActivitySource) -> None:
        batch: list[tuple[str, str, str, str]] = []
        for row in rows:
            who = row.get(source.key)
            if not who:
                continue
            for event in source.to_events(row):
                attrs = json.dumps(dict(event.attrs))
                batch.append((str(who), event.type, event.at.isoformat(), attrs))
        self._db.executemany("INSERT INTO ev VALUES (?, ?, ?, ?)", batch)
        self.rows += len(batch)

    def index(self) -> None:
        self._db.execute("CREATE INDEX ev_who ON ev (who)")
        self._db.commit()

    def take(self, ids: Sequence[str]) -> dict[str, list[Event]]:
        found: dict[str, list[Event]] = defaultdict(list)
        for start in range(0, len(ids), 900):
            chunk = list(ids[start : start + 900])
            marks = ",".join("?" * len(chunk))
            for who, type_, at, attrs in self._db.execute(
                f"SELECT who, type, at, attrs FROM ev WHERE who IN ({marks})", chunk
            ):
                found[who].append(
                    Event.create(type_, datetime.fromisoformat(at), json.loads(attrs))
                )
        return found

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()
