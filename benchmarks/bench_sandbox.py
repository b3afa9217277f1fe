"""Sandbox data: how fast N people generate and a sandbox loads, and what a million weigh.

Run:  python benchmarks/bench_sandbox.py [--people 1000000]
"""

from __future__ import annotations

import argparse
import resource
import time

from leadsync.connectors.sandbox.data import generate
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    args = parser.parse_args()
    for label, start in (
        ("HubSpot sandbox, 10,000 contacts", lambda: HubSpotSandbox(contacts=10_000).start()),
        ("Salesforce sandbox, 10,000 leads", lambda: SalesforceSandbox(leads=10_000).start()),
    ):
        began = time.perf_counter()
        sandbox = start()
        print(f"{label}: generated and loaded in {time.perf_counter() - began:.1f} s")
        sandbox.stop()
    began = time.perf_counter()
    data = generate(args.people)
    took = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{len(data.people):,} people generated in {took:.1f} s; peak memory {peak:,.0f} MiB")


if __name__ == "__main__":
    main()
