"""Incremental runs never leave a score stale, whatever changes while leadsync runs.

Each scenario changes the sandbox CRM at an exact moment of a run (through the CRM's own
API, from a hook on the real connector's write), then checks the end state against the
engine (``Crm.assert_fresh``). Both CRMs, both state databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from crm_support import Hub, Org, low_scored

from leadsync.connectors.base import ScoreWrite
from leadsync.sync.state import StateStore

# --- 1: a change between leadsync's read and its write --------------------------------------


def test_hubspot_a_change_landing_during_a_page_is_scored_at_the_next_run(hub: Hub) -> None:
    hub.run("backfill")
    first, racing = low_scored(hub, 3), low_scored(hub, 13)[3:]
    hub.update(first, {"jobtitle": "VP Sales"})

    def edit_during_the_page(writes: Sequence[ScoreWrite]) -> None:
        hub.update(racing, {"jobtitle": "Chief Executive Officer"})

    hub.update(racing, {"industry": "Retail"})  # read by this run, then edited
    hub.run("incremental", before_write=edit_during_the_page)
    hub.run("incremental")
    hub.assert_fresh()


def test_salesforce_a_change_landing_during_a_page_is_scored_at_the_next_run(org: Org) -> None:
    org.run("backfill")
    racing = low_scored(org, 10)
    org.update(racing, {"Industry": "Retail"})  # read by this run, then edited

    def edit_during_the_page(writes: Sequence[ScoreWrite]) -> None:
        org.update(racing, {"Title": "Chief Executive Officer"})

    org.run("incremental", before_write=edit_during_the_page)
    org.run("incremental")
    org.assert_fresh()


def test_salesforce_a_change_during_the_backfill_is_scored_at_the_first_incremental(
    org: Org,
) -> None:
    racing = sorted(r["Id"] for r in org.box.store.rows("Lead"))[:10]
    edited = False

    def edit_during_the_page(writes: Sequence[ScoreWrite]) -> None:
        nonlocal edited
        if not edited:
            edited = True
            org.update(racing, {"Title": "Chief Executive Officer"})

    org.run("backfill", before_write=edit_during_the_page)
    assert edited
    org.run("incremental")
    org.assert_fresh()


# --- 2: a refused write is retried from current data ----------------------------------------


def test_hubspot_a_refused_write_is_rescored_from_current_data(hub: Hub) -> None:
    hub.sandbox.faults.update(partial_failure_rate=0.3)
    hub.run("backfill")
    hub.sandbox.faults.clear()
    refused = [f.lead_id for f in hub.store.failed_writes("acme")]
    assert refused
    hub.update(refused, {"jobtitle": "Chief Executive Officer"})
    hub.run("incremental")
    hub.run("incremental")
    assert hub.store.failed_writes("acme") == []
    hub.assert_fresh()


# --- 3: new engagement that does not touch the person's record ------------------------------


def test_salesforce_new_campaign_responses_and_meetings_are_scored_by_the_incremental(
    org: Org,
) -> None:
    org.run("backfill")
    targets = low_scored(org, 4)
    client = org.client()
    campaign = client.Campaign.create(
        {"Name": "Book a demo", "Type": "Web", "Description": "demo_request", "IsActive": True}
    )["id"]
    for rid in targets[:2]:
        client.CampaignMember.create({"CampaignId": campaign, "LeadId": rid, "Status": "Responded"})
    for rid in targets[2:]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        client.Event.create({"WhoId": rid, "Subject": "Intro", "StartDateTime": now,
                             "DurationInMinutes": 30})  # fmt: skip
    before = org.crm()
    report = org.run("incremental")
    assert report.counts["leads"] >= 2
    after = org.crm()
    assert all(after[rid][0] == before[rid][0] + 50 for rid in targets[:2])  # type: ignore[operator]
    org.assert_fresh()


# --- 4: a human edit of a field leadsync owns is put back -----------------------------------


@pytest.mark.parametrize("mode", ["incremental", "backfill"])
def test_hubspot_an_edit_of_the_reasons_or_tier_alone_is_repaired(hub: Hub, mode: str) -> None:
    hub.run("backfill")
    edited = low_scored(hub, 4)
    hub.update([edited[0]], {"lead_score_reasons": "typed by a rep"})
    hub.update([edited[1]], {"lead_score_tier": "mql"})
    hub.update([edited[2]], {"lead_score_model": "someone-else@2"})
    hub.run(mode)
    hub.assert_fresh()
    held = hub.client.crm.contacts.basic_api.get_by_id(
        edited[2], properties=["lead_score_model"]
    ).properties
    assert held["lead_score_model"] == "b2b-saas@1.0"


@pytest.mark.parametrize("mode", ["incremental", "backfill"])
def test_salesforce_an_edit_of_the_reasons_or_tier_alone_is_repaired(org: Org, mode: str) -> None:
    org.run("backfill")
    edited = low_scored(org, 2)
    org.update([edited[0]], {"Lead_Score_Reasons__c": "typed by a rep"})
    org.update([edited[1]], {"Lead_Score_Tier__c": "mql"})
    org.run(mode)
    org.assert_fresh()


# --- tasks: a lead's first crossing in a new state database --------------------------------


@pytest.mark.parametrize("crm", ["hub", "org"])
def test_a_new_state_database_creates_no_task_the_crm_already_holds(
    crm: str, request: pytest.FixtureRequest, state_databases
) -> None:
    target: Hub | Org = request.getfixturevalue(crm)
    first = target.run("backfill")
    tasks = target.task_leads()
    assert first.counts["tasks"] == sum(tasks.values()) > 0
    target.store = StateStore(state_databases.new())  # the deploy's path, or PostgreSQL now
    try:
        again = target.run("backfill")
        assert again.counts["tasks"] == 0
        assert again.counts["tasks_reconciled"] == first.counts["tasks"]
        assert target.task_leads() == tasks
        target.assert_fresh()
    finally:
        target.store.close()


# --- clocks: the CRM's a little ahead of leadsync's -----------------------------------------


def test_activity_the_crm_stamps_just_ahead_of_leadsyncs_clock_counts_at_once(hub: Hub) -> None:
    """Skew between the CRM's clock and the host's must not leave fresh activity out: the
    record will not change again, so a score computed without it would stay stale."""
    hub.run("backfill")
    touched = hub.sandbox.touch(12, seed=4)  # a pricing visit or a form, stamped now
    behind = datetime.now(UTC) - timedelta(seconds=30)
    report = hub.run("incremental", clock=lambda: behind)
    assert report.counts["leads"] == len(touched)
    hub.assert_fresh()
