"""Waiting on things in tests: a condition polled until a deadline, never a fixed sleep,
and a ``leadsync backfill`` killed mid-run then run again to the end."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

LEADSYNC = str(Path(sys.executable).with_name("leadsync"))


def wait_for(
    condition: Callable[[], bool], deadline_s: float = 60, what: str = "the condition"
) -> None:
    """Poll ``condition`` every 20 ms; fail once ``deadline_s`` has passed."""
    end = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


def kill_backfill_then_finish(
    env: Mapping[str, str], writes: Callable[[], int], kill_at: int, done_at: int
) -> int:
    """SIGKILL ``leadsync backfill --account acme`` once ``writes()`` reaches ``kill_at``
    (and before ``done_at``, when it would have finished), then run it to the end; returns
    how many times the second run was refused because the killed one's lease still held
    the account (never on SQLite; on PostgreSQL until ``LEADSYNC_LEASE`` passes)."""
    first = subprocess.Popen(
        [LEADSYNC, "backfill", "--account", "acme"], env=env, stderr=subprocess.PIPE
    )
    wait_for(lambda: writes() >= kill_at or first.poll() is not None, what="the first writes")
    first.kill()
    first.wait()
    assert writes() < done_at, "the run finished before it could be killed"
    done: list[subprocess.CompletedProcess[str]] = []

    def finished() -> bool:
        done.append(
            subprocess.run(
                [LEADSYNC, "backfill", "--account", "acme"],
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
        )
        return HELD not in done[-1].stderr

    wait_for(finished, 120, "the killed run's lease to free the account")
    assert done[-1].returncode == 0, done[-1].stderr
    return len(done) - 1


#: What a run refused because another holds the account's lease says.
HELD = "is being synced by another leadsync run"
