"""``leadsync sandbox``: a sandbox CRM in the foreground, reachable with the official client."""

from __future__ import annotations

import re
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
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        process.wait()


def test_an_unknown_api_family_is_a_usage_error():
    done = subprocess.run(
        [LEADSYNC, "sandbox", "hubspot", "--api", "v3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "legacy or 2026-03" in done.stderr
