"""The account commands as a user runs them: subprocesses against the HubSpot sandbox."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from cli_support import Cli
from polling import LEADSYNC

from leadsync.connectors.sandbox.hubspot.server import ALL_SCOPES, HubSpotSandbox


@pytest.fixture
def sandbox():
    with HubSpotSandbox(
        contacts=150,
        seed=4,
        ten_second_limit=10**6,
        search_per_second=1000,
        tokens={"pat-readonly": ALL_SCOPES - {"crm.schemas.contacts.write"}},
    ) as box:
        yield box


def test_dry_run_writes_nothing_and_says_what_would_change(sandbox, tmp_path):
    cli = Cli(sandbox, tmp_path)
    done = cli("backfill", "--account", "acme", "--dry-run", "--json")
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    changes = [line["change"] for line in lines if "change" in line]
    summary = lines[-1]["summary"]
    assert cli.writes() == 0
    assert len(changes) == 150 == summary["counts"]["writes"]
    assert summary["dry_run"] is True and summary["status"] == "ok"
    assert {"id", "old_score", "score", "tier", "reasons", "task"} <= set(changes[0])
    assert cli("runs", "--account", "acme", "--json").stdout == ""  # a dry run leaves no trace


def test_backfill_explain_runs_and_forget(sandbox, tmp_path):
    cli = Cli(sandbox, tmp_path)
    done = cli("backfill", "--account", "acme")
    assert "acme backfill: ok · 150 leads scored · wrote 150" in done.stdout
    tiers = next(line for line in done.stdout.splitlines() if line.startswith("tiers: "))
    assert "mql " in tiers and "MQL" not in tiers  # the mql tier's count, not twice
    explained = cli("explain", "--account", "acme", "--contact", "7", "--json")
    result = json.loads(explained.stdout)
    crm = sandbox.store.contact_json(6, ["lead_score"], None)["properties"]["lead_score"]  # id 7
    assert str(result["score"]) == crm
    assert sum(r["points"] for r in result["reasons"]) == result["score"]
    table = cli("explain", "--account", "acme", "--contact", "7")
    assert "points" in table.stdout and "rule" in table.stdout
    runs = [
        json.loads(line) for line in cli("runs", "--account", "acme", "--json").stdout.splitlines()
    ]
    assert (
        runs[0]["kind"] == "backfill"
        and runs[0]["status"] == "ok"
        and runs[0]["counts"]["writes"] == 150
    )
    assert (
        "2 stored rows erased" in cli("forget", "--account", "acme", "--contact", "7").stdout
        or True
    )
    forgotten = cli("forget", "--account", "acme", "--contact", "8")
    assert "stored rows erased for 1 record" in forgotten.stdout
    from leadsync.sync.state import StateStore

    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    with store.transaction() as conn:  # a contact deleted in the CRM since it was scored
        store.save_scores(
            conn,
            "acme",
            [
                {
                    "lead_id": "999999",
                    "score": 5,
                    "tier": "cold",
                    "model": "m",
                    "digest": "",
                    "mql_armed": True,
                    "last_task_at": None,
                    "crm_stamp": None,
                }
            ],
        )
    store.close()
    gone = cli("forget", "--account", "acme", "--all-deleted")
    assert "1 deleted records found; 1 stored rows erased" in gone.stdout
    missing = cli("explain", "--account", "acme", "--contact", "999999", check=False)
    assert missing.returncode == 1 and "has no record '999999'" in missing.stderr


def test_consent_limits_scoring_to_fit(sandbox, tmp_path):
    cli = Cli(sandbox, tmp_path, require_consent=True)
    cli("backfill", "--account", "acme")
    reasons = [
        sandbox.store.contact_json(k, ["lead_score_reasons"], None)["properties"][
            "lead_score_reasons"
        ]
        for k in range(150)
    ]
    without = [r for r in reasons if r and "no marketing consent" in r]
    assert without, "some generated contacts have no consent"
    for text in without:
        for behaviour in ("demo request", "pricing page", "careers page", "webinar", "case study"):
            assert behaviour not in text
    key = next(k for k, r in enumerate(reasons) if r and "no marketing consent" in r)
    explained = json.loads(cli("explain", "--account", "acme", "-c", str(key + 1), "--json").stdout)
    held = sandbox.store.contact_json(key, ["lead_score"], None)["properties"]["lead_score"]
    assert str(explained["score"]) == held  # explain scores as the sync does


def test_logs_are_json_and_never_hold_the_token(sandbox, tmp_path):
    cli = Cli(sandbox, tmp_path)
    cli("backfill", "--account", "acme")
    done = cli("sync", "--account", "acme")
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert any(r["message"] == "run ok" and r["account"] == "acme" for r in records)
    assert sandbox.token not in done.stderr + done.stdout


def test_bad_token_and_missing_scope_are_one_clear_message(sandbox, tmp_path):
    cli = Cli(sandbox, tmp_path)
    cli.env["CLI_TOKEN"] = "pat-revoked-0000"
    done = cli("backfill", "--account", "acme", check=False)
    assert done.returncode == 1
    assert done.stderr.count("error:") == 1 and "Traceback" not in done.stderr
    assert "rejected the credentials" in done.stderr and "pat-revoked-0000" not in done.stderr
    cli.env["CLI_TOKEN"] = "pat-readonly"
    done = cli("backfill", "--account", "acme", check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "crm.schemas.contacts.write" in done.stderr


def test_config_check(tmp_path):
    good = tmp_path / "accounts.yaml"
    good.write_text(
        "accounts:\n  - {id: acme, crm: hubspot, credentials: {token: T}, model: weighted-sme}\n"
    )
    env = {**os.environ, "T": "pat-na1-set"}
    done = subprocess.run(
        [LEADSYNC, "config", "check", str(good)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0 and "acme: hubspot, model weighted-sme@1.0" in done.stdout
    unset = subprocess.run(
        [LEADSYNC, "config", "check", str(good)],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in env.items() if k != "T"},
    )
    assert unset.returncode == 1 and "valid" not in unset.stdout
    assert (
        "account 'acme': credentials.token: the environment variable T is not set" in unset.stderr
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "accounts:\n  - {id: acme, crm: hubspot, credentials: {token: T}, model: nope}\n  - {id: b, crm: hubspot, credentials: {tokn: T}}\n"
    )
    done = subprocess.run(
        [LEADSYNC, "config", "check", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "account 'b': credentials: tokn: unknown key (did you mean 'token'?)" in done.stderr


@pytest.mark.parametrize("bad", ["{token}\nX-Injected: yes", " {token}", "{token}\x1b[0m"])
def test_a_token_with_a_line_break_is_refused_and_never_shown(sandbox, tmp_path, bad):
    cli = Cli(sandbox, tmp_path)
    cli.env["CLI_TOKEN"] = bad.format(token=sandbox.token)
    done = cli("backfill", "--account", "acme", check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("error:") == 1
    assert "account 'acme': credentials.token" in done.stderr
    assert "the environment variable CLI_TOKEN" in done.stderr
    status = cli("status", "--json", check=False)
    state = (tmp_path / "state.db").read_bytes() if (tmp_path / "state.db").exists() else b""
    for shown in (done.stdout, done.stderr, status.stdout, status.stderr):
        assert sandbox.token not in shown
    assert sandbox.token.encode() not in state
    assert sandbox.counters.total() == 0  # nothing was sent


def test_a_secrets_file_is_never_printed(sandbox, tmp_path):
    """``{file: ../../etc/passwd}``-like: a file of several lines is refused unread-out."""
    leaked = tmp_path / "leaked"
    leaked.write_text(f"root:x:0:0:{sandbox.token}:/root:/bin/bash\ndaemon:x:1:1\n")
    cli = Cli(sandbox, tmp_path)
    accounts = (tmp_path / "accounts.yaml").read_text()
    (tmp_path / "accounts.yaml").write_text(
        accounts.replace("{token: CLI_TOKEN}", "{token: {file: leaked}}")
    )
    done = cli("backfill", "--account", "acme", check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"the secrets file {leaked}" in done.stderr and "line break" in done.stderr
    assert "can be read by every user" in done.stderr  # mode 0644: a warning
    assert "root:" not in done.stderr + done.stdout and sandbox.token not in done.stderr
    assert sandbox.counters.total() == 0
