"""What ``leadsync sandbox salesforce`` seeds: Leads, and Contacts on Accounts with their
Opportunities, as an org holds them."""

from __future__ import annotations

import io
import threading

from polling import wait_for
from simple_salesforce import Salesforce

from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox, serve_forever


def _all(sf: Salesforce, soql: str) -> list[dict]:
    return list(sf.query_all_iter(soql))


def test_the_foreground_sandbox_has_contacts_accounts_and_opportunities() -> None:
    out, stop, seen = io.StringIO(), threading.Event(), []
    runner = threading.Thread(
        target=serve_forever,
        kwargs={"port": 0, "leads": 200, "out": out, "ready": seen.append, "stop": stop},
    )
    runner.start()
    try:
        wait_for(lambda: bool(seen), deadline_s=30)
        box: SalesforceSandbox = seen[0]
        sf = box.client()
        leads = _all(sf, "SELECT Id, IsConverted FROM Lead")
        contacts = _all(sf, "SELECT Id, AccountId, Account.Name FROM Contact")
        opportunities = _all(sf, "SELECT Id, AccountId, StageName FROM Opportunity")
        roles = _all(sf, "SELECT ContactId, OpportunityId FROM OpportunityContactRole")
    finally:
        stop.set()
        runner.join(timeout=10)
    assert len(leads) == 200 and not any(lead["IsConverted"] for lead in leads)
    assert len(contacts) == 50 and all(c["Account"]["Name"] for c in contacts if c["AccountId"])
    assert opportunities and len(roles) == len(opportunities)
    account_of = {c["Id"]: c["AccountId"] for c in contacts}
    by_id = {o["Id"]: o for o in opportunities}
    assert all(by_id[r["OpportunityId"]]["AccountId"] == account_of[r["ContactId"]] for r in roles)
    assert "(200 leads, 50 contacts" in out.getvalue()
