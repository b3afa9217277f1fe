"""``leadsync score`` streams: a 200 MB file costs no more memory than a 20 MB one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from builders import write_leads_file
from polling import LEADSYNC

# Runs leadsync in a child and prints the child's peak resident memory in KiB.
PEAK_RSS = """
import resource, subprocess, sys
with open(sys.argv[2], "w") as out:
    done = subprocess.run(sys.argv[1:2] + sys.argv[3:], stdout=out)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def peak_rss_kib(leads: Path, output: Path) -> int:
    args = [
        LEADSYNC,
        str(output),
        "score",
        "-m",
        "b2b-saas",
        "-l",
        str(leads),
        "-f",
        "jsonl",
        "--as-of",
        "2026-11-23T00:00:00Z",
    ]
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    code, peak = done.stdout.split()
    assert code == "0", done.stderr
    return int(peak)


def test_score_memory_does_not_grow_with_the_file(tmp_path):
    small, large = tmp_path / "small.jsonl", tmp_path / "large.jsonl"
    small_count = write_leads_file(small, 20)
    large_count = write_leads_file(large, 200)
    assert large.stat().st_size >= 195_000_000
    small_peak = peak_rss_kib(small, tmp_path / "small.out")
    large_peak = peak_rss_kib(large, tmp_path / "large.out")
    with (tmp_path / "large.out").open() as out:
        assert sum(1 for _ in out) == large_count
    assert small_count * 9 < large_count
    # Ten times the leads, the same memory (a few MiB of allocator noise allowed).
    print(f"peak RSS: {small_peak} KiB for {small_count} leads, {large_peak} KiB for {large_count}")
    assert large_peak - small_peak < 8 * 1024, (small_peak, large_peak)
