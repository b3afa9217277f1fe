"""``leadsync score`` on a large file shows a progress bar to a person, never to a pipe."""

from __future__ import annotations

import io
import os
import pty
import subprocess
from pathlib import Path

from builders import write_leads_file
from polling import LEADSYNC
from rich.console import Console

from leadsync.sync.leadfile import read_leads
from leadsync.sync.progress import MIN_BYTES, reading

ARGS = ["score", "-m", "b2b-saas", "-f", "jsonl", "--as-of", "2026-11-23T00:00:00Z"]


def _score(leads: Path, stderr: int) -> subprocess.CompletedProcess[bytes]:
    args = [LEADSYNC, *ARGS, "-l", str(leads)]
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=stderr, timeout=300)


def test_a_large_file_scored_at_a_terminal_shows_a_bar(tmp_path):
    leads = tmp_path / "big.jsonl"
    count = write_leads_file(leads, MIN_BYTES // 1_000_000 + 1)
    out = tmp_path / "scores.jsonl"
    parent, child = pty.openpty()
    with out.open("wb") as stdout:
        run = subprocess.Popen([LEADSYNC, *ARGS, "-l", str(leads)], stdout=stdout, stderr=child)
    os.close(child)
    shown = bytearray()
    while True:  # read the terminal as the run writes it, until the run closes it
        try:
            chunk = os.read(parent, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(parent)
    assert run.wait(timeout=300) == 0
    assert out.read_bytes().count(b"\n") == count
    assert "scoring big.jsonl" in shown.decode(errors="replace")


def test_no_bar_on_a_pipe_or_for_a_small_file(tmp_path):
    big = tmp_path / "big.jsonl"
    write_leads_file(big, MIN_BYTES // 1_000_000 + 1)
    piped = _score(big, subprocess.PIPE)
    assert piped.returncode == 0 and b"scoring" not in piped.stderr

    small = tmp_path / "small.jsonl"
    write_leads_file(small, 1)
    terminal = Console(file=io.StringIO(), force_terminal=True)
    with reading(str(small), terminal) as progress:
        assert progress is None
    with reading(str(big), terminal) as progress:
        assert progress is not None


def test_reading_reports_every_character_it_read(tmp_path):
    leads = tmp_path / "leads.jsonl"
    write_leads_file(leads, 3)
    told: list[int] = []
    scored = sum(1 for _ in read_leads(leads, progress=told.append))
    assert scored > 1000
    assert sum(told) == len(leads.read_text(encoding="utf-8"))
