"""The HubSpot connector's reads against the sandbox over HTTP: backfill, incremental, engagement."""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from leadsync.config.accounts import Account
from leadsync.connectors.base import CONNECTORS, Connector, LeadPage, ScoreWrite, open_connector
from leadsync.connectors.hubspot.connector import SEARCH_CAP, HubSpotConnector
from leadsync.connectors.hubspot.engagement import parse_time
from leadsync.connectors.retry import RetryPolicy
from leadsync.connectors.sandbox.faults import Faults
from leadsync.connectors.sandbox.hubspot.server import ALL_SCOPES, HubSpotSandbox
from leadsync.errors import CrmAuthError

if TYPE_CHECKING:
    from tests.connectors.conftest import HubFactory


def _ids(pages: list[LeadPage]) -> list[str]:
    return [crm.lead.id for page in pages for crm in page.leads]


def test_registered_under_hubspot(make_hub: HubFactory) -> None:
    hub = make_hub(contacts=5)
    assert "hubspot" in CONNECTORS
    connector = open_connector(hub.account)
    try:
        assert isinstance(connector, HubSpotConnector)
        assert isinstance(connector, Connector)
    finally:
        connector.close()


def test_backfill_reads_every_contact_in_list_pages_and_batched_engagement(
    make_hub: HubFactory,
) -> None:
    hub = make_hub(contacts=250)
    pages = list(hub.connector.all_leads(None))
    ids = _ids(pages)
    assert sorted(ids, key=int) == [str(i) for i in range(1, 251)]
    assert pages[-1].cursor is None
    assert hub.calls("contacts.list") == math.ceil(250 / 100)
    assert hub.calls("associations.") <= 3  # one per engagement type for up to 1,000 contacts
    store = hub.sandbox.store
    for kind in ("emails", "calls", "meetings"):
        total = sum(1 for key in range(250) for _ in store.engagements_of(key, kind))
        assert hub.calls(f"{kind}.batch_read") <= math.ceil(total / 100)
    engagement = sum(hub.calls(f"{k}.batch_read") for k in ("emails", "calls", "meetings"))
    expected = 3 + hub.calls("associations.") + engagement + 1 + 1  # + events probe + owners
    assert hub.calls() == expected == hub.connector.usage().total
    lead = next(crm for page in pages for crm in page.leads if crm.lead.id == "1")
    assert lead.object_type == "contact"
    assert lead.lead.properties["email"] == store.person("1").email  # type: ignore[union-attr]
    assert lead.written.score is None


def test_backfill_resumes_from_a_page_cursor(make_hub: HubFactory) -> None:
    hub = make_hub(contacts=230, connector={"group": 100})
    first = next(iter(hub.connector.all_leads(None)))
    assert first.cursor is not None and len(first.leads) == 100
    rest = list(hub.connector.all_leads(first.cursor))
    assert _ids([first, *rest]) == [str(i) for i in range(1, 231)]


def test_incremental_sees_exactly_the_touched_contacts(make_hub: HubFactory) -> None:
    hub = make_hub(contacts=300)
    cursor = hub.connector.cursor_at(datetime.now(UTC) - timedelta(seconds=1))
    hub.sandbox.counters.reset()
    assert _ids(list(hub.connector.changed_leads(cursor, lambda ids: {}))) == []
    assert hub.calls() == 1  # a run with no change costs one search
    touched = hub.sandbox.touch(7)
    pages = list(hub.connector.changed_leads(cursor, lambda ids: {}))
    assert sorted(_ids(pages)) == sorted(touched)
    stamps = [crm.modified_at for page in pages for crm in page.leads]
    assert stamps == sorted(stamps)  # oldest change first
    # From the cursor the run ended on: nothing new, the overlap de-duplicated.
    again = list(hub.connector.changed_leads(pages[-1].cursor, lambda ids: {}))
    assert _ids(again) == []
    more = hub.sandbox.touch(3)
    latest = list(hub.connector.changed_leads(pages[-1].cursor, lambda ids: {}))
    assert sorted(_ids(latest)) == sorted(more)


def test_incremental_crosses_the_10000_result_cap(make_hub: HubFactory) -> None:
    n = SEARCH_CAP + 400
    hub = make_hub(contacts=n, seed=1)
    cursor = hub.connector.cursor_at(datetime.now(UTC) - timedelta(seconds=1))
    touched = set(hub.sandbox.touch(n))
    store = hub.sandbox.store

    stamps = {}  # every contact counts as leadsync's own write: only the search pages run
    for i in touched:
        at = parse_time(store.contact_props(int(i) - 1)["lastmodifieddate"])
        assert at is not None
        stamps[i] = str(int(at.timestamp() * 1000))

    pages = list(hub.connector.changed_leads(cursor, hub.own_writes(stamps)))
    assert _ids(pages) == [] and sum(p.skipped for p in pages) == len(touched) == n
    statuses = hub.sandbox.counters.snapshot()["contacts.search"]
    assert set(statuses) == {200}, statuses  # never a 400 for paging past 10,000
    assert statuses[200] >= math.ceil(n / 200) + 1  # the query restarted before the cap


def test_own_write_back_is_skipped_without_engagement_reads(make_hub: HubFactory) -> None:
    hub = make_hub(contacts=150)
    hub.connector.ensure_score_fields(["hot", "warm", "cold"])
    cursor = hub.connector.cursor_at(datetime.now(UTC) - timedelta(seconds=1))
    now = datetime.now(UTC)
    writes = [
        ScoreWrite(i, "contact", Decimal("55"), "warm", "+50 demo request", "b2b@1", now)
        for i in ("3", "9", "27")
    ]
    done = hub.connector.write_scores(writes).done
    assert set(done) == {"3", "9", "27"} and all(v.isdigit() for v in done.values())
    hub.sandbox.counters.reset()
    ours = hub.own_writes(done)
    pages = list(hub.connector.changed_leads(cursor, ours))
    assert _ids(pages) == [] and sum(p.skipped for p in pages) == 3
    assert set(hub.sandbox.counters.snapshot()) == {"contacts.search"}
    # A real change after our write is seen again, with our score read back.
    hub.sandbox.store.write_contact(8, {"jobtitle": "CEO"})  # contact 9
    pages = list(hub.connector.changed_leads(cursor, ours))
    [lead] = [crm for page in pages for crm in page.leads]
    assert lead.lead.id == "9" and lead.lead.properties["title"] == "CEO"
    assert (lead.written.score, lead.written.tier) == (Decimal("55"), "warm")


def test_rate_limit_bursts_and_server_errors_are_retried(make_hub: HubFactory) -> None:
    clean = make_hub(contacts=120, seed=8)
    expected = list(clean.connector.all_leads(None))
    faults = Faults(burst_429=3, error_rate=0.2, drop_rate=0.05, seed=4)
    hub = make_hub(contacts=120, seed=8, faults=faults)
    pages = list(hub.connector.all_leads(None))
    assert [crm.lead for page in pages for crm in page.leads] == [
        crm.lead for page in expected for crm in page.leads
    ]
    statuses: Counter[int] = Counter()
    for by_status in hub.sandbox.counters.snapshot().values():
        statuses.update(by_status)
    assert statuses[429] == 3 and statuses[503] + statuses[502] > 0
    assert hub.connector.usage().throttled == 3


def test_bad_token_is_one_clear_auth_error(make_hub: HubFactory) -> None:
    hub = make_hub(contacts=5, token="pat-na1-not-a-real-token")
    with pytest.raises(CrmAuthError) as error:
        list(hub.connector.all_leads(None))
    message = str(error.value)
    assert "rejected the credentials" in message and "token" in message
    assert "pat-na1-not-a-real-token" not in message
    assert hub.calls() == 1  # not retried


def test_enterprise_uses_the_events_api(make_hub: HubFactory) -> None:
    hub = make_hub(contacts=40, profile="enterprise")
    leads = [crm for page in hub.connector.all_leads(None) for crm in page.leads]
    assert hub.calls("events.list") >= 40
    store = hub.sandbox.store
    for crm in leads:
        key = int(crm.lead.id) - 1
        truth = [a for a in store.activities(key) if a.kind == "page_view"]
        views = [e for e in crm.lead.events if e.type == "page_view"]
        assert sorted(e.attrs["url"] for e in views) == sorted(a.attrs["url"] for a in truth)
    kinds = {e.type for crm in leads for e in crm.lead.events}
    assert {"cart_add", "webinar_attend"} & kinds  # only the events API has them


def test_professional_falls_back_to_rollups(
    make_hub: HubFactory, caplog: pytest.LogCaptureFixture
) -> None:
    hub = make_hub(contacts=40)
    caplog.set_level("INFO", logger="leadsync.connectors.hubspot.leads")
    leads = [crm for page in hub.connector.all_leads(None) for crm in page.leads]
    assert hub.sandbox.counters.snapshot()["events.list"] == {403: 1}  # asked once
    said = [r for r in caplog.records if "events API" in r.getMessage()]
    assert len(said) == 1 and said[0].levelname == "INFO"  # once, in leadsync's words
    assert "needs Enterprise" in said[0].getMessage()
    assert "scope" in said[0].getMessage() and "Your app" not in said[0].getMessage()
    store = hub.sandbox.store
    for crm in leads:
        key = int(crm.lead.id) - 1
        truth = [a for a in store.activities(key) if a.kind == "page_view"]
        views = [e for e in crm.lead.events if e.type == "page_view"]
        assert len(views) == len(truth)
        if truth:
            assert views[-1].attrs.get("url") == truth[-1].attrs["url"]
            assert views[-1].at == truth[-1].at
    kinds = {e.type for crm in leads for e in crm.lead.events}
    assert not {"cart_add", "webinar_attend"} & kinds


def test_owner_activity_and_lookups(make_hub: HubFactory) -> None:
    hub = make_hub(contacts=60)
    owners = hub.connector.owners()
    active = {o.id for o in owners if o.active}
    assert owners and any(not o.active for o in owners)
    leads = [crm for page in hub.connector.all_leads(None) for crm in page.leads]
    for crm in leads:
        assert crm.owner_active == (crm.owner_id is not None and crm.owner_id in active)
    assert hub.connector.existing(["1", "60", "61", "999999"]) == {"1", "60"}
    one = hub.connector.get_lead("7")
    assert one is not None and one.lead.id == "7"
    assert hub.connector.get_lead("999999") is None


def test_enterprise_token_without_event_scopes_falls_back_to_rollups(
    make_hub: HubFactory,
) -> None:
    hub = make_hub(
        contacts=30, profile="enterprise", scopes=set(ALL_SCOPES) - {"business-intelligence"}
    )
    leads = [crm for page in hub.connector.all_leads(None) for crm in page.leads]
    assert len(leads) == 30
    assert hub.sandbox.counters.snapshot()["events.list"] == {403: 1}
    assert any(e.type == "page_view" for crm in leads for e in crm.lead.events)


def test_account_page_size_shrinks_list_and_search_pages(make_hub: HubFactory) -> None:
    """And the pages a run holds: ``leadsync check`` reads one small page this way."""
    hub = make_hub(contacts=45, page_size=20)
    read = list(hub.connector.all_leads(None))
    assert len(_ids(read)) == 45 and [len(page.leads) for page in read] == [20, 20, 5]
    assert hub.calls("contacts.list") == 3
    cursor = hub.connector.cursor_at(datetime.now(UTC) - timedelta(seconds=1))
    touched = hub.sandbox.touch(45)
    pages = list(hub.connector.changed_leads(cursor, lambda ids: {}))
    assert sorted(_ids(pages)) == sorted(touched)
    assert hub.calls("contacts.search") == 3


def test_a_burst_of_429s_waits_the_window_its_headers_give(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 12 item 6: each 429 of a burst waits a whole window (the headers' interval),
    instead of the retries going out at once and the attempts being spent in no time."""
    box = HubSpotSandbox(
        contacts=250, seed=3, window_s=0.5, ten_second_limit=1000, search_per_second=1000
    ).start()
    monkeypatch.setenv("LEADSYNC_TEST_BURST_TOKEN", box.token)
    account = Account.model_validate(
        {"id": "acme", "crm": "hubspot", "credentials": {"token": "LEADSYNC_TEST_BURST_TOKEN"},
         "host": box.url}
    )  # fmt: skip
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    connector = HubSpotConnector(account, policy=RetryPolicy(), sleep=sleep, group=100)
    try:
        pages = connector.all_leads(None)
        first = next(pages)  # calls spread over the window before the burst
        box.faults.update(burst_429=4)
        rest = list(pages)
    finally:
        connector.close()
        box.stop()
    assert len(_ids([first, *rest])) == 250
    statuses = Counter()
    for by_status in box.counters.snapshot().values():
        statuses.update(by_status)
    assert statuses[429] == 4
    assert len([s for s in sleeps if s >= 0.5 * 0.9]) == 4, sleeps  # one window per 429


def test_a_search_429_waits_for_the_window_its_policy_names(make_hub: HubFactory) -> None:
    """The sandbox's burst 429s name TEN_SECONDLY_ROLLING with no header on search (as
    HubSpot's search answers carry none): each retry waits the ten-second window (the fast
    limiter's 0.2 s), not the search bucket's 1 s, and counts as a rate-limit wait."""
    hub = make_hub(contacts=30, faults=Faults(burst_429=3))
    pages = list(hub.connector.changed_leads(None, lambda ids: {}))
    assert sum(len(p.leads) for p in pages) == 30
    assert hub.sandbox.counters.snapshot()["owners.list"] == {200: 1}, (
        hub.sandbox.counters.snapshot()
    )
    assert hub.sandbox.counters.snapshot()["contacts.search"] == {429: 3, 200: 1}
    usage = hub.connector.usage()
    assert usage.throttled == 3 and usage.rate_limit_waits == 3, hub.sandbox.counters.snapshot()
    assert hub.connector.limiter.waited_s == pytest.approx(0.6, abs=0.1)
