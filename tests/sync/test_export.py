"""``leadsync export`` against the HubSpot sandbox over HTTP: canonical leads, outcomes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from polling import LEADSYNC

from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.connectors.sandbox.outcomes import outcome_of
from leadsync.scoring.lead import parse_lead


@pytest.fixture
def sandbox():
    with HubSpotSandbox(
        contacts=450, seed=8, ten_second_limit=10**6, search_per_second=1000
    ) as box:
        yield box


def run(sandbox: HubSpotSandbox, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (folder / "accounts.yaml").write_text(
        f"accounts:\n  - {{id: acme, crm: hubspot, credentials: {{token: CLI_TOKEN}}, host: '{sandbox.url}'}}\n"
    )
    env = {
        **os.environ,
        "CLI_TOKEN": sandbox.token,
        "LEADSYNC_STATE_PATH": str(folder / "state.db"),
        "LEADSYNC_ACCOUNTS_FILE": str(folder / "accounts.yaml"),
    }
    return subprocess.run([LEADSYNC, *args], env=env, capture_output=True, text=True, timeout=120)


def calls(sandbox: HubSpotSandbox, prefix: str) -> int:
    snap = sandbox.counters.snapshot()
    return sum(sum(by.values()) for ep, by in snap.items() if ep.startswith(prefix))


def test_export_with_outcomes_follows_the_generated_outcomes(sandbox, tmp_path):
    done = run(
        sandbox,
        tmp_path,
        "export",
        "--account",
        "acme",
        "--with-outcomes",
        "-o",
        str(tmp_path / "leads.jsonl"),
    )
    assert done.returncode == 0, done.stderr
    assert "450 leads exported in" in done.stderr
    leads = [
        parse_lead(json.loads(line)) for line in (tmp_path / "leads.jsonl").read_text().splitlines()
    ]
    assert len(leads) == 450 and all(lead.outcome is not None for lead in leads)
    store = sandbox.store
    seen = {"customer": 0, "lost": 0, "open": 0, "lead": 0}
    for lead in leads:
        truth = outcome_of(store.person(lead.id))
        got = lead.outcome
        assert got.converted == truth.converted, lead.id
        if truth.converted:
            seen["customer"] += 1
            assert (
                got.stage == "customer"
                and got.won_at == truth.won_at
                and got.converted_at == truth.won_at
            )
            assert got.sql_at == truth.sql_at and got.amount == truth.amount
        elif truth.stage == "lost":
            seen["lost"] += 1
            assert got.lost_at == truth.lost_at and got.won_at is None
        elif truth.converted is None:
            seen["open"] += 1
        else:
            seen["lead"] += 1
            assert got.sql_at is None
    assert all(seen.values()), seen
    deals = sum(1 for p in store.dataset.people[:450] if outcome_of(p).sql_at is not None)
    assert calls(sandbox, "deals.batch_read") == -(-deals // 100)
    assert calls(sandbox, "associations.contacts_deals") == 1
    assert calls(sandbox, "contacts.batch_read") == 0  # the lifecycle properties came with the list


def test_export_is_what_the_engine_scores_and_backtests(sandbox, tmp_path):
    plain = run(sandbox, tmp_path, "export", "--account", "acme")
    assert plain.returncode == 0, plain.stderr
    rows = [json.loads(line) for line in plain.stdout.splitlines()]
    assert len(rows) == 450 and "outcome" not in rows[0]
    assert calls(sandbox, "deals.") == 0
    lead = parse_lead(rows[0])
    assert lead.events and lead.properties.get("email") == sandbox.store.person(lead.id).email
    since = run(sandbox, tmp_path, "export", "--account", "acme", "--since", "2100-01-01T00:00:00Z")
    assert since.returncode == 0 and since.stdout == ""
    naive = run(sandbox, tmp_path, "export", "--account", "acme", "--since", "2026-01-01")
    assert naive.returncode == 2 and "has no timezone" in naive.stderr


def test_the_lab_reads_an_account_directly(sandbox, tmp_path):
    backtest = run(
        sandbox,
        tmp_path,
        "model",
        "backtest",
        "-m",
        "b2b-saas",
        "--account",
        "acme",
        "--as-of",
        "2026-11-01T00:00:00Z",
        "-f",
        "json",
    )
    assert backtest.returncode == 0, backtest.stderr
    report = json.loads(backtest.stdout)
    assert report["leads"] + report["without_outcome"] == 450 and report["converted"] > 0
    diff = run(
        sandbox,
        tmp_path,
        "model",
        "diff",
        "b2b-saas",
        "lifecycle-phases",
        "--account",
        "acme",
        "--as-of",
        "2026-11-01T00:00:00Z",
        "-f",
        "json",
    )
    assert diff.returncode == 0, diff.stderr
    compared = json.loads(diff.stdout)
    assert compared["leads"] == 450 and compared["backtest"]["old"] == report
    neither = run(sandbox, tmp_path, "model", "backtest", "-m", "b2b-saas")
    assert neither.returncode == 2 and "give --leads FILE or --account ID" in neither.stderr
