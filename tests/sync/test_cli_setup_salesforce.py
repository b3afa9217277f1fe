"""``leadsync setup`` on Salesforce as a user runs it: a subprocess against the HTTPS sandbox."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from polling import LEADSYNC

from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox


class Cli:
    """``leadsync`` with an accounts file naming one Salesforce account on ``box``."""

    def __init__(self, box: SalesforceSandbox, folder: Path) -> None:
        (folder / "accounts.yaml").write_text(
            "accounts:\n"
            "  - {id: globex, crm: salesforce, salesforce: {objects: [Lead, Contact]}, "
            f"credentials: {{consumer_key: {box.client_id}, consumer_secret: SF_SECRET, "
            f"instance_url: '{box.instance_url}'}}}}\n"
        )
        self.env = {
            **os.environ,
            "SF_SECRET": box.client_secret,
            "LEADSYNC_STATE_PATH": str(folder / "state.db"),
            "LEADSYNC_ACCOUNTS_FILE": str(folder / "accounts.yaml"),
            # connectors opened by name use a default session: requests honours these
            "REQUESTS_CA_BUNDLE": box.ca_path,
            "CURL_CA_BUNDLE": box.ca_path,
        }

    def __call__(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [LEADSYNC, *args], env=self.env, capture_output=True, text=True, timeout=120
        )


def test_setup_create_then_backfill_then_nothing_to_create(tmp_path: Path) -> None:
    with SalesforceSandbox(leads=15, contacts=5, seed=2, score_fields=False) as box:
        cli = Cli(box, tmp_path)
        done = cli("setup", "--account", "globex", "--create")
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert "globex: created field Lead.Lead_Score__c (Number(18, 2))" in lines
        assert (
            "globex: created field Contact.Lead_Score_Reasons__c (Long Text Area(32768))" in lines
        )
        assert sum(" created field " in line for line in lines) == 8
        assert any("created permission set Leadsync_Integration" in line for line in lines)
        assert any("created assignment of Leadsync_Integration" in line for line in lines)
        assert lines[-1] == "globex: the score fields are in place"

        backfill = cli("backfill", "--account", "globex")
        assert backfill.returncode == 0, backfill.stderr
        scored = [r for r in box.store.rows("Lead") if r.get("Lead_Score__c") is not None]
        assert len(scored) == sum(1 for r in box.store.rows("Lead") if not r["IsConverted"])
        assert all(r.get("Lead_Score_Tier__c") for r in box.store.rows("Contact"))

        again = cli("setup", "--account", "globex", "--create")
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines() == ["globex: the score fields are in place"]


def test_setup_create_without_the_permission_is_one_clear_message(tmp_path: Path) -> None:
    with SalesforceSandbox(leads=5, score_fields=False, metadata_access=False) as box:
        done = Cli(box, tmp_path)("setup", "--account", "globex", "--create")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and done.stdout == ""
    message = done.stderr
    assert message.startswith("error: Salesforce: the integration user may not create fields")
    for needle in ("INSUFFICIENT_ACCESS", "Modify Metadata Through Metadata API Functions",
                   "Setup → Object Manager → Lead", "Setup → Object Manager → Contact",
                   "Leadsync_Integration"):  # fmt: skip
        assert needle in message, needle


def test_setup_without_create_on_a_missing_field_prints_the_steps(tmp_path: Path) -> None:
    with SalesforceSandbox(leads=5, score_fields=False) as box:
        done = Cli(box, tmp_path)("setup", "--account", "globex")
        assert "POST Soap/m/createMetadata" not in box.counters.snapshot()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "Lead has no field Lead_Score__c" in done.stderr
    assert "Setup → Object Manager → Lead" in done.stderr
    assert "leadsync setup --account globex --create" in done.stderr
