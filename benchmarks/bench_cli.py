"""Start-up of the command line: CPU time of ``leadsync --help``, ``--version`` and
``score`` on one lead, and which heavy libraries each one loads.

Run:  python benchmarks/bench_cli.py [--runs 10]

Each command runs ``--runs`` times as a fresh process (the console script, as a user
runs it); the CPU time is the child's user + system time from ``getrusage``, so other
processes on the machine do not count (wall time does, so it is not reported). The
median is printed. The heavy libraries are those a command must not load
(``tests/test_layout.py`` checks the same list).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

LEADSYNC = str(Path(sys.executable).with_name("leadsync"))
HEAVY = ("sqlalchemy", "simple_salesforce", "zeep", "hubspot", "apscheduler", "matplotlib",
         "psycopg", "requests", "prometheus_client")  # fmt: skip
#: Runs ``leadsync`` through its entry point, then prints the heavy modules it loaded.
PROBE = (
    "import sys; sys.argv = ['leadsync', *sys.argv[1:]]\n"
    "from leadsync.sync.cli import main\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
)


def cpu_seconds(argv: list[str]) -> float:
    """User + system CPU time of one run of ``argv`` as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_modules(args: list[str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True
    )
    return done.stderr.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        lead = Path(folder) / "one.jsonl"
        lead.write_text(json.dumps({"id": "c1", "properties": {"title": "CEO"}}) + "\n")
        commands = {
            "leadsync --help": ["--help"],
            "leadsync --version": ["--version"],
            "leadsync score (one lead)": ["score", "-m", "b2b-saas", "-l", str(lead)],
        }
        print("| command | CPU time (median) | heavy libraries loaded |")
        print("|---|--:|---|")
        for label, args in commands.items():
            times = [cpu_seconds([LEADSYNC, *args]) for _ in range(options.runs)]
            print(f"| `{label}` | {statistics.median(times):.2f} s | {heavy_modules(args)} |")


if __name__ == "__main__":
    main()
