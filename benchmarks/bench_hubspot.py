"""HubSpot sync against the sandbox's Professional profile (190 calls / 10 s, search 5/s).

Run:  python benchmarks/bench_hubspot.py [--contacts 10000] [--baseline 1000]

For N contacts: a backfill, an incremental run right after it (it reads back the
backfill's own writes and skips them), an incremental run with no change, and one
with 1 % of the contacts changed. For each: API calls by endpoint, calls per 100
contacts, the least calls the page and batch limits allow for the records moved,
wall time against the rate-limit bound (calls ÷ 19 per second), 429s received, and
peak memory. Then a naive baseline on ``--baseline`` contacts — read each contact
with its engagement one call at a time and update each with its own call, as a
hand-written script would — against leadsync on the same contacts.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from hubspot import HubSpot

from leadsync.config.accounts import Account
from leadsync.config.templates import resolve_model
from leadsync.connectors.hubspot import BATCH_LIMITS, HubSpotConnector
from leadsync.connectors.sandbox.hubspot import HubSpotSandbox
from leadsync.scoring.engine import score
from leadsync.sync.pipeline import Sync
from leadsync.sync.state import StateStore

PER_SECOND = 19.0  # Professional: 190 calls per ten seconds
TOKEN_ENV = "LEADSYNC_BENCH_HUBSPOT_TOKEN"


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step(sandbox: HubSpotSandbox, account: Account, store: StateStore, mode: str) -> dict:
    sandbox.counters.reset()
    connector = HubSpotConnector(account)
    started = time.perf_counter()
    report = Sync(account, connector, store, resolve_model("b2b-saas")).run(mode)  # type: ignore[arg-type]
    wall = time.perf_counter() - started
    usage = connector.usage()
    connector.close()
    snapshot = sandbox.counters.snapshot()
    throttled = sum(by.get(429, 0) for by in snapshot.values())
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
    with HubSpotSandbox(contacts=contacts, seed=1, profile="professional") as sandbox:
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
        sandbox.touch(max(1, contacts // 100))
        time.sleep(6)
        show("incremental, 1 % changed", contacts, step(sandbox, account, store, "incremental"))
        store.close()


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
                ours = step(sandbox, account, store, "backfill")
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
