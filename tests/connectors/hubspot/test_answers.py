"""The connector against recorded HubSpot answers it must not trust: query booleans,
lists that would page forever, malformed object ids (issue #17 items 11-13)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from leadsync.config.accounts import Account
from leadsync.connectors.hubspot.connector import HubSpotConnector
from leadsync.errors import CrmError
from tests.connectors.conftest import FAST, fast_limiter
from tests.recorded import Asked, Recorded

_EVENTS_403 = ("GET", "/events/event-occurrences/2026-03", 403, {"category": "MISSING_SCOPES"})
_NO_OWNERS = ("GET", "/crm/owners/2026-03", 200, {"results": []})


def _contact(ident: Any) -> dict[str, Any]:
    return {"id": ident, "properties": {"email": f"c{ident}@acme.io"}}


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    opened: list[HubSpotConnector] = []

    def make(server: Recorded) -> HubSpotConnector:
        monkeypatch.setenv("LEADSYNC_TEST_RECORDED_TOKEN", "pat-recorded")
        account = Account.model_validate(
            {"id": "acme", "crm": "hubspot", "host": server.url,
             "credentials": {"token": "LEADSYNC_TEST_RECORDED_TOKEN"}}
        )  # fmt: skip
        opened.append(HubSpotConnector(account, limiter=fast_limiter(), policy=FAST))
        return opened[-1]

    yield make
    for connector in opened:
        connector.close()


def test_archived_is_left_out_by_default_and_sent_as_json_true(connect: Any) -> None:
    rules = [
        ("GET", "/crm/objects/2026-03/contacts", 200, {"results": [_contact("1")]}),
        ("POST", "/crm/objects/2026-03/contacts/batch/read", 200, {"results": [_contact("1")]}),
        _EVENTS_403,
        _NO_OWNERS,
    ]
    with Recorded(rules) as server:
        connector = connect(server)
        list(connector.all_leads(None))
        connector.read_leads(["1"])
        connector.owners()
    for asked in server.asked:
        assert "False" not in asked.raw_query and "True" not in asked.raw_query
    sent = [a for a in server.asked if a.path != "/events/event-occurrences/2026-03"]
    assert [a.query.get("archived") for a in sent] == [
        None,
        None,
        None,
        ["true"],
    ]  # active owners: once
    batch = next(a for a in server.asked if a.path.endswith("/batch/read"))
    assert "archived" not in json.loads(batch.body)


def test_a_repeated_cursor_stops_the_list(connect: Any) -> None:
    ids = itertools.count(1)

    def page(asked: Asked) -> dict[str, Any]:
        return {"results": [_contact(str(next(ids)))], "paging": {"next": {"after": "7"}}}

    rules = [("GET", "/crm/objects/2026-03/contacts", 200, page), _EVENTS_403, _NO_OWNERS]
    with Recorded(rules) as server, pytest.raises(CrmError) as caught:
        list(connect(server).all_leads(None))
    assert "contacts.list offered the next-page cursor '7' a second time" in str(caught.value)
    assert len([a for a in server.asked if a.path.endswith("/contacts")]) == 2


def test_pages_of_nothing_new_stop_the_list(connect: Any) -> None:
    cursors = itertools.count(2)

    def page(asked: Asked) -> dict[str, Any]:
        return {"results": [_contact("1")], "paging": {"next": {"after": str(next(cursors))}}}

    rules = [("GET", "/crm/objects/2026-03/contacts", 200, page), _EVENTS_403, _NO_OWNERS]
    with Recorded(rules) as server, pytest.raises(CrmError, match="no record not seen before"):
        list(connect(server).all_leads(None))


def test_a_list_longer_than_the_portal_stops(connect: Any) -> None:
    ids = itertools.count(1)

    def page(asked: Asked) -> dict[str, Any]:
        one = str(next(ids))
        return {"results": [_contact(one)], "paging": {"next": {"after": str(int(one) + 1)}}}

    rules = [
        ("GET", "/crm/objects/2026-03/contacts", 200, page),
        ("POST", "/crm/objects/2026-03/contacts/search", 200, {"total": 3, "results": []}),
        _EVENTS_403,
        _NO_OWNERS,
    ]
    with Recorded(rules) as server:
        connector = connect(server)
        connector.count_check = 2
        with pytest.raises(CrmError, match=r"after 3 records, as many as the portal holds \(3\)"):
            list(connector.all_leads(None))
    assert len([a for a in server.asked if a.path.endswith("/search")]) == 2  # asked, then again


@pytest.mark.parametrize(
    ("rules", "call", "value"),
    [
        ([("GET", "/crm/objects/2026-03/contacts", 200, {"results": [_contact("12x")]})],
         "contacts.list", "'12x'"),
        ([("GET", "/crm/objects/2026-03/contacts", 200, {"results": [_contact(None)]})],
         "contacts.list", "None"),
        ([("GET", "/crm/objects/2026-03/contacts", 200,
           {"results": [{"id": "1", "properties": {"notes_last_contacted": "1"}}]}),
          ("POST", "/crm/associations/2026-03/contacts/calls/batch/read", 200,
           {"results": [{"from": {"id": "1"}, "to": [{"toObjectId": "n-9"}]}]})],
         "associations.contacts_calls.batch_read", "'n-9'"),
    ],
)  # fmt: skip
def test_a_malformed_object_id_is_a_crm_error_naming_call_and_value(
    connect: Any, rules: list[Any], call: str, value: str
) -> None:
    server = Recorded([*rules, _EVENTS_403, _NO_OWNERS])
    with server, pytest.raises(CrmError) as caught:
        list(connect(server).all_leads(None))
    assert f"HubSpot's {call} answered a malformed object id {value}" in str(caught.value)


def test_a_search_cursor_that_does_not_advance_stops_the_incremental_run(connect: Any) -> None:
    page = {"results": [_contact("1")], "paging": {"next": {"after": "0"}}}
    rules = [("POST", "/crm/objects/2026-03/contacts/search", 200, page), _EVENTS_403, _NO_OWNERS]
    with (
        Recorded(rules) as server,
        pytest.raises(CrmError, match="cursor '0' does not advance from offset 0"),
    ):
        list(connect(server).changed_leads(None, lambda ids: {}))
