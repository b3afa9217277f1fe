"""HubSpot sync against the sandbox's Professional profile (190 calls / 10 s, search 5/s).

Run:  python benchmarks/bench_hubspot.py [--contacts 10000] [--baseline 1000]

For N contacts: a backfill, an incremental run right after it (it reads back the
backfill's own writes and skips them), an incremental run with no change, and one
with 1 % of the contacts changed. For each: API calls by endpoint, calls per 100
contacts, the least calls the page and batch limits allow for the records moved,
wall time against the rate-limit bound (calls ÷ 19 per second), 429s received, and
peak memory (leadsync's alone: the sandbox runs in its own process). Then a naive
baseline on ``--baseline`` contacts — read each contact with its engagement one call
at a time and update each with its own call, as a hand-written script would —
against leadsync on the same contacts.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests
from hubspot import HubSpot

from leadsync.config.accounts import Account
from leadsync.config.templates import resolve_model
from leadsync.connectors.hubspot.connector import BATCH_LIMITS, HubSpotConnector
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.scoring.engine import score
from leadsync.sync.pipeline import Sync
from leadsync.sync.state import StateStore

PER_SECOND = 19.0  # Professional: 190 calls per ten seconds
TOKEN_ENV = "LEADSYNC_BENCH_HUBSPOT_TOKEN"


class RemoteSandbox:
    """``leadsync sandbox hubspot`` in its own process, so the memory measured here is
    leadsync's alone; counters and activity through the sandbox's admin endpoints."""

    def __init__(self, contacts: int) -> None:
        command = [str(Path(sys.executable).with_name("leadsync")), "sandbox", "hubspot"]
        self.process = subprocess.Popen(
            [*command, "--contacts", str(contacts), "--seed", "1", "--api", "2026-03"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if found := re.search(r" at (http://\S+)", line):
                self.url = found.group(1)
            if found := re.search(r"token:\s+(\S+)", line):
                self.token = found.group(1)
                break

    def snapshot(self) -> dict[str, dict[int, int]]:
        return requests.get(f"{self.url}/__sandbox/counters", timeout=30).json()["counters"]

    def reset(self) -> None:
        requests.post(f"{self.url}/__sandbox/reset-counters", timeout=30)

    def touch(self, count: int) -> None:
        requests.post(f"{self.url}/__sandbox/touch", json={"count": count}, timeout=60)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step(sandbox: RemoteSandbox, account: Account, store: StateStore, mode: str) -> dict:
    sandbox.reset()
    connector = HubSpotConnector(account)
    started = time.perf_counter()
    report = Sync(account, connector, store, resolve_model("b2b-saas")).run(mode)  # type: ignore[arg-type]
    wall = time.perf_counter() - started
    usage = connector.usage()
    connector.close()
    snapshot = sandbox.snapshot()
    throttled = sum(int(by.get("429", 0)) for by in snapshot.values())
    return {
        "report": report,
        "usage": usage,
        "wall": wall,
        "throttled": throttled,
        "minimum": usage.minimum(BATCH_LIMITS),
    }


def show(label: str, contacts: int, result: dict) -> None:
    usage, wall = result["usage"], result["wall"]
    bound = usage.total / PER_SECOND
    c = result["report"].counts
    print(
        f"\n{label}: {c['leads']} scored, {c['skipped_own_writes']} skipped (own writes), "
        f"{c['writes']} written, {c['tasks']} tasks"
    )
    print(
        f"  {usage.total} calls ({usage.total / contacts * 100:.2f} per 100 contacts), "
        f"minimum {result['minimum']} (ratio {usage.total / max(result['minimum'], 1):.2f}); "
        f"wall {wall:.1f} s vs rate-limit bound {bound:.1f} s "
        f"(ratio {wall / bound if bound else 0:.2f}); 429s {result['throttled']}; "
        f"peak memory {peak_mib():.0f} MiB"
    )
    for name, calls in sorted(usage.calls.items(), key=lambda kv: -kv[1]):
        print(f"    {name:44} {calls:6} calls {usage.items.get(name, 0):8} records")


def leadsync_runs(contacts: int, folder: Path, backfill_only: bool = False) -> None:
    sandbox = RemoteSandbox(contacts)
    try:
        os.environ[TOKEN_ENV] = sandbox.token
        account = Account(
            id="bench", crm="hubspot", credentials={"token": TOKEN_ENV}, host=sandbox.url
        )
        store = StateStore(f"sqlite:///{folder / f'state-{contacts}.db'}")
        print(f"=== {contacts:,} contacts, Professional profile")
        show("backfill", contacts, step(sandbox, account, store, "backfill"))
        if backfill_only:
            store.close()
            return
        show(
            "incremental after the backfill", contacts, step(sandbox, account, store, "incremental")
        )
        time.sleep(6)  # past the connector's 5-second search overlap, as between scheduled runs
        show("incremental, no change", contacts, step(sandbox, account, store, "incremental"))
        time.sleep(6)
        show(
            "again, no change (steady state)",
            contacts,
            step(sandbox, account, store, "incremental"),
        )
        sandbox.touch(max(1, contacts // 100))
        time.sleep(6)
        show("incremental, 1 % changed", contacts, step(sandbox, account, store, "incremental"))
        store.close()
    finally:
        sandbox.stop()


def naive(contacts: int) -> tuple[int, float]:
    """Per-contact reads and one update call per contact, paced at the same limit."""
    with HubSpotSandbox(contacts=contacts, seed=1, profile="professional") as sandbox:
        client = HubSpot(access_token=sandbox.token, host=sandbox.url)
        model, now = resolve_model("b2b-saas"), datetime.now(UTC)
        connector_account = Account(
            id="naive", crm="hubspot", credentials={"token": TOKEN_ENV}, host=sandbox.url
        )
        os.environ[TOKEN_ENV] = sandbox.token
        leads = {
            c.lead.id: c.lead
            for page in HubSpotConnector(connector_account).all_leads(None)
            for c in page.leads
        }
        client.crm.properties.core_api.create(
            "contacts",
            {
                "name": "lead_score",
                "label": "Lead Score",
                "type": "number",
                "fieldType": "number",
                "groupName": "contactinformation",
            },
        )
        sandbox.counters.reset()
        started, calls = time.perf_counter(), 0
        pace = 1 / PER_SECOND
        for contact_id, lead in leads.items():
            value = str(score(lead, model, now).score)
            update = {"inputs": [{"id": contact_id, "properties": {"lead_score": value}}]}
            for method, arguments in (
                (client.crm.contacts.basic_api.get_by_id, (contact_id,)),
                (client.crm.contacts.batch_api.update, (update,)),
            ):
                began = time.perf_counter()
                method(*arguments)
                calls += 1
                time.sleep(max(0.0, pace - (time.perf_counter() - began)))
        return calls, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, nargs="+", default=[10_000])
    parser.add_argument("--baseline", type=int, default=1_000, help="0 skips the baseline")
    parser.add_argument("--backfill-only", action="store_true", help="skip the incremental runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for contacts in args.contacts:
            leadsync_runs(contacts, Path(folder), args.backfill_only)
        if args.baseline:
            n = args.baseline
            with HubSpotSandbox(contacts=n, seed=1, profile="professional") as sandbox:
                os.environ[TOKEN_ENV] = sandbox.token
                account = Account(
                    id="b", crm="hubspot", credentials={"token": TOKEN_ENV}, host=sandbox.url
                )
                store = StateStore(f"sqlite:///{Path(folder) / 'baseline.db'}")
                connector = HubSpotConnector(account)
                began = time.perf_counter()
                Sync(account, connector, store, resolve_model("b2b-saas")).run("backfill")
                ours = {"usage": connector.usage(), "wall": time.perf_counter() - began}
                connector.close()
                store.close()
            calls, wall = naive(n)
            print(
                f"\n=== naive baseline, {n:,} contacts: {calls} calls in {wall:.1f} s; leadsync "
                f"{ours['usage'].total} calls in {ours['wall']:.1f} s "
                f"({calls / ours['usage'].total:.1f}× fewer calls, "
                f"{wall / ours['wall']:.1f}× faster; the naive script reads no engagement "
                f"objects and creates no tasks)"
            )
            print(f"(rate-limit bound for the naive script: {math.ceil(calls / PER_SECOND)} s)")


if __name__ == "__main__":
    main()
