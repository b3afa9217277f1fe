"""MQL tasks the CRM refuses: isolated, visible, retried with the owners of the day."""

from __future__ import annotations

from crm_support import Hub

from leadsync.config.accounts import Account


def _with_robin(hub: Hub, owners: list[str]) -> Hub:
    data = hub.account.model_dump(mode="json", exclude_unset=True)
    account = Account.model_validate({**data, "tasks": {"round_robin": owners}})
    return Hub(hub.sandbox, account, hub.store)


def test_one_bad_owner_sinks_only_its_own_tasks_and_the_run_says_so(hub: Hub) -> None:
    active = [o.id for o in hub.sandbox.store.dataset.owners if o.active]
    broken = _with_robin(hub, ["101", active[0]])  # the README's example id: no such owner
    report = broken.run("backfill")
    refused = report.counts["task_failures"]
    assert refused > 0 and report.counts["tasks"] > 0
    assert report.status == "partial" and "101" in (report.error or "")
    run = hub.store.runs("acme")[0]
    assert run.status == "partial" and run.error == report.error
    pending = hub.store.pending_crossings("acme")
    assert len(pending) == refused and all(c.payload["owner_id"] == "101" for c in pending)
    assert len(hub.task_leads()) == report.counts["tasks"]

    fixed = _with_robin(hub, active[:2])  # the accounts file corrected
    again = fixed.run("incremental")
    assert again.status == "ok" and again.counts["tasks"] == refused
    assert hub.store.pending_crossings("acme") == []
    fixed.assert_fresh()
