"""Reading a Salesforce org: backfill (REST and Bulk), incremental, own write-back, mapping.

Every test drives the HTTPS sandbox through simple-salesforce and counts the calls the
sandbox answered, so the call budgets the issue sets are checked, not assumed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sf_support import Orgs, lead_ids, own_writes, read_all, write

from leadsync.connectors.base import Connector, LeadPage


@pytest.fixture
def orgs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Orgs]:
    opened = Orgs(monkeypatch)
    yield opened
    opened.close()


def _leads(pages: list[LeadPage]) -> dict[str, object]:
    return {c.lead.id: c for p in pages for c in p.leads}


def _events(crm: object) -> list[tuple[str, float, list[tuple[str, object]]]]:
    events = crm.lead.events  # type: ignore[attr-defined]
    return sorted((e.type, e.ts, sorted(e.attrs.items())) for e in events)


def test_rest_backfill_reads_every_unconverted_lead_with_its_events(orgs: Orgs) -> None:
    org = orgs(leads=2500, seed=3)
    assert isinstance(org.sf, Connector)
    pages = read_all(org.sf.all_leads(None))
    leads = _leads(pages)
    assert set(leads) == set(lead_ids(org.box))
    assert len(pages) == 2  # 2,000 rows a page
    types = Counter(e.type for c in leads.values() for e in c.lead.events)  # type: ignore[attr-defined]
    for kind in ("call", "meeting", "email_open", "email_click", "email_reply", "form_submit",
                 "webinar_register", "content_download"):  # fmt: skip
        assert types[kind] > 0, kind
    # 1 count + 2 lead pages + per page one IN query for each of Task, Event, CampaignMember
    # (their answers fit a page each at this size).
    calls = org.by_endpoint()
    assert calls["GET query"] == 1 + 1 + 2 * 3
    assert org.calls("GET query/") >= 1  # the lead query's second page
    assert org.calls() <= 1 + 2 + 2 * 3 + 8
    usage = org.sf.usage()
    assert usage.total == org.calls() and usage.daily_limit == 100_000


def test_bulk_backfill_reads_the_same_leads_and_events_in_few_calls(orgs: Orgs) -> None:
    rest = orgs(leads=400, seed=4)
    bulk = orgs(leads=400, seed=4, salesforce={"bulk_threshold": 100})
    by_rest = _leads(read_all(rest.sf.all_leads(None)))
    pages = read_all(bulk.sf.all_leads(None))
    by_bulk = _leads(pages)
    assert by_bulk.keys() == by_rest.keys()
    for lead_id, crm in by_rest.items():
        other = by_bulk[lead_id]
        assert other.lead.properties == crm.lead.properties, lead_id  # type: ignore[attr-defined]
        assert _events(other) == _events(crm), lead_id
        assert other.owner_active == crm.owner_active  # type: ignore[attr-defined]
    calls = bulk.by_endpoint()
    # count + 4 query jobs (leads, Task, Event, CampaignMember): create, 2 polls, 1 page
    assert calls.pop("GET query") == 1
    assert calls == {"POST jobs/query": 4, "GET jobs/query/{id}": 8,
                     "GET jobs/query/{id}/results": 4}  # fmt: skip
    assert pages[-1].cursor is not None and '"done":true' in pages[-1].cursor
    assert read_all(bulk.sf.all_leads(pages[-1].cursor)) == []


def test_rest_backfill_resumes_after_the_last_page(orgs: Orgs) -> None:
    org = orgs(leads=2100, seed=2)
    first = next(iter(org.sf.all_leads(None)))
    rest = read_all(org.sf.all_leads(first.cursor))
    ids = [c.lead.id for c in first.leads] + [c.lead.id for p in rest for c in p.leads]
    assert sorted(ids) == sorted(lead_ids(org.box)) and len(ids) == len(set(ids))


def test_incremental_sees_exactly_the_touched_records_once(orgs: Orgs) -> None:
    org = orgs(leads=300, seed=5)
    cursor = org.sf.cursor_at(datetime.now(UTC))
    touched = set(org.box.touch("Lead", 3))
    pages = list(org.sf.changed_leads(cursor, lambda ids: {}))
    assert set(_leads(pages)) == touched
    cursor = pages[-1].cursor
    # A second run with no change: the overlap re-reads the 3, the cursor de-duplicates;
    # one query for the leads, one per activity object (Task, Event, CampaignMember).
    before = org.calls()
    again = list(org.sf.changed_leads(cursor, lambda ids: {}))
    assert _leads(again) == {} and org.calls() - before == 1 + 3
    more = set(org.box.touch("Lead", 2))
    third = list(org.sf.changed_leads(again[-1].cursor, lambda ids: {}))
    assert set(_leads(third)) == more


def test_own_write_back_is_skipped_without_reading_engagement(orgs: Orgs) -> None:
    org = orgs(leads=300, seed=6)
    cursor = org.sf.cursor_at(datetime.now(UTC))
    ids = lead_ids(org.box)[:5]
    done = org.sf.write_scores([write(i) for i in ids]).done
    assert set(done) == set(ids) and all(done.values())
    ours = own_writes(org.sf, done)
    user_edit = org.box.touch("Lead", 1)  # the oldest-stamped lead, not one we wrote
    before = org.calls()
    pages = list(org.sf.changed_leads(cursor, ours))
    assert set(_leads(pages)) == set(user_edit)
    assert sum(p.skipped for p in pages) == 5
    # one incremental query + the engagement of the one user edit (3 sources) + one query
    # per activity object for new engagement (Task, Event, CampaignMember)
    assert org.calls() - before == 1 + 3 + 3


def test_contacts_and_owner_activity(orgs: Orgs) -> None:
    org = orgs(leads=80, contacts=40, seed=8, salesforce={"objects": ["Lead", "Contact"]})
    leads = _leads(read_all(org.sf.all_leads(None)))
    contacts = [c for c in leads.values() if c.object_type == "Contact"]  # type: ignore[attr-defined]
    assert len(contacts) == 40
    assert any(c.lead.properties.get("industry") for c in contacts)  # Account.Industry
    assert any(c.lead.properties.get("company_size") for c in contacts)
    queued = [c for c in leads.values() if (c.owner_id or "").startswith("00G")]  # type: ignore[attr-defined]
    assert queued and not any(c.owner_active for c in queued)  # type: ignore[attr-defined]
    inactive = {r["Id"] for r in org.box.store.rows("User") if not r["IsActive"]}
    owned = [c for c in leads.values() if c.owner_id in inactive]  # type: ignore[attr-defined]
    assert owned and not any(c.owner_active for c in owned)  # type: ignore[attr-defined]
    one = next(iter(leads.values()))
    assert org.sf.get_lead(one.lead.id) == one  # type: ignore[attr-defined]
    assert org.sf.existing([one.lead.id, "00Q000000000000AAA"]) == {one.lead.id}  # type: ignore[attr-defined]


def test_mapping_overrides_and_field_names(orgs: Orgs) -> None:
    org = orgs(leads=20, mapping={"country": "City", "industry": "Industry"})
    leads = _leads(read_all(org.sf.all_leads(None)))
    stored = {r["Id"]: r for r in org.box.store.rows("Lead")}
    for lead_id, crm in leads.items():
        assert crm.lead.properties["country"] == stored[lead_id]["City"]  # type: ignore[attr-defined]


def test_registered_by_name_with_an_injected_session(orgs: Orgs) -> None:
    from leadsync.connectors.base import CONNECTORS
    from leadsync.connectors.salesforce import connector as salesforce

    org = orgs(leads=12)
    assert CONNECTORS["salesforce"] is salesforce.open_salesforce
    salesforce.use_session_factory(lambda account: org.box.session())
    try:
        opened = CONNECTORS["salesforce"](org.account)
        assert len(opened.owners()) >= 2
        opened.close()
    finally:
        salesforce.use_session_factory(None)


def test_the_first_incremental_after_a_backfill_checks_its_write_backs_without_engagement(
    orgs: Orgs,
) -> None:
    """The backfill's writes are listed once more (a change that landed between a read and
    its write hides under the write's stamp: only the inputs tell), but none is re-read."""
    org = orgs(leads=2300, seed=9)
    started = datetime.now(UTC)
    ids = lead_ids(org.box)
    done: dict[str, str] = {}
    for start in range(0, len(ids), 2000):  # a REST page, then a Bulk-sized one
        done.update(org.sf.write_scores([write(i) for i in ids[start : start + 2000]]).done)
    cursor = org.sf.cursor_at(started)
    ours = own_writes(org.sf, done)
    touched = set(org.box.touch("Lead", 2))  # after the write-back: must be seen
    before = org.calls()
    pages = list(org.sf.changed_leads(cursor, ours))
    assert {c.lead.id for p in pages for c in p.leads} == touched
    assert sum(p.skipped for p in pages) == len(ids) - 2
    # two query pages (2,300 rows) + the 2 leads' engagement + 3 activity objects
    assert org.calls() - before == 2 + 3 + 3
    quiet = list(org.sf.changed_leads(pages[-1].cursor, lambda asked: {}))
    assert [c for p in quiet for c in p.leads] == []
