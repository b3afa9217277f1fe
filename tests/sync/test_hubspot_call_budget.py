"""What each HubSpot command costs in API calls, counted by the sandbox itself.

The commands are run as a user runs them (subprocesses, over HTTP); the figures are the
sandbox's own counters, so a repeated or needless call shows up here whatever its cause.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import Cli

from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox

ROBIN = "41629700"


@pytest.fixture
def box() -> Iterator[HubSpotSandbox]:
    with HubSpotSandbox(
        contacts=250, seed=3, ten_second_limit=10**6, search_per_second=1000
    ) as sandbox:
        yield sandbox


def run(box: HubSpotSandbox, folder: Path, *args: str, robin: bool = False) -> str:
    """Run ``leadsync *args`` on account acme (``robin``: with a round-robin owner)."""
    account = {"tasks": {"round_robin": [ROBIN]}} if robin else {}
    done = Cli(box, folder, **account)(*args, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout + done.stderr


def calls(box: HubSpotSandbox, prefix: str) -> int:
    """Requests the sandbox counted for endpoints starting with ``prefix``; then reset."""
    snap = box.counters.snapshot()
    return sum(sum(by.values()) for ep, by in snap.items() if ep.startswith(prefix))


def test_owners_are_listed_once_per_connector_and_only_when_needed(box, tmp_path):
    run(box, tmp_path, "check", "--account", "acme")
    assert calls(box, "owners.list") == 2  # active (shared with the leads read) + archived
    box.counters.reset()

    run(box, tmp_path, "setup", "--account", "acme")
    assert calls(box, "owners.list") == 0  # no round robin: nothing to check owners for
    box.counters.reset()

    out = run(box, tmp_path, "setup", "--account", "acme", robin=True)
    assert calls(box, "owners.list") == 2, out  # the round robin's owners: active, archived


def test_score_fields_are_checked_and_created_in_batches(box, tmp_path):
    run(box, tmp_path, "check", "--account", "acme")
    assert calls(box, "properties.") == 2  # a batch read; none shows the group: its GET
    box.counters.reset()

    run(box, tmp_path, "setup", "--account", "acme", "--create")
    snap = box.counters.snapshot()
    assert snap.get("properties.batch_create") == {201: 1}
    assert snap.get("properties.groups.create") == {201: 1}
    assert calls(box, "properties.") == 3  # read, group create, batch create
    assert len(box.store.props["contacts"]["lead_score_tier"].options) == 3
    box.counters.reset()

    run(box, tmp_path, "check", "--account", "acme")
    assert box.counters.snapshot().get("properties.batch_read") == {200: 1}
    assert calls(box, "properties.") == 1  # the properties show their group


def test_export_with_outcomes_reads_each_contact_once(box, tmp_path):
    out = run(box, tmp_path, "export", "--account", "acme", "--with-outcomes",
              "-o", str(tmp_path / "leads.jsonl"))  # fmt: skip
    assert "250 leads exported" in out
    snap = box.counters.snapshot()
    assert snap.get("contacts.list") == {200: 3}  # 100 a page
    assert "contacts.batch_read" not in snap  # the outcomes' properties came with the list
    assert calls(box, "associations.contacts_deals") == 1
