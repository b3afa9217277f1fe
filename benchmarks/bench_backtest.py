"""Backtest throughput and memory: ``leadsync model backtest`` on generated leads.

Run:  python benchmarks/bench_backtest.py [--leads 100000] [--small 10000] [--model b2b-saas]

Writes the sandbox generator's people as canonical JSON Lines with their outcome
(:mod:`leadsync.connectors.sandbox.leads`), then runs ``leadsync model backtest
--format json`` as a user does (a child process, file to report) on ``--small`` and
on ``--leads`` leads, and prints for each the wall time, leads/s (reading, parsing,
scoring, metrics, the command's start-up included) and the peak memory of the command
and its worker processes; then the throughput past start-up (the extra leads of the
large run over its extra time). The target: at least 20,000 leads/s,
and the same peak memory for both sizes (a backtest keeps a score histogram).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from leadsync.connectors.sandbox.data import generate
from leadsync.connectors.sandbox.leads import lead_jsons

LEADSYNC = str(Path(sys.executable).with_name("leadsync"))
PEAK_RSS = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(done.stdout, end="")
"""


def write_leads(path: Path, n: int, seed: int = 3) -> None:
    with path.open("w", encoding="utf-8") as out:
        for lead in lead_jsons(generate(n, seed=seed)):
            out.write(json.dumps(lead) + "\n")


def run(path: Path, model: str) -> tuple[float, int, dict]:
    args = [LEADSYNC, "model", "backtest", "-m", model, "-l", str(path), "-f", "json"]
    args += ["--as-of", "2026-11-01T00:00:00Z"]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *args], capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - start
    first, _, body = done.stdout.partition("\n")
    code, peak = first.split()
    if code != "0":
        raise SystemExit(done.stderr)
    return wall, int(peak), json.loads(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--model", default="b2b-saas")
    args = parser.parse_args()
    walls: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        for n in (args.small, args.leads):
            path = Path(folder) / f"leads-{n}.jsonl"
            write_leads(path, n)
            events = sum(line.count('"type"') for line in path.open(encoding="utf-8"))
            wall, peak, report = run(path, args.model)
            print(
                f"{args.model}: {n} leads ({events / n:.1f} events each, "
                f"{path.stat().st_size / 1e6:.0f} MB): {wall:.2f} s, {n / wall:,.0f} leads/s, "
                f"peak {peak / 1024:.0f} MiB; AUC {report['auc']}"
            )
            walls[n] = wall
    extra = args.leads - args.small
    if extra > 0:
        rate = extra / (walls[args.leads] - walls[args.small])
        print(f"throughput past start-up ({extra} more leads): {rate:,.0f} leads/s")


if __name__ == "__main__":
    main()
