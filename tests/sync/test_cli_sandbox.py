"""``leadsync sandbox``: a sandbox CRM in the foreground, reachable with the official client."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

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


def _stop(process: subprocess.Popen) -> None:
    """Ctrl-C; a sandbox still running 30 s later is killed, and that is a failure."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError("leadsync sandbox did not stop within 30 s of Ctrl-C") from None


@contextlib.contextmanager
def sandbox(*args: str) -> Iterator[subprocess.Popen]:
    """``leadsync sandbox ARGS`` running for the block, its stdout read with
    :func:`read_until`; stopped with Ctrl-C at the end (killed if it does not exit)."""
    process = subprocess.Popen(
        [LEADSYNC, "sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # never read: a full pipe would stall the sandbox
        text=True,
    )
    try:
        yield process
    finally:
        _stop(process)


@contextlib.contextmanager
def hubspot_sandbox(*args: str, serves: str = "") -> Iterator[tuple[subprocess.Popen, str, str]]:
    """``leadsync sandbox hubspot ARGS`` once it has printed its URL (after ``serves``,
    a pattern) and token: the process, the URL and the token."""
    with sandbox("hubspot", *args) as process:
        url = read_until(process, rf"{serves} at (http://127\.0\.0\.1:\d+)").group(1)
        token = read_until(process, r"token:\s+(\S+)").group(1)
        yield process, url, token


def run_leadsync(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``leadsync ARGS`` run to its end, its output captured."""
    return subprocess.run([LEADSYNC, *args], env=env, capture_output=True, text=True, timeout=60)


def check(accounts: Path, account_id: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``leadsync check`` of one account of an accounts file."""
    return run_leadsync("check", "--account", account_id, "--accounts", str(accounts), env=env)


def test_hubspot_sandbox_serves_the_official_client_and_stops_on_ctrl_c():
    with hubspot_sandbox("--contacts", "30", "--seed", "3") as (process, url, token):
        page = HubSpot(access_token=token, host=url).crm.contacts.basic_api.get_page(limit=100)
        assert len(page.results) == 30
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0


def test_bad_fault_spec_is_a_usage_error():
    done = run_leadsync("sandbox", "hubspot", "--faults", "bogus=1")
    assert done.returncode == 2
    assert "unknown fault 'bogus'" in done.stderr


def test_a_hubspot_token_without_a_scope_shows_leadsyncs_missing_scope_message(tmp_path):
    args = ("--contacts", "100", "--without-scopes", "sales-email-read")
    with hubspot_sandbox(*args) as (process, url, token):
        scopes = read_until(process, r"scopes:\s+(.+) \(not the others\)").group(1)
        assert "crm.objects.contacts.read" in scopes and "sales-email-read" not in scopes
        (tmp_path / "accounts.yaml").write_text(
            f"accounts:\n  - {{id: acme, crm: hubspot, credentials: {{token: T}}, host: '{url}'}}\n"
        )
        done = check(tmp_path / "accounts.yaml", "acme", env={**os.environ, "T": token})
    assert done.returncode == 1
    assert "the credentials lack the scope sales-email-read" in done.stdout


def test_an_unknown_scope_is_a_usage_error_with_a_suggestion():
    done = run_leadsync("sandbox", "hubspot", "--scopes", "crm.objects.contacts.reed")
    assert done.returncode == 2
    assert (
        "unknown scope 'crm.objects.contacts.reed' (did you mean 'crm.objects.contacts.read'?)"
        in (done.stderr)
    )


def test_the_salesforce_sandbox_prints_the_line_that_makes_another_process_trust_it(tmp_path):
    with sandbox("salesforce", "--port", "0", "--contacts", "20") as process:
        url = read_until(process, r"Salesforce sandbox on (https://127\.0\.0\.1:\d+)").group(1)
        line = read_until(process, r"^\s+(export REQUESTS_CA_BUNDLE=.+)$").group(1)
        client = read_until(process, r"client_id=(\S+) client_secret=(\S+)")
        name, _, value = shlex.split(line)[1].partition("=")
        (tmp_path / "accounts.yaml").write_text(
            "accounts:\n  - {id: globex, crm: salesforce, credentials: "
            f"{{consumer_key: {client.group(1)}, consumer_secret: S, instance_url: '{url}'}}}}\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.endswith("CA_BUNDLE")}
        # as a user who pasted the printed line into another shell
        done = check(
            tmp_path / "accounts.yaml", "globex", env={**env, name: value, "S": client.group(2)}
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok    credentials and read access" in done.stdout


def test_hubspot_sandbox_can_serve_the_dated_api_only():
    args = ("--contacts", "30", "--api", "2026-03")
    with hubspot_sandbox(*args, serves=r"2026-03 API only\)") as (_, url, token):
        pool, auth = urllib3.PoolManager(), {"Authorization": f"Bearer {token}"}
        dated = pool.request("GET", f"{url}/crm/objects/2026-03/contacts?limit=5", headers=auth)
        legacy = pool.request("GET", f"{url}/crm/v3/objects/contacts?limit=5", headers=auth)
        assert (dated.status, len(dated.json()["results"]), legacy.status) == (200, 5, 404)


def test_an_unknown_api_family_is_a_usage_error():
    done = run_leadsync("sandbox", "hubspot", "--api", "v3")
    assert done.returncode == 2 and "legacy or 2026-03" in done.stderr
