"""Output piped into a reader that stops early (``leadsync … | head -1``): the real
``leadsync`` command exits 0 quietly, whichever printer met the closed pipe (rich's
console, click's echo, a plain write), with no traceback or "Exception ignored"."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from polling import LEADSYNC

from leadsync.sync.state import StateStore


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "accounts.yaml").write_text(
        "accounts:\n  - {id: acme, crm: hubspot, credentials: {token: PIPE_TOKEN}}\n"
    )
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        store.finish_run(store.start_run("acme", "backfill"), "ok", {"leads": 1}, None)
    finally:
        store.close()
    return {
        **os.environ,
        "LEADSYNC_ACCOUNTS_FILE": str(tmp_path / "accounts.yaml"),
        "LEADSYNC_STATE_PATH": str(tmp_path / "state.db"),
    }


@pytest.mark.parametrize(
    "args",
    [
        ["score", "-m", "b2b-saas"],
        ["score", "-m", "b2b-saas", "-f", "jsonl"],
        ["score", "-m", "b2b-saas", "-f", "csv"],
        ["runs", "-a", "acme"],
        ["runs", "-a", "acme", "--json"],
        ["history", "-a", "acme", "-c", "1"],
        ["status", "--json"],
        ["model", "list"],
        ["model", "show", "b2b-saas"],
    ],
    ids=" ".join,
)
def test_a_closed_pipe_ends_the_command_quietly_with_0(
    env: dict[str, str], args: list[str]
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first write: every write fails
    try:
        done = subprocess.run(
            [LEADSYNC, *args],
            env=env,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert done.returncode == 0, done.stderr
    for noise in ("Traceback", "Exception ignored", "BrokenPipe", "Broken pipe"):
        assert noise not in done.stderr, done.stderr
