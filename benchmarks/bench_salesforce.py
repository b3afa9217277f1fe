"""Salesforce sync against the sandbox org: REST and Bulk API 2.0 backfills, incrementals.

Run:  python benchmarks/bench_salesforce.py [--leads 10000] [--paths rest bulk]
      python benchmarks/bench_salesforce.py --leads 200000 --paths bulk

For N leads (with their Tasks, Events and CampaignMembers): a backfill on the REST path
(``bulk_threshold`` above N) and on the Bulk path (``bulk_threshold`` 1,000), each
followed by an incremental run right after it (the backfill's own writes must be left
out), an incremental run with no change, and one with 1 % of the leads changed (their
Title set to "Chief Executive Officer" through simple-salesforce). For each: API calls
by endpoint (as the connector counted them), wall time, peak memory and the fewest calls
the batch limits allow for the records moved.

The sandbox org runs in its own process (``leadsync sandbox salesforce``), so the memory
shown is leadsync's alone: the connector, the sync pipeline and its state store. Each
path runs in a fresh benchmark process, and the peak is reset before every run
(``/proc/self/clear_refs``), so each figure is that run's own high-water mark.

The fewest calls:

- REST: query pages of 2,000 rows (leads; each activity source — its rows for the leads
  read, counted beforehand with ``SELECT COUNT()`` — at least one query per 2,000 ids in
  ``IN`` lists), 200 records per ``composite/sobjects`` PATCH (scores) and POST (tasks),
  one query per 2,000 scores written to read their own-write stamps back;
- Bulk: create + one poll + one results read per query job (leads, each activity
  source); per page of ``BULK_PAGE`` leads, a score update job (create + upload + close +
  one poll, + the failed results when some failed) and, when the page has more than
  ``BULK_TASKS_MIN`` MQL crossings, a Task insert job (the same + its successful results);
- one OAuth token call and one describe per object (the score-field check) per run, and a
  ``SELECT COUNT()`` per backfill.

The sandbox reports every Bulk job "InProgress" on its first poll, as a real org does for
any job polled half a second after it starts, so each job costs one poll more than that
minimum, and Bulk runs include the connector's real poll delays (0.5 s, then 1 s).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests
import simple_salesforce

from leadsync.config.accounts import Account
from leadsync.config.templates import resolve_model
from leadsync.connectors.salesforce.activity import sources_for
from leadsync.connectors.salesforce.connector import BULK_PAGE, SalesforceConnector
from leadsync.connectors.salesforce.soql import IN_CHUNK_IDS, chunk_ids, soql
from leadsync.connectors.salesforce.writes import BULK_TASKS_MIN, BULK_WRITE_MIN, COLLECTION_MAX
from leadsync.sync.pipeline import Sync
from leadsync.sync.state import StateStore

SECRET_ENV = "LEADSYNC_BENCH_SF_SECRET"
QUERY_PAGE = 2_000
QUERY_JOB = 3  # create, poll, results
UPDATE_JOB = 4  # create, upload, close, poll (+ failed results when some failed)
INSERT_JOB = 5  # create, upload, close, poll, successful results
LEADSYNC = str(Path(sys.executable).with_name("leadsync"))


class RemoteSandbox:
    """``leadsync sandbox salesforce`` in its own process; what a client needs from its
    banner, and a simple-salesforce client for the benchmark's own look-ups and edits."""

    def __init__(self, leads: int, seed: int = 1) -> None:
        self.process = subprocess.Popen(
            [LEADSYNC, "sandbox", "salesforce", "--contacts", str(leads), "--seed", str(seed)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        banner = ""
        for line in self.process.stdout:
            banner += line
            if "Press Ctrl+C" in line:
                break
        else:
            raise RuntimeError(f"the sandbox did not start:\n{banner}")
        self.instance_url = _find(r"sandbox on (https://\S+)", banner)
        self.ca_path = _find(r"CA certificate:\s+(\S+)", banner)
        self.session_id = _find(r"session id:\s+(\S+)", banner)
        self.client_id = _find(r"client_id=(\S+)", banner)
        self.client_secret = _find(r"client_secret=(\S+)", banner)

    def session(self) -> requests.Session:
        http = requests.Session()
        http.verify, http.trust_env = self.ca_path, False
        return http

    def client(self) -> simple_salesforce.Salesforce:
        return simple_salesforce.Salesforce(
            instance_url=self.instance_url, session_id=self.session_id, session=self.session()
        )

    def reset_counters(self) -> None:
        self.session().post(f"{self.instance_url}/__sandbox/counters/reset", timeout=30)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _find(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if not found:
        raise RuntimeError(f"no {pattern!r} in the sandbox's banner:\n{text}")
    return found.group(1)


def reset_peak() -> None:
    """Start a new high-water mark of this process's resident memory (Linux ≥ 4.0)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _status_mib(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_mib() -> float:
    """Peak resident memory since :func:`reset_peak` (the lifetime peak elsewhere)."""
    hwm = _status_mib("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pages(records: int, size: int) -> int:
    return math.ceil(records / size)


class Bench:
    """A remote sandbox org, an account with the given Bulk threshold, and a state file."""

    def __init__(
        self, box: RemoteSandbox, threshold: int, folder: Path, leads: int, page: int | None
    ) -> None:
        self.box, self.leads, self.page = box, leads, page or BULK_PAGE
        os.environ[SECRET_ENV] = box.client_secret
        self.account = Account.model_validate(
            {
                "id": "bench",
                "crm": "salesforce",
                "credentials": {
                    "consumer_key": box.client_id,
                    "consumer_secret": SECRET_ENV,
                    "instance_url": box.instance_url,
                },
                "salesforce": {"bulk_threshold": threshold},
                "page_size": page,
            }
        )
        self.store = StateStore(f"sqlite:///{folder / f'state-{threshold}-{leads}.db'}")
        self.sources = sources_for("Lead", [])
        self.activity_rows = self._activity_rows()

    def _activity_rows(self, ids: list[str] | None = None) -> dict[str, int]:
        """Rows each activity source's query returns for all leads or for ``ids``.

        Counted with ``SELECT COUNT()`` before the run it is for (not in its calls).
        """
        client = self.box.client()
        contacts = [] if ids else [r["Id"] for r in client.query_all_iter("SELECT Id FROM Contact")]

        def count(text: str, among: list[str]) -> int:
            return sum(
                client.query(text + soql(f" AND {source.key} IN {{ids}}", ids=chunk))["totalSize"]
                for chunk in chunk_ids(among)
            )

        out = {}
        for source in self.sources:
            text = f"SELECT COUNT() FROM {source.sobject} WHERE {source.key} != null"
            text += f" AND {source.where}" if source.where else ""
            if ids is None:  # the org's Contacts' activities (WhoId) are not the leads'
                out[source.sobject] = client.query(text)["totalSize"] - count(text, contacts)
                continue
            out[source.sobject] = count(text, ids)
        return out

    def step(self, mode: str, changed: list[str] | None = None) -> dict[str, Any]:
        rows = self._activity_rows(changed) if changed else {}
        self.box.reset_counters()
        reset_peak()
        connector = SalesforceConnector(self.account, session=self.box.session())
        started = time.perf_counter()
        report = Sync(self.account, connector, self.store, resolve_model("b2b-saas")).run(mode)  # type: ignore[arg-type]
        wall = time.perf_counter() - started
        usage = connector.usage()
        connector.close()
        return {"report": report, "usage": usage, "wall": wall, "mode": mode, "rows": rows,
                "peak": peak_mib()}  # fmt: skip

    def minimum(self, result: dict[str, Any]) -> int:
        c, mode = result["report"].counts, result["mode"]
        calls: Mapping[str, int] = result["usage"].calls
        bulk = any(name.startswith("bulk ") for name in calls)
        listed = c["leads"] + c["skipped_own_writes"]
        # an OAuth token and the score-field describe, where the run needed them at all
        least = sum(min(n, 1) for name, n in calls.items() if name.startswith("auth "))
        least += min(calls.get("rest GET sobjects/Lead/describe", 0), 1)
        if mode == "backfill":
            least += 1  # SELECT COUNT()
            if bulk:
                least += QUERY_JOB * (1 + len(self.sources))
            else:
                least += pages(listed, QUERY_PAGE)
                least += sum(
                    max(pages(listed, IN_CHUNK_IDS), pages(rows, QUERY_PAGE))
                    for rows in self.activity_rows.values()
                )
        else:
            least += max(1, pages(listed, QUERY_PAGE))
            least += sum(
                max(pages(c["leads"], IN_CHUNK_IDS), pages(rows, QUERY_PAGE))
                for rows in result["rows"].values()
            )
        jobs = pages(c["leads"], self.page) if bulk and mode == "backfill" else 0
        if jobs and c["writes"] / jobs > BULK_WRITE_MIN:
            least += UPDATE_JOB * jobs + (1 if c["write_failures"] else 0)
        else:  # REST writes, then their own-write stamps read back, 2,000 ids a query
            least += pages(c["writes"], COLLECTION_MAX) + pages(c["writes"], IN_CHUNK_IDS)
        if jobs and c["tasks"] / jobs > BULK_TASKS_MIN:
            least += INSERT_JOB * jobs
        else:
            least += pages(c["tasks"], COLLECTION_MAX)
        return least

    def show(self, label: str, result: dict[str, Any]) -> None:
        usage, wall, c = result["usage"], result["wall"], result["report"].counts
        least = self.minimum(result)
        rest = sum(n for name, n in usage.calls.items() if name.startswith("rest "))
        bulk = sum(n for name, n in usage.calls.items() if name.startswith("bulk "))
        print(
            f"\n{label}: {c['leads']} scored, {c['skipped_own_writes']} skipped (own writes), "
            f"{c['writes']} written, {c['tasks']} tasks, status {result['report'].status}"
        )
        print(
            f"  {usage.total} calls (REST {rest}, Bulk {bulk}, auth {usage.total - rest - bulk}); "
            f"minimum {least} (ratio {usage.total / max(least, 1):.2f}); wall {wall:.1f} s; "
            f"peak memory {result['peak']:.0f} MiB; daily allocation left "
            f"{usage.daily_remaining}/{usage.daily_limit}",
            flush=True,
        )
        for name, calls in sorted(usage.calls.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"    {name:48} {calls:6}")

    def close(self) -> None:
        self.store.close()


def change_titles(box: RemoteSandbox, count: int) -> list[str]:
    """A user edits ``count`` leads (Title → CEO, which moves most scores), 200 a call."""
    client = box.client()
    text = f"SELECT Id FROM Lead WHERE IsConverted = false ORDER BY Id LIMIT {int(count)}"
    ids = [r["Id"] for r in client.query_all(text)["records"]]
    for start in range(0, len(ids), COLLECTION_MAX):
        records = [
            {"attributes": {"type": "Lead"}, "id": rid, "Title": "Chief Executive Officer"}
            for rid in ids[start : start + COLLECTION_MAX]
        ]
        client.restful("composite/sobjects", method="PATCH",
                       json={"allOrNone": False, "records": records})  # fmt: skip
    return ids


def run_path(leads: int, path: str, folder: Path, backfill_only: bool, page: int | None) -> None:
    threshold = 1_000 if path == "bulk" else leads + 1
    started = time.perf_counter()
    box = RemoteSandbox(leads)
    try:
        bench = Bench(box, threshold, folder, leads, page)
        rows = ", ".join(f"{k} {v:,}" for k, v in bench.activity_rows.items())
        shown = f", Bulk page {bench.page:,}" if path == "bulk" else ""
        print(
            f"\n=== {leads:,} leads, {path.upper()} path (bulk_threshold {threshold:,}{shown}); "
            f"sandbox org (its own process) up in {time.perf_counter() - started:.1f} s; "
            f"benchmark process at {_status_mib('VmRSS') or 0:.0f} MiB; activity rows {rows}",
            flush=True,
        )
        bench.show("backfill", bench.step("backfill"))
        if not backfill_only:
            bench.show("incremental after the backfill", bench.step("incremental"))
            bench.show("incremental, no change", bench.step("incremental"))
            changed = change_titles(box, max(1, leads // 100))
            bench.show("incremental, 1 % changed", bench.step("incremental", changed))
        bench.close()
    finally:
        box.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, nargs="+", default=[10_000])
    parser.add_argument("--paths", nargs="+", choices=["rest", "bulk"], default=["rest", "bulk"])
    parser.add_argument("--backfill-only", action="store_true", help="skip the incremental runs")
    parser.add_argument(
        "--page-size", type=int, help=f"leads per Bulk page (default {BULK_PAGE:,})"
    )
    args = parser.parse_args()
    runs = [(leads, path) for leads in args.leads for path in args.paths]
    if len(runs) > 1:  # each in a fresh process: its memory figures are its own
        extra = ["--backfill-only"] if args.backfill_only else []
        extra += ["--page-size", str(args.page_size)] if args.page_size else []
        for leads, path in runs:
            command = [sys.executable, __file__, "--leads", str(leads), "--paths", path]
            subprocess.run(command + extra, check=True)
        return
    with tempfile.TemporaryDirectory() as folder:
        run_path(runs[0][0], runs[0][1], Path(folder), args.backfill_only, args.page_size)


if __name__ == "__main__":
    main()
