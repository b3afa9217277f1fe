"""A bad ``LEADSYNC_*`` setting or state-database URL, through the real ``leadsync``
command: one line naming the variable, the value and what is accepted; exit 1, as every
configuration fault; no traceback and no password."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from polling import LEADSYNC

SECRET = "pg-s3cret-9f8e"


def leadsync(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    (cwd / "no-secrets").mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith("LEADSYNC_")}
    return subprocess.run(
        [LEADSYNC, *args],
        env={
            **base,
            "LEADSYNC_SECRETS_DIR": str(cwd / "no-secrets"),
            "LEADSYNC_STATE_PATH": str(cwd / "state.db"),
            "ACME_TOKEN": "pat-test",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "accounts.yaml").write_text(
        "accounts:\n  - {id: acme, crm: hubspot, credentials: {token: ACME_TOKEN}, "
        "host: 'http://127.0.0.1:9'}\n"
    )
    return tmp_path


def one_line_fault(done: subprocess.CompletedProcess[str]) -> str:
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output and SECRET not in output, output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, output
    return lines[0]


@pytest.mark.parametrize(
    ("args", "name", "value", "accepted"),
    [
        (["model", "list"], "LEADSYNC_MODELS_PATH", "[1,2", "a JSON list of folders"),
        (["sync", "-a", "acme"], "LEADSYNC_LOG_FORMAT", "xml", "auto, json or text"),
        (["status"], "LEADSYNC_LOG_FORMAT", "xml", "auto, json or text"),
        (["sync", "-a", "acme"], "LEADSYNC_LOG_LEVEL", "verbose", "debug, info, warning"),
        (["status"], "LEADSYNC_LOG_LEVEL", "verbose", "debug, info, warning"),
        (["model", "list"], "LEADSYNC_LOG_LEVEL", "verbose", "debug, info, warning"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_a_bad_setting_is_one_line_naming_it(
    folder: Path, args: list[str], name: str, value: str, accepted: str
) -> None:
    line = one_line_fault(leadsync(args, {name: value}, folder))
    assert line.startswith(f"error: {name}={value!r}: "), line
    assert accepted in line


def test_a_plain_models_path_finds_the_models_in_it(folder: Path) -> None:
    (folder / "models").mkdir()
    (folder / "models" / "mine.yaml").write_text(
        "name: mine\nversion: 1\nrules: [{id: a, on: call, points: 5}]\n"
        "tiers: [{name: x}]\nmql_threshold: 5\n"
    )
    done = leadsync(["model", "list"], {"LEADSYNC_MODELS_PATH": "./models"}, folder)
    assert done.returncode == 0, done.stderr
    assert "mine" in done.stdout.splitlines()[0]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            f"mysql://leadsync:{SECRET}@db.example/leadsync",
            "error: state database mysql://leadsync:***@db.example/leadsync: leadsync "
            "supports SQLite and PostgreSQL only",
        ),
        ("::nope", "error: state database ::nope: not a database URL"),
        (
            f"postgresql://leadsync:{SECRET}@db.example:notaport/leadsync",
            "error: state database postgresql://leadsync:***@db.example:notaport/leadsync: "
            "the port 'notaport' is not a number",
        ),
    ],
)
def test_a_bad_database_url_is_one_line_saying_what_to_do(
    folder: Path, url: str, message: str
) -> None:
    line = one_line_fault(leadsync(["runs", "-a", "acme"], {"LEADSYNC_DATABASE_URL": url}, folder))
    assert line.startswith(message), line
    assert line.endswith("check LEADSYNC_DATABASE_URL"), line


def test_an_empty_database_url_means_the_sqlite_file(folder: Path) -> None:
    done = leadsync(["sync", "-a", "acme", "--dry-run"], {"LEADSYNC_DATABASE_URL": ""}, folder)
    assert "not a database URL" not in done.stderr, done.stderr
    assert (folder / "state.db").exists(), done.stderr
