"""Soak: two daemon replicas on one PostgreSQL database keep many HubSpot accounts scored.

Run:  python benchmarks/bench_daemon.py [--accounts 20] [--contacts 5000] [--minutes 10]

What it does:

- a *farm* process (this script with ``--farm``) serves ``--accounts`` HubSpot sandboxes
  of ``--contacts`` contacts each (Professional limits: 190 calls / 10 s per account),
  with faults (2 % 502/503, 0.5 % dropped connections, 2 % of batch inputs refused, a
  burst of 429s every minute on one account) and activity (a few contacts touched on
  a random account every second);
- two ``leadsync daemon`` replicas share one PostgreSQL schema and one accounts file
  (every account ``interval: 30s``, ``jitter: 5s``, lease 30 s);
- at half time replica 2 is killed with SIGKILL and restarted: its accounts move to
  replica 1 when their leases expire;
- every 30 s: each replica's resident memory (``/proc/PID/status`` VmRSS) and its
  ``/metrics``;
- at the end both get SIGTERM; the run history (``runs`` table) gives runs, leads,
  API calls, lease handovers (consecutive runs of an account by different replicas),
  overlaps (two runs of one account at once: must be 0) and errors.

PostgreSQL: ``LEADSYNC_BENCH_POSTGRES_URL`` (default the local test server).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text

LEADSYNC = str(Path(sys.executable).with_name("leadsync"))
POSTGRES = os.environ.get(
    "LEADSYNC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
FAULTS = "error_rate=0.02,drop_rate=0.005,partial_failure_rate=0.02"


# -- the farm: many sandboxes in one process ---------------------------------------------
def farm(accounts: int, contacts: int) -> None:
    """Serve the sandboxes; print one JSON line with their URLs and tokens; run activity."""
    from leadsync.connectors.sandbox.faults import Faults
    from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox

    boxes = [
        HubSpotSandbox(contacts=contacts, seed=n, faults=Faults.parse(f"{FAULTS},seed={n}"))
        for n in range(accounts)
    ]
    for box in boxes:
        box.start()
    print(json.dumps([{"url": b.url, "token": b.token} for b in boxes]), flush=True)
    rng = random.Random(7)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    tick = 0
    while not stop.wait(1.0):
        tick += 1
        rng.choice(boxes).touch(rng.randint(1, 20), seed=tick)
        if tick % 60 == 0:
            rng.choice(boxes).faults.update(burst_429=5)
    for box in boxes:
        box.stop()


# -- the soak ---------------------------------------------------------------------------
class Replica:
    def __init__(self, name: str, port: int, env: dict[str, str], accounts: Path) -> None:
        self.name, self.port, self.env, self.accounts = name, port, env, accounts
        self.process: subprocess.Popen[bytes] | None = None
        self.log = open(accounts.parent / f"{name}.log", "ab")  # noqa: SIM115

    def start(self) -> None:
        self.process = subprocess.Popen(
            [LEADSYNC, "daemon", "--accounts", str(self.accounts), "--replica-id", self.name,
             "--http", f"127.0.0.1:{self.port}", "--lease", "30s", "--grace", "20s"],
            env=self.env, stdout=self.log, stderr=self.log,
        )  # fmt: skip

    def rss_mib(self) -> float:
        if self.process is None or self.process.poll() is not None:
            return 0.0
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def metrics(self) -> dict[str, float]:
        try:
            body = requests.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        except requests.RequestException:
            return {}
        totals: Counter[str] = Counter()
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                totals[sample.name] += sample.value
        return dict(totals)

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def history(url: str) -> list[dict[str, Any]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT account_id, kind, started_at, ended_at, status, counts, error, replica "
                "FROM runs ORDER BY account_id, started_at"
            )
        ).mappings()
        out = [dict(r) for r in rows]
    engine.dispose()
    return out


def summarize(runs: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        by_account[run["account_id"]].append(run)
    handovers = overlaps = 0
    for items in by_account.values():
        for a, b in itertools.pairwise(items):
            if a["replica"] != b["replica"]:
                handovers += 1
            if a["ended_at"] is not None and b["started_at"] < a["ended_at"]:
                overlaps += 1  # a killed run has no end: its lease's expiry bounds it
    counts: Counter[str] = Counter()
    for run in runs:
        counts.update(json.loads(run["counts"] or "{}"))
    statuses = Counter(r["status"] for r in runs)
    return {
        "runs": len(runs),
        "by_status": dict(statuses),
        "by_kind": dict(Counter(r["kind"] for r in runs)),
        "by_replica": dict(Counter(r["replica"] for r in runs)),
        "leads": counts["leads"],
        "leads_per_s": round(counts["leads"] / seconds, 1),
        "writes": counts["writes"],
        "tasks": counts["tasks"],
        "api_calls": counts["api_calls"],
        "write_failures": counts["write_failures"],
        "rate_limit_waits": counts["rate_limit_waits"],
        "handovers": handovers,
        "overlaps": overlaps,
        "errors": sorted({(r["error"] or "")[:100] for r in runs if r["status"] == "failed"}),
    }


def soak(accounts: int, contacts: int, minutes: float, sample_s: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="leadsync-soak-"))
    farm_process = subprocess.Popen(
        [sys.executable, __file__, "--farm", "--accounts", str(accounts),
         "--contacts", str(contacts)],
        stdout=subprocess.PIPE,
    )  # fmt: skip
    assert farm_process.stdout is not None
    boxes = json.loads(farm_process.stdout.readline())
    schema = f"soak_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
    lines = ["accounts:"]
    env = {**os.environ, "LEADSYNC_DATABASE_URL": url, "LEADSYNC_LOG_FORMAT": "json"}
    for n, box in enumerate(boxes):
        env[f"SOAK_TOKEN_{n}"] = box["token"]
        lines.append(
            f"  - {{id: acct{n:02d}, crm: hubspot, credentials: {{token: SOAK_TOKEN_{n}}}, "
            f"host: '{box['url']}', schedule: {{interval: 30s, jitter: 5s}}}}"
        )
    accounts_file = folder / "accounts.yaml"
    accounts_file.write_text("\n".join(lines) + "\n")
    replicas = [Replica(f"r{i}", free_port(), env, accounts_file) for i in (1, 2)]
    print(f"soak: {accounts} accounts × {contacts} contacts, {minutes} min, state {schema}")
    started = time.monotonic()
    for replica in replicas:
        replica.start()
    samples: list[tuple[float, list[float]]] = []
    killed = False
    end = started + minutes * 60
    while time.monotonic() < end:
        time.sleep(min(sample_s, max(0.0, end - time.monotonic())))
        elapsed = time.monotonic() - started
        samples.append((elapsed, [r.rss_mib() for r in replicas]))
        print(f"  {elapsed:6.0f} s  RSS " + "  ".join(f"{m:6.1f} MiB" for m in samples[-1][1]),
              flush=True)  # fmt: skip
        if not killed and elapsed >= minutes * 30:
            replicas[1].signal(signal.SIGKILL)
            replicas[1].wait(10)
            replicas[1].start()
            killed = True
            print("  replica r2 killed (SIGKILL) and restarted", flush=True)
    metrics = [r.metrics() for r in replicas]
    stop_started = time.monotonic()
    for replica in replicas:
        replica.signal(signal.SIGTERM)
    codes = [r.wait(60) for r in replicas]
    stop_s = time.monotonic() - stop_started
    seconds = time.monotonic() - started
    farm_process.send_signal(signal.SIGTERM)
    farm_process.wait(30)
    result = summarize(history(url), seconds)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()
    print(json.dumps(result, indent=2, default=str))
    print(f"exit codes after SIGTERM: {codes} in {stop_s:.1f} s")
    for name, values in zip(("r1", "r2"), metrics, strict=True):
        keys = ("leadsync_runs_total", "leadsync_api_calls_total", "leadsync_errors_total")
        print(name, {k: values.get(k, 0) for k in keys})
    print("memory (MiB) over time:")
    for elapsed, rss in samples:
        print(f"  {elapsed:6.0f} s  " + "  ".join(f"{m:6.1f}" for m in rss))
    print(f"logs: {folder}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=20)
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--farm", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.farm:
        farm(args.accounts, args.contacts)
    else:
        soak(args.accounts, args.contacts, args.minutes, args.sample)


if __name__ == "__main__":
    main()
