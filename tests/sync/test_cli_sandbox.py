"""``leadsync sandbox``: a sandbox CRM in the foreground, reachable with the official client."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import threading

import urllib3
from hubspot import HubSpot
from polling import LEADSYNC


def read_until(process: subprocess.Popen, pattern: str, deadline_s: float = 30) -> re.Match:
    """Read the process's stdout until a line matches; fail at the deadline."""
    found: list[re.Match] = []
    seen: list[str] = []

    def reader() -> None:
        for line in process.stdout:
            seen.append(line)
            match = re.search(pattern, line)
            if match:
                found.append(match)
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(deadline_s)
    assert found, f"no line matched {pattern!r} in {deadline_s}s: {seen}"
    return found[0]


def test_hubspot_sandbox_serves_the_official_client_and_stops_on_ctrl_c():
    process = subprocess.Popen(
        [LEADSYNC, "sandbox", "hubspot", "--contacts", "30", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = read_until(process, r" at (http://127\.0\.0\.1:\d+)").group(1)
        token = read_until(process, r"token:\s+(\S+)").group(1)
        page = HubSpot(access_token=token, host=url).crm.contacts.basic_api.get_page(limit=100)
        assert len(page.results) == 30
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()


def test_bad_fault_spec_is_a_usage_error():
    done = subprocess.run(
        [LEADSYNC, "sandbox", "hubspot", "--faults", "bogus=1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "unknown fault 'bogus'" in done.stderr


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    finally:
        process.kill()
        process.wait()


def test_a_hubspot_token_without_a_scope_shows_leadsyncs_missing_scope_message(tmp_path):
    process = subprocess.Popen(
        [
            LEADSYNC,
            "sandbox",
            "hubspot",
            "--contacts",
            "100",
            "--without-scopes",
            "sales-email-read",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = read_until(process, r" at (http://127\.0\.0\.1:\d+)").group(1)
        token = read_until(process, r"token:\s+(\S+)").group(1)
        scopes = read_until(process, r"scopes:\s+(.+) \(not the others\)").group(1)
        assert "crm.objects.contacts.read" in scopes and "sales-email-read" not in scopes
        (tmp_path / "accounts.yaml").write_text(
            f"accounts:\n  - {{id: acme, crm: hubspot, credentials: {{token: T}}, host: '{url}'}}\n"
        )
        done = subprocess.run(
            [LEADSYNC, "check", "--account", "acme", "--accounts", str(tmp_path / "accounts.yaml")],
            env={**os.environ, "T": token},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        _stop(process)
    assert done.returncode == 1
    assert "the credentials lack the scope sales-email-read" in done.stdout


def test_an_unknown_scope_is_a_usage_error_with_a_suggestion():
    done = subprocess.run(
        [LEADSYNC, "sandbox", "hubspot", "--scopes", "crm.objects.contacts.reed"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert (
        "unknown scope 'crm.objects.contacts.reed' (did you mean 'crm.objects.contacts.read'?)"
        in (done.stderr)
    )


def test_the_salesforce_sandbox_prints_the_line_that_makes_another_process_trust_it(tmp_path):
    process = subprocess.Popen(
        [LEADSYNC, "sandbox", "salesforce", "--port", "0", "--contacts", "20"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = read_until(process, r"Salesforce sandbox on (https://127\.0\.0\.1:\d+)").group(1)
        line = read_until(process, r"^\s+(export REQUESTS_CA_BUNDLE=.+)$").group(1)
        client = read_until(process, r"client_id=(\S+) client_secret=(\S+)")
        name, _, value = shlex.split(line)[1].partition("=")
        (tmp_path / "accounts.yaml").write_text(
            "accounts:\n  - {id: globex, crm: salesforce, credentials: "
            f"{{consumer_key: {client.group(1)}, consumer_secret: S, instance_url: '{url}'}}}}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.endswith("CA_BUNDLE")}
        done = subprocess.run(  # as a user who pasted the printed line into another shell
            [
                LEADSYNC,
                "check",
                "--account",
                "globex",
                "--accounts",
                str(tmp_path / "accounts.yaml"),
            ],
            env={**env, name: value, "S": client.group(2)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        _stop(process)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok    credentials and read access" in done.stdout


def test_hubspot_sandbox_can_serve_the_dated_api_only():
    process = subprocess.Popen(
        [LEADSYNC, "sandbox", "hubspot", "--contacts", "30", "--api", "2026-03"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = read_until(process, r"2026-03 API only\) at (http://127\.0\.0\.1:\d+)").group(1)
        token = read_until(process, r"token:\s+(\S+)").group(1)
        pool, auth = urllib3.PoolManager(), {"Authorization": f"Bearer {token}"}
        dated = pool.request("GET", f"{url}/crm/objects/2026-03/contacts?limit=5", headers=auth)
        legacy = pool.request("GET", f"{url}/crm/v3/objects/contacts?limit=5", headers=auth)
        assert (dated.status, len(dated.json()["results"]), legacy.status) == (200, 5, 404)
    finally:
        _stop(process)


def test_an_unknown_api_family_is_a_usage_error():
    done = subprocess.run(
        [LEADSYNC, "sandbox", "hubspot", "--api", "v3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "legacy or 2026-03" in done.stderr
