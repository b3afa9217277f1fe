"""Engagements, associations, tasks, owners and the events API through hubspot-api-client."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.objects.tasks import ApiException as TaskApiException
from hubspot.events import ApiException as EventsApiException
from urllib3.util.retry import Retry

from leadsync.connectors.sandbox.hubspot.events import EVENT_TYPES
from leadsync.connectors.sandbox.hubspot.props import parse_time_ms
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox

_LIST = "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging"
_TASK_ASSOC = [
    {
        "to": {"id": "3"},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}],
    }
]


def _task(subject: str, contact: str = "3", **extra: str) -> dict[str, Any]:
    props = {
        "hs_timestamp": "2026-11-24T09:00:00Z",
        "hs_task_subject": subject,
        "hs_task_body": "Lead crossed the MQL threshold",
        "hs_task_status": "NOT_STARTED",
        "hs_task_priority": "HIGH",
        "hs_task_type": "CALL",
        "hubspot_owner_id": "41629700",
    }
    assoc = [
        {
            "to": {"id": contact},
            "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}],
        }
    ]
    return {"properties": props | extra, "associations": assoc}


@pytest.mark.parametrize("kind", ["emails", "calls", "meetings", "notes"])
def test_engagements_list_and_batch_read(
    hubspot_client: HubSpot,
    hubspot_sandbox: HubSpotSandbox,
    hubspot_call: Callable[..., Any],
    kind: str,
) -> None:
    api = getattr(hubspot_client.crm.objects, kind)
    ids: list[str] = []
    after = None
    while True:
        page = hubspot_call(api.basic_api, "get_page", _LIST, limit=100, after=after)
        ids += [r.id for r in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    store = hubspot_sandbox.store
    expected = [
        str(e) for k in range(store.contact_count) for e, _ in store.engagements_of(k, kind)
    ]
    assert ids == expected and len(ids) > 20
    props = {
        "calls": ["hs_call_status", "hs_timestamp"],
        "meetings": ["hs_meeting_title"],
        "emails": ["hs_email_direction", "hs_email_subject"],
        "notes": ["hs_note_body"],
    }[kind]
    read = hubspot_call(
        api.batch_api,
        "read",
        "BatchResponseSimplePublicObject",
        BatchReadInputSimplePublicObjectId(inputs=[{"id": i} for i in ids[:100]], properties=props),
    )
    assert sorted(r.id for r in read.results) == sorted(ids[:100])
    assert all(r.properties[props[0]] for r in read.results)
    one = api.basic_api.get_by_id(ids[0], properties=props)
    assert one.id == ids[0]


def test_associations_v4_contacts_to_engagements(
    hubspot_client: HubSpot, hubspot_sandbox: HubSpotSandbox, hubspot_call: Callable[..., Any]
) -> None:
    api = hubspot_client.crm.associations.v4.batch_api
    inputs = {"inputs": [{"id": str(i)} for i in range(1, 301)]}
    for kind, type_id in (("emails", 197), ("calls", 193), ("meetings", 199), ("notes", 201)):
        res = api.get_page("contacts", kind, inputs)
        got = {r._from.id: sorted(int(t.to_object_id) for t in r.to) for r in res.results}
        store = hubspot_sandbox.store
        want = {
            str(k + 1): sorted(e for e, _ in store.engagements_of(k, kind))
            for k in range(300)
            if any(True for _ in store.engagements_of(k, kind))
        }
        assert got == want
        assert all(t.association_types[0].type_id == type_id for r in res.results for t in r.to)
        assert res.num_errors == 300 - len(want)  # contacts without any: 207 errors
    raw = hubspot_call(
        api,
        "get_page",
        "BatchResponsePublicAssociationMultiWithLabelWithErrors",
        "contacts",
        "calls",
        {"inputs": [{"id": "1"}, {"id": "2"}, {"id": "99999"}]},
    )
    assert raw.errors[0].sub_category == "crm.associations.NO_ASSOCIATIONS_FOUND"
    back = api.get_page(
        "calls", "contacts", {"inputs": [{"id": raw.results[0].to[0].to_object_id}]}
    )
    assert back.results[0].to[0].to_object_id == raw.results[0]._from.id
    assert back.results[0].to[0].association_types[0].type_id == 194
    with pytest.raises(Exception) as err:
        api.get_page("contacts", "calls", {"inputs": [{"id": str(i)} for i in range(1001)]})
    assert getattr(err.value, "status", None) == 400


def test_tasks_create_batch_create_and_read_back(
    hubspot_fresh: HubSpotSandbox, hubspot_call: Callable[..., Any]
) -> None:
    client = HubSpot(access_token=hubspot_fresh.token, host=hubspot_fresh.url, retry=Retry(0))
    tasks = client.crm.objects.tasks
    one = hubspot_call(
        tasks.basic_api,
        "create",
        "SimplePublicObject",
        SimplePublicObjectInputForCreate(**_task("Call Jane")),
    )
    assert one.properties["hs_task_subject"] == "Call Jane"
    batch = hubspot_call(
        tasks.batch_api,
        "create",
        "BatchResponseSimplePublicObject",
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[_task("Call Bob", "4"), _task("Call Ann", "3")]
        ),
    )
    assert batch.status == "COMPLETE" and len(batch.results) == 2
    read = hubspot_call(
        tasks.basic_api,
        "get_by_id",
        "SimplePublicObjectWithAssociations",
        one.id,
        properties=["hs_task_subject", "hs_task_priority", "hs_timestamp", "hubspot_owner_id"],
        associations=["contacts"],
    )
    assert read.associations["contacts"].results[0].id == "3"
    assert read.associations["contacts"].results[0].type == "task_to_contact"
    assert read.properties["hs_task_priority"] == "HIGH"
    assert parse_time_ms(read.properties["hs_timestamp"]) == parse_time_ms("2026-11-24T09:00:00Z")
    listed = tasks.basic_api.get_page(limit=100, properties=["hs_task_subject"])
    assert [t.properties["hs_task_subject"] for t in listed.results] == [
        "Call Jane",
        "Call Bob",
        "Call Ann",
    ]
    assoc = client.crm.associations.v4.batch_api.get_page(
        "contacts", "tasks", {"inputs": [{"id": "3"}, {"id": "4"}]}
    )
    got = {r._from.id: sorted(t.to_object_id for t in r.to) for r in assoc.results}
    ids = [one.id, *(r.id for r in batch.results)]
    assert got == {"3": sorted([ids[0], ids[2]]), "4": [ids[1]]}
    assert assoc.results[0].to[0].association_types[0].type_id == 203
    to_contacts = client.crm.associations.v4.batch_api.get_page(
        "tasks", "contacts", {"inputs": [{"id": ids[1]}]}
    )
    assert to_contacts.results[0].to[0].to_object_id == "4"
    assert to_contacts.results[0].to[0].association_types[0].type_id == 204
    by_batch = tasks.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[{"id": i} for i in ids], properties=["hs_task_type"]
        )
    )
    assert {r.properties["hs_task_type"] for r in by_batch.results} == {"CALL"}


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"properties": {"hs_task_subject": "no date"}}, "hs_timestamp is required"),
        (
            _task("x")
            | {
                "associations": [
                    {
                        "to": {"id": "3"},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}
                        ],
                    }
                ]
            },
            "not valid from task to contact",
        ),
        (_task("x", "777777"), "does not exist"),
        (_task("x", hs_task_priority="URGENT"), "INVALID_OPTION"),
    ],
)
def test_invalid_tasks_are_400s(
    hubspot_client: HubSpot, task: dict[str, Any], message: str
) -> None:
    with pytest.raises(TaskApiException) as err:
        hubspot_client.crm.objects.tasks.basic_api.create(SimplePublicObjectInputForCreate(**task))
    assert err.value.status == 400 and message in json.loads(err.value.body)["message"]


def test_owners(hubspot_client: HubSpot, hubspot_call: Callable[..., Any]) -> None:
    api = hubspot_client.crm.owners.owners_api
    page = hubspot_call(api, "get_page", "CollectionResponsePublicOwnerForwardPaging", limit=5)
    assert len(page.results) == 5 and page.paging.next.after == "5"
    rest = api.get_page(limit=100, after="5")
    active = page.results + rest.results
    assert len(active) == 11 and all(not o.archived for o in active)
    archived = api.get_page(archived=True)
    assert len(archived.results) == 1 and archived.results[0].archived
    alice = api.get_page(email="alice.bernard@example-saas.com").results
    assert [o.first_name for o in alice] == ["Alice"]
    assert api.get_by_id(alice[0].id).email == alice[0].email


def test_events_api_on_enterprise(
    hubspot_client: HubSpot, hubspot_sandbox: HubSpotSandbox, hubspot_call: Callable[..., Any]
) -> None:
    api = hubspot_client.events.events_api
    key = max(range(300), key=lambda k: len(hubspot_sandbox.store.events.index(k)))
    cid = key + 1
    seen: list[Any] = []
    after = None
    while True:
        page = hubspot_call(
            api,
            "get_page",
            "CollectionResponseExternalUnifiedEvent",
            object_type="contact",
            object_id=cid,
            limit=7,
            after=after,
            sort=["ASCENDING"],
        )
        seen += page.results
        if page.paging is None:
            break
        after = page.paging.next.after
    acts = [
        a for a in hubspot_sandbox.store.dataset.people[key].activities() if a.kind in EVENT_TYPES
    ]
    assert len(seen) == len(acts) > 7
    assert [e.occurred_at for e in seen] == sorted(e.occurred_at for e in seen)
    views = [e for e in seen if e.event_type == "e_visited_page"]
    assert all(e.properties["hs_url"].startswith("https://") for e in views)
    middle = seen[len(seen) // 2].occurred_at
    later = api.get_page(object_type="contact", object_id=cid, occurred_after=middle, limit=100)
    assert all(e.occurred_at > middle for e in later.results)
    assert later.results == sorted(later.results, key=lambda e: e.occurred_at, reverse=True)
    forms = api.get_page(
        object_type="contact", object_id=cid, event_type="e_submitted_form", limit=100
    )
    assert {e.event_type for e in forms.results} <= {"e_submitted_form"}
    before = api.get_page(
        object_type="contact",
        event_type="e_visited_page",
        occurred_before=datetime(2026, 1, 1, tzinfo=UTC),
        limit=100,
    )
    assert before.results and all(
        e.occurred_at < datetime(2026, 1, 1, tzinfo=UTC) for e in before.results
    )
    assert "e_visited_page" in api.get_types().event_types
    purchases = api.get_page(object_type="contact", event_type="pe4242_purchase", limit=5)
    assert purchases.results and all(float(e.properties["amount"]) > 0 for e in purchases.results)


def test_events_api_is_403_below_enterprise(hubspot_fresh: HubSpotSandbox) -> None:
    client = HubSpot(access_token=hubspot_fresh.token, host=hubspot_fresh.url, retry=Retry(0))
    with pytest.raises(EventsApiException) as err:
        client.events.events_api.get_page(object_type="contact", object_id=1)
    assert err.value.status == 403
    assert "web-analytics-api-access" in json.loads(err.value.body)["message"]


def test_rollups_agree_with_events_and_engagements(
    hubspot_client: HubSpot, hubspot_sandbox: HubSpotSandbox
) -> None:
    names = [
        "hs_analytics_num_page_views",
        "hs_analytics_last_visit_timestamp",
        "num_conversion_events",
        "recent_conversion_event_name",
        "hs_email_open",
        "hs_email_click",
        "notes_last_contacted",
        "hs_email_optout",
        "num_contacted_notes",
    ]
    contacts = hubspot_client.crm.contacts.basic_api.get_page(limit=40, properties=names).results
    events_api = hubspot_client.events.events_api
    checked = 0
    for c in contacts:
        props = c.properties
        events = events_api.get_page(
            object_type="contact", object_id=int(c.id), limit=100, sort=["ASCENDING"]
        ).results
        views = [e for e in events if e.event_type == "e_visited_page"]
        forms = [e for e in events if e.event_type == "e_submitted_form"]
        if len(events) == 100:
            continue  # more than one page: skip for brevity
        checked += 1
        assert int(props["hs_analytics_num_page_views"]) == len(views)
        assert int(props["num_conversion_events"]) == len(forms)
        if views:
            assert parse_time_ms(props["hs_analytics_last_visit_timestamp"]) == int(
                views[-1].occurred_at.timestamp() * 1000
            )
        if forms:
            assert props["recent_conversion_event_name"] == forms[-1].properties["hs_form_title"]
        person = hubspot_sandbox.store.dataset.people[int(c.id) - 1]
        acts = person.activities()
        assert int(props["hs_email_open"]) == sum(a.kind == "email_open" for a in acts)
        assert int(props["hs_email_click"]) == sum(a.kind == "email_click" for a in acts)
        if (
            any(a.kind == "newsletter_unsubscribe" for a in acts)
            and acts[-1].kind == "newsletter_unsubscribe"
        ):
            assert props["hs_email_optout"] == "true"
        calls = hubspot_client.crm.associations.v4.batch_api.get_page(
            "contacts", "calls", {"inputs": [{"id": c.id}]}
        )
        meetings = hubspot_client.crm.associations.v4.batch_api.get_page(
            "contacts", "meetings", {"inputs": [{"id": c.id}]}
        )
        n_calls = sum(len(r.to) for r in calls.results)
        n_meetings = sum(len(r.to) for r in meetings.results)
        replies = sum(a.kind == "email_reply" for a in acts)
        assert int(props["num_contacted_notes"]) == n_calls + n_meetings + replies
        if n_calls + n_meetings:
            assert props["notes_last_contacted"] is not None
    assert checked >= 30
