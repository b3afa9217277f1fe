"""The commands that only read the state (status, runs, history; forget --contact only
erases from it), through the real ``leadsync`` command: they never create a state
database, a missing one is one line naming the path and LEADSYNC_STATE_PATH, and an
account no one knows is named as such."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from polling import LEADSYNC

from leadsync.sync.state import StateStore

READ_ONLY = [
    ["status"],
    ["status", "--json"],
    ["runs", "-a", "acme"],
    ["runs", "-a", "acme", "--json"],
    ["history", "-a", "acme", "-c", "1"],
    ["forget", "-a", "acme", "-c", "1"],  # only erases: nothing stored where no state is
]


def leadsync(args: list[str], folder: Path, state: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("LEADSYNC_")}
    return subprocess.run(
        [LEADSYNC, *args],
        env={
            **base,
            "LEADSYNC_STATE_PATH": str(state),
            "LEADSYNC_ACCOUNTS_FILE": str(folder / "accounts.yaml"),
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=folder,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "accounts.yaml").write_text(
        "accounts:\n  - {id: acme, crm: hubspot, credentials: {token: ACME_TOKEN}}\n"
    )
    return tmp_path


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
@pytest.mark.parametrize("where", ["no/such/dir/state.db", "state.db"])
def test_a_read_only_command_creates_no_state_and_says_it_is_missing(
    folder: Path, args: list[str], where: str
) -> None:
    state = folder / where
    done = leadsync(args, folder, state)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"error: no state database at {state}: "), lines[0]
    assert "LEADSYNC_STATE_PATH" in lines[0]
    assert not state.exists()
    assert not (folder / "no").exists()


@pytest.fixture
def state(folder: Path) -> Path:
    """A real state database holding a finished run of 'gone', an account the accounts
    file no longer lists."""
    path = folder / "state.db"
    store = StateStore(f"sqlite:///{path}")
    try:
        store.finish_run(store.start_run("gone", "backfill"), "ok", {"leads": 3}, None)
    finally:
        store.close()
    return path


@pytest.mark.parametrize(
    "args", [["runs", "-a", "nope"], ["history", "-a", "nope", "-c", "1"]], ids=" ".join
)
def test_an_account_neither_the_file_nor_the_state_knows_is_named(
    folder: Path, state: Path, args: list[str]
) -> None:
    done = leadsync(args, folder, state)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.strip() == "error: no account 'nope' in the accounts file (known: acme)"
    assert done.stdout == ""


def test_an_account_removed_from_the_file_still_shows_its_runs(folder: Path, state: Path) -> None:
    done = leadsync(["runs", "-a", "gone", "--json"], folder, state)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["status"] for line in done.stdout.splitlines()] == ["ok"]


def test_a_listed_account_without_runs_is_an_empty_history(folder: Path, state: Path) -> None:
    done = leadsync(["runs", "-a", "acme"], folder, state)
    assert done.returncode == 0, done.stderr
    assert "acme: last 0 runs" in done.stdout
