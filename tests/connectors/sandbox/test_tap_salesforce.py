"""Conformance: the Singer tap ``tap-salesforce`` (2.8.1, from PyPI, unmodified) reads the
Salesforce sandbox in REST mode (describe, ``queryAll`` paging) and in Bulk mode (Bulk API
1.0 query jobs), after its refresh-token login at login.salesforce.com is tunnelled to the
sandbox (see ``sf_tap_support``). Its RECORD messages are checked against the sandbox's data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sf_tap_support import TAP, LoginProxy, TapRun
from tap_venv import tap_python

from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox

STREAMS = ("Lead", "Contact", "Task", "Event", "CampaignMember")


@pytest.fixture(scope="session")
def tap(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tap's executable, in a virtualenv of its own made once."""
    return tap_python(request.config, tmp_path_factory, TAP).with_name("tap-salesforce")


@pytest.fixture(scope="module")
def box() -> Iterator[SalesforceSandbox]:
    """Enough CampaignMembers (> 2,000) for REST to page; Bulk batches done at first poll
    (the tap sleeps 20 s between polls)."""
    with SalesforceSandbox(
        leads=300, contacts=100, seed=23, opportunities=True, bulk_polls_in_progress=0
    ) as sandbox:
        yield sandbox


def _records(messages: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in messages:
        if message["type"] == "RECORD":
            out[message["stream"]].append(message["record"])
    return out


def _run(tap: Path, box: SalesforceSandbox, tmp_path: Path, api: str) -> tuple[Any, LoginProxy]:
    with LoginProxy(box.port) as proxy:
        run = TapRun(tap, box, proxy, tmp_path, api)
        catalog = run.discover()
        discovered = {entry["stream"]: entry for entry in catalog["streams"]}
        assert set(STREAMS) <= set(discovered)
        messages = run.sync(catalog, STREAMS)
    return (discovered, _records(messages)), proxy


def _check_against_sandbox(box: SalesforceSandbox, records: dict[str, list[dict]]) -> None:
    assert set(records) == set(STREAMS)
    for stream in STREAMS:
        stored = {r["Id"]: r for r in box.store.rows(stream, include_deleted=True)}
        got = {r["Id"]: r for r in records[stream]}
        assert len(records[stream]) == len(stored), stream  # each row once
        assert set(got) == set(stored), stream
    leads = {r["Id"]: r for r in records["Lead"]}
    for rid in sorted(box.store.tables["Lead"])[::50]:
        stored, got = box.store.tables["Lead"][rid], leads[rid]
        assert (got["Email"], got["Country"], got["OwnerId"]) == (
            stored["Email"], stored["Country"], stored["OwnerId"],
        )  # fmt: skip
        assert got["IsConverted"] is False


def test_rest_mode_reads_every_stream(tap: Path, box: SalesforceSandbox, tmp_path: Path) -> None:
    box.counters.reset()
    (discovered, records), proxy = _run(tap, box, tmp_path, "REST")
    assert proxy.tunnels == ["login.salesforce.com", "login.salesforce.com"]  # discover, sync
    lead_schema = discovered["Lead"]["schema"]["properties"]
    assert lead_schema["Address"]["type"] == ["null", "object"]
    _check_against_sandbox(box, records)
    with_country = next(r for r in records["Lead"] if r["Country"])
    assert with_country["Address"]["country"] == with_country["Country"]
    counts = box.counters.snapshot()
    assert counts["POST oauth2/token"] == {200: 2}
    assert counts["GET queryAll"] == {200: len(STREAMS)}
    assert counts["GET queryAll/{id}"][200] >= 1  # CampaignMember's second page
    assert not any(endpoint.startswith("async") for endpoint in counts)


def test_bulk_mode_reads_every_stream(tap: Path, box: SalesforceSandbox, tmp_path: Path) -> None:
    box.counters.reset()
    (discovered, records), proxy = _run(tap, box, tmp_path, "BULK")
    assert proxy.tunnels == ["login.salesforce.com", "login.salesforce.com"]
    lead = {
        m["breadcrumb"][-1]: m["metadata"]
        for m in discovered["Lead"]["metadata"]
        if m["breadcrumb"]
    }
    assert lead["Address"]["inclusion"] == "unsupported"  # compound: not through Bulk
    _check_against_sandbox(box, records)
    assert all("Address" not in r for r in records["Lead"])
    counts = box.counters.snapshot()
    assert counts["async POST job"] == {201: len(STREAMS)}
    assert counts["async POST job/{id}/batch"] == {201: len(STREAMS)}
    assert counts["async GET job/{id}/batch/{id}/result/{id}"] == {200: len(STREAMS)}
    assert "GET queryAll" not in counts
