"""``leadsync check`` and ``leadsync setup`` without ``--create``: they change nothing.

Run as a user runs them (subprocesses) against the HubSpot and Salesforce sandboxes; what
was written is read from the sandboxes' own call counters and the state folder.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from polling import LEADSYNC

from leadsync.connectors.sandbox.hubspot.routes import ALL_SCOPES
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox
from leadsync.sync.check import SAMPLE

#: Sandbox endpoints that change something.
WRITES = ("create", "update", "delete", "archive", "upsert", "insert", "POST ", "PATCH ")


def leadsync(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LEADSYNC, *args],
        env={**os.environ, "LEADSYNC_STATE_PATH": str(folder / "state.db"), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def writes(counters: dict[str, dict[str, int]]) -> list[str]:
    reads = ("batch_read", "query", "search", "oauth2/token")
    return [
        name
        for name in counters
        if any(w in name for w in WRITES) and not any(r in name for r in reads)
    ]


def test_check_and_setup_change_nothing_until_setup_create(tmp_path: Path) -> None:
    limited = ALL_SCOPES - {"sales-email-read"}
    with HubSpotSandbox(contacts=100, seed=0, tokens={"pat-limited": limited}) as box:
        (tmp_path / "accounts.yaml").write_text(
            "accounts:\n"
            f"  - {{id: acme, crm: hubspot, credentials: {{token: TOK}}, host: '{box.url}', "
            "tasks: {round_robin: ['41629700']}}\n"
            f"  - {{id: narrow, crm: hubspot, credentials: {{token: NARROW}}, host: '{box.url}'}}\n"
        )
        env = {"TOK": box.token, "NARROW": "pat-limited"}
        accounts = ("--accounts", str(tmp_path / "accounts.yaml"))

        fresh = leadsync(tmp_path, "check", "--account", "acme", *accounts, **env)
        assert fresh.returncode == 1, fresh.stderr
        assert f"ok    credentials and read access: accepted; read {SAMPLE} leads" in fresh.stdout
        assert (
            "FAIL  fields: HubSpot account 'acme': missing: the property group 'Lead scoring', "
            "the contact property lead_score, the contact property lead_score_tier" in fresh.stdout
        )
        assert "leadsync setup --account acme --create` creates what is missing" in fresh.stdout
        assert "ok    API budget:" in fresh.stdout
        assert "nothing was changed" in fresh.stdout
        assert not (tmp_path / "state.db").exists()  # the state is not even opened

        checked = leadsync(tmp_path, "setup", "--account", "acme", *accounts, **env)
        assert checked.returncode == 1 and "Traceback" not in checked.stderr
        assert "missing: the property group" in checked.stderr
        assert "nothing was changed" in checked.stderr
        assert writes(box.counters.snapshot()) == []

        narrow = leadsync(tmp_path, "check", "--account", "narrow", *accounts, **env)
        assert narrow.returncode == 1
        assert "the credentials lack the scope sales-email-read (" in narrow.stdout

        unset = leadsync(tmp_path, "check", "--account", "acme", *accounts)
        assert unset.returncode == 1
        assert "FAIL  credentials: credentials.token: the environment variable TOK is not set" in (
            unset.stdout
        )
        assert writes(box.counters.snapshot()) == []

        created = leadsync(tmp_path, "setup", "--account", "acme", "--create", *accounts, **env)
        assert created.returncode == 0, created.stderr
        assert "acme: created lead_score" in created.stdout
        ready = leadsync(tmp_path, "check", "--account", "acme", *accounts, **env)
        assert ready.returncode == 0, ready.stdout
        assert "ok    fields: leadsync's score fields are in place" in ready.stdout
        assert "ok    owners: every round-robin owner (41629700) is active" in ready.stdout
        for done in (fresh, checked, narrow, ready):
            assert box.token not in done.stdout + done.stderr


def test_check_a_salesforce_org_trusting_its_ca_file(tmp_path: Path) -> None:
    """No REQUESTS_CA_BUNDLE: without ``salesforce.ca_file`` the sandbox's certificate is
    not trusted (one message at once, no retries); with it, TLS works."""
    with SalesforceSandbox(leads=10, seed=2) as box:
        env = {k: v for k, v in os.environ.items() if not k.endswith("CA_BUNDLE")}
        env |= {"SF_SECRET": box.client_secret, "LEADSYNC_STATE_PATH": str(tmp_path / "s.db")}

        def check(options: str) -> subprocess.CompletedProcess[str]:
            (tmp_path / "accounts.yaml").write_text(
                "accounts:\n"
                f"  - {{id: globex, crm: salesforce, salesforce: {{{options}}}, "
                f"credentials: {{consumer_key: {box.client_id}, consumer_secret: SF_SECRET, "
                f"instance_url: '{box.instance_url}'}}}}\n"
            )
            return subprocess.run(
                [LEADSYNC, "check", "--account", "globex"],
                env={**env, "LEADSYNC_ACCOUNTS_FILE": str(tmp_path / "accounts.yaml")},
                capture_output=True,
                text=True,
                timeout=120,
            )

        untrusted = check("")
        assert untrusted.returncode == 1
        assert "the CRM's TLS certificate is not trusted here" in untrusted.stdout
        assert "salesforce.ca_file" in untrusted.stdout and "retrying" not in untrusted.stderr
        assert box.counters.snapshot() == {}  # refused at the TLS handshake, never retried
        done = check(f"ca_file: '{box.ca_path}'")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "ok    credentials and read access: accepted; read 10 leads" in done.stdout
        assert "ok    fields: leadsync's score fields are in place" in done.stdout
        assert writes(box.counters.snapshot()) == []
        assert box.client_secret not in done.stdout + done.stderr


def test_check_reads_one_small_page_even_on_enterprise(tmp_path: Path) -> None:
    """The read step samples a few leads: one list page, and on Enterprise one events call
    per sampled contact — not a whole 1,000-contact group (1,049 calls before)."""
    with HubSpotSandbox(contacts=1500, seed=0, profile="enterprise") as box:
        (tmp_path / "accounts.yaml").write_text(
            "accounts:\n"
            f"  - {{id: acme, crm: hubspot, credentials: {{token: TOK}}, host: '{box.url}'}}\n"
        )
        done = leadsync(tmp_path, "check", "--account", "acme", "--accounts",
                        str(tmp_path / "accounts.yaml"), TOK=box.token)  # fmt: skip
        assert f"ok    credentials and read access: accepted; read {SAMPLE} leads" in done.stdout
        calls = {name: sum(by.values()) for name, by in box.counters.snapshot().items()}
        assert calls["contacts.list"] == 1
        assert calls["events.list"] <= SAMPLE
        assert box.counters.total() < 2 * SAMPLE


def test_the_readme_says_how_many_leads_check_reads() -> None:
    """The README tells a new user what ``check`` reads: the sample it really reads."""
    readme = " ".join((Path(__file__).parents[2] / "README.md").read_text().split())
    assert f"one page of up to {SAMPLE} leads" in readme


def test_check_a_salesforce_org_without_the_score_fields(tmp_path: Path) -> None:
    """Reading works without leadsync's fields; their absence is the fields step's to
    report, with the ``setup --create`` hint — not a SOQL error in the read step."""
    with SalesforceSandbox(leads=10, seed=2, score_fields=False) as box:
        (tmp_path / "accounts.yaml").write_text(
            "accounts:\n"
            f"  - {{id: globex, crm: salesforce, salesforce: {{ca_file: '{box.ca_path}'}}, "
            f"credentials: {{consumer_key: {box.client_id}, consumer_secret: SF_SECRET, "
            f"instance_url: '{box.instance_url}'}}}}\n"
        )
        done = leadsync(tmp_path, "check", "--account", "globex", "--accounts",
                        str(tmp_path / "accounts.yaml"), SF_SECRET=box.client_secret)  # fmt: skip
        assert done.returncode == 1, done.stdout + done.stderr
        assert "ok    credentials and read access: accepted; read 10 leads" in done.stdout
        assert "FAIL  fields: Salesforce: Lead has no field Lead_Score__c" in done.stdout
        assert "`leadsync setup --account globex --create` creates what is missing" in done.stdout
        assert "ok    owners:" in done.stdout and "ok    API budget:" in done.stdout
        assert "INVALID_FIELD" not in done.stdout and "SELECT" not in done.stdout
        assert writes(box.counters.snapshot()) == []
