"""The Singer tap for HubSpot (tap-hubspot 4.5.0, from PyPI) against the sandbox.

A widely used third-party extractor, run as a subprocess from its own virtualenv
(:mod:`tap_venv`) with its base URL redirected to the sandbox (``run_tap_hubspot.py``):
discovery must complete (it reads contact, company, deal and ticket properties — legacy
v1/v2 reads included — and the custom object schemas), then a sync of ``contacts`` and
``owners`` must complete without error, and its RECORD messages must be the sandbox's
contacts and active owners, value for value.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tap_venv import tap_python

from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox

RUNNER = Path(__file__).with_name("run_tap_hubspot.py")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[HubSpotSandbox]:
    """A Professional sandbox of 250 contacts (three pages of the tap's 100)."""
    with HubSpotSandbox(
        contacts=250, seed=17, search_per_second=1000, ten_second_limit=10**6
    ) as sb:
        yield sb


def _run(
    python: Path, sb: HubSpotSandbox, tmp: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    config = tmp / "config.json"
    config.write_text(json.dumps({"api_key": sb.token, "start_date": "2000-01-01T00:00:00Z"}))
    env = os.environ | {"TAP_HUBSPOT_BASE_URL": sb.url, "NO_PROXY": "127.0.0.1,localhost"}
    return subprocess.run(
        [str(python), str(RUNNER), "--config", str(config), *args],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _same(kind: str, sandbox_value: str | None, tap_value: Any) -> bool:
    """A sandbox string as the tap types it (numbers, booleans, date-times)."""
    if sandbox_value is None or tap_value is None:
        return sandbox_value is None and tap_value is None
    if kind == "number":
        return float(sandbox_value) == float(tap_value)
    if kind == "bool":
        return (sandbox_value == "true") is tap_value
    if kind == "datetime":
        return _instant(sandbox_value) == _instant(tap_value)
    return sandbox_value == tap_value


def test_tap_hubspot_reads_contacts_and_owners(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    sandbox: HubSpotSandbox,
) -> None:
    python = tap_python(request.config, tmp_path_factory, "tap-hubspot==4.5.0")
    discovered = _run(python, sandbox, tmp_path, "--discover")
    assert discovered.returncode == 0, discovered.stderr[-3000:]
    catalog = json.loads(discovered.stdout)
    streams = {s["tap_stream_id"]: s for s in catalog["streams"]}
    assert {"contacts", "companies", "deals", "owners"} <= set(streams)
    assert "tickets" not in streams  # 403 MISSING_SCOPES: the tap leaves the stream out

    for name in ("contacts", "owners"):
        for entry in streams[name]["metadata"]:
            entry["metadata"]["selected"] = True
    selected = tmp_path / "selected.json"
    selected.write_text(json.dumps({"streams": [streams["contacts"], streams["owners"]]}))
    synced = _run(python, sandbox, tmp_path, "--properties", str(selected))
    assert synced.returncode == 0, synced.stderr[-3000:]
    assert "CRITICAL" not in synced.stderr and "ERROR" not in synced.stderr
    assert "Sync completed" in synced.stderr

    messages = [json.loads(line) for line in synced.stdout.splitlines() if line.strip()]
    records: dict[str, list[dict[str, Any]]] = {"contacts": [], "owners": []}
    for m in messages:
        if m["type"] == "RECORD":
            records[m["stream"]].append(m["record"])
    store = sandbox.store
    assert [r["id"] for r in records["contacts"]] == [str(k + 1) for k in range(250)]
    defs = store.props["contacts"]
    for record in records["contacts"]:
        props = store.contact_props(int(record["id"]) - 1)
        got = record["properties"]
        assert set(got) == set(defs)
        wrong = {
            n: (props.get(n), v) for n, v in got.items() if not _same(defs[n].type, props.get(n), v)
        }
        assert wrong == {}, f"contact {record['id']}: {wrong}"
        assert record["property_email"] == props["email"]
    owners = [o for o in store.dataset.owners if o.active]
    assert [(r["id"], r["email"]) for r in records["owners"]] == [(o.id, o.email) for o in owners]

    counts = sandbox.counters.snapshot()
    assert counts["contacts.list"] == {200: 3}
    assert all(404 not in by and 500 not in by for by in counts.values()), counts
