"""Salesforce sync against the sandbox org: REST and Bulk API 2.0 backfills, incrementals.

Run:  python benchmarks/bench_salesforce.py [--leads 10000] [--paths rest bulk]
      python benchmarks/bench_salesforce.py --leads 200000 --paths bulk

For N leads (with their Tasks, Events and CampaignMembers): a backfill on the REST path
(``bulk_threshold`` above N) and on the Bulk path (``bulk_threshold`` 1,000), each
followed by an incremental run right after it (the backfill's own writes must be left
out), an incremental run with no change, and one with 1 % of the leads changed (their Title set to
"Chief Executive Officer" through simple-salesforce). For
each: API calls by endpoint (REST and Bulk, as the connector counted them), wall time,
peak memory (the process's, which includes the in-process sandbox org: its size after
loading is shown first), and the fewest calls the batch limits allow for the records
moved:

- REST: query pages of 2,000 rows (leads; each activity source — its rows for the leads
  read, counted beforehand with ``SELECT COUNT()`` — at least one query per 2,000 ids in
  ``IN`` lists; the Task look-up before creating MQL tasks), 200 records
  per ``composite/sobjects`` PATCH (scores) and POST (tasks);
- Bulk: create + poll + results per query job (leads, each activity source); create +
  upload + close + poll + failed-results per ingest job (scores, one job per page);
- one OAuth token call and one describe per object (the score-field check) per run, and a
  ``SELECT COUNT()`` per backfill.

The sandbox answers Bulk polls "InProgress" once, so Bulk runs include the connector's
real poll delays (0.5 s, then 1 s); REST runs are bound by the sandbox's CPU only.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from leadsync.config.accounts import Account
from leadsync.config.templates import resolve_model
from leadsync.connectors.salesforce import BULK_PAGE, SalesforceConnector
from leadsync.connectors.salesforce_activity import sources_for
from leadsync.connectors.salesforce_soql import IN_CHUNK_IDS, chunk_ids, soql
from leadsync.connectors.salesforce_writes import BULK_WRITE_MIN, COLLECTION_MAX
from leadsync.connectors.sandbox.salesforce import SalesforceSandbox
from leadsync.sync.pipeline import Sync
from leadsync.sync.state import StateStore

SECRET_ENV = "LEADSYNC_BENCH_SF_SECRET"
QUERY_PAGE = 2_000
QUERY_JOB = 3  # create, poll, results
INGEST_JOB = 5  # create, upload, close, poll, failed results


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pages(records: int, size: int) -> int:
    return math.ceil(records / size)


class Bench:
    """One sandbox org, an account with the given Bulk threshold, and a state file."""

    def __init__(self, box: SalesforceSandbox, threshold: int, folder: Path, leads: int) -> None:
        self.box, self.leads = box, leads
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
        out = {}
        for source in self.sources:
            text = f"SELECT COUNT() FROM {source.sobject} WHERE {source.key} != null"
            text += f" AND {source.where}" if source.where else ""
            if ids is None:
                out[source.sobject] = client.query(text)["totalSize"]
                continue
            out[source.sobject] = sum(
                client.query(text + soql(f" AND {source.key} IN {{ids}}", ids=chunk))["totalSize"]
                for chunk in chunk_ids(ids)
            )
        return out

    def step(self, mode: str, changed: list[str] | None = None) -> dict[str, Any]:
        rows = self._activity_rows(changed) if changed else {}
        self.box.counters.reset()
        connector = SalesforceConnector(self.account, session=self.box.session())
        started = time.perf_counter()
        report = Sync(self.account, connector, self.store, resolve_model("b2b-saas")).run(mode)  # type: ignore[arg-type]
        wall = time.perf_counter() - started
        usage = connector.usage()
        connector.close()
        return {"report": report, "usage": usage, "wall": wall, "mode": mode, "rows": rows}

    def minimum(self, result: dict[str, Any]) -> int:
        c, mode = result["report"].counts, result["mode"]
        calls: Mapping[str, int] = result["usage"].calls
        bulk = any(name.startswith("bulk ") for name in calls)
        listed = c["leads"] + c["skipped_own_writes"]
        # an OAuth token and the score-field describe, where the run needed them at all
        least = sum(min(n, 1) for name, n in calls.items() if name.startswith("auth "))
        least += min(calls.get("rest GET sobjects/Lead/describe", 0), 1)
        ingest = bulk and mode == "backfill" and c["writes"] > BULK_WRITE_MIN
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
        if ingest:
            least += INGEST_JOB * pages(c["writes"], BULK_PAGE)
        else:
            least += pages(c["writes"], COLLECTION_MAX)
        least += pages(c["tasks"], IN_CHUNK_IDS) + pages(c["tasks"], COLLECTION_MAX)
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
            f"peak memory {peak_mib():.0f} MiB; daily allocation left "
            f"{usage.daily_remaining}/{usage.daily_limit}"
        )
        for name, calls in sorted(usage.calls.items(), key=lambda kv: (-kv[1], kv[0])):
            print(f"    {name:48} {calls:6}")

    def close(self) -> None:
        self.store.close()


def change_titles(box: SalesforceSandbox, count: int) -> list[str]:
    """A user edits ``count`` leads (Title → CEO, which moves most scores), 200 a call."""
    ids = [r["Id"] for r in box.store.rows("Lead") if not r.get("IsConverted")][:count]
    client = box.client()
    for start in range(0, len(ids), COLLECTION_MAX):
        records = [
            {"attributes": {"type": "Lead"}, "id": rid, "Title": "Chief Executive Officer"}
            for rid in ids[start : start + COLLECTION_MAX]
        ]
        client.restful("composite/sobjects", method="PATCH",
                       json={"allOrNone": False, "records": records})  # fmt: skip
    return ids


def run_path(leads: int, path: str, folder: Path, backfill_only: bool) -> None:
    threshold = 1_000 if path == "bulk" else leads + 1
    started = time.perf_counter()
    with SalesforceSandbox(leads=leads, seed=1, daily_limit=10**7) as box:
        bench = Bench(box, threshold, folder, leads)
        rows = ", ".join(f"{k} {v:,}" for k, v in bench.activity_rows.items())
        print(
            f"\n=== {leads:,} leads, {path.upper()} path (bulk_threshold {threshold:,}); "
            f"sandbox org loaded in {time.perf_counter() - started:.1f} s, "
            f"process at {peak_mib():.0f} MiB; activity rows {rows}"
        )
        bench.show("backfill", bench.step("backfill"))
        if not backfill_only:
            bench.show("incremental after the backfill", bench.step("incremental"))
            bench.show("incremental, no change", bench.step("incremental"))
            changed = change_titles(box, max(1, leads // 100))
            bench.show("incremental, 1 % changed", bench.step("incremental", changed))
        bench.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, nargs="+", default=[10_000])
    parser.add_argument("--paths", nargs="+", choices=["rest", "bulk"], default=["rest", "bulk"])
    parser.add_argument("--backfill-only", action="store_true", help="skip the incremental runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for leads in args.leads:
            for path in args.paths:
                run_path(leads, path, Path(folder), args.backfill_only)


if __name__ == "__main__":
    main()
