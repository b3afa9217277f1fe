"""The sandbox serves HubSpot's date-based and legacy API families from one route table,
and refuses the other family when started with ``api=`` (issue #16), plus the single
contact update in both (issue #17 item 8). Requests are plain HTTP, as any client sends."""

from __future__ import annotations

import json
from typing import Any

import pytest
import urllib3

from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox

_HTTP = urllib3.PoolManager(retries=False)


def _send(sb: HubSpotSandbox, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    answer = _HTTP.request(
        method, sb.url + path, body=None if body is None else json.dumps(body),
        headers={"Authorization": f"Bearer {sb.token}", "Content-Type": "application/json"},
    )  # fmt: skip
    return answer.status, json.loads(answer.data) if answer.data else None


@pytest.mark.parametrize(
    ("dated", "legacy", "endpoint"),
    [
        ("/crm/objects/2026-03/contacts?limit=2", "/crm/v3/objects/contacts?limit=2",
         "contacts.list"),
        ("/crm/objects/2026-09/contacts?limit=2", "/crm/v3/objects/contacts?limit=2",
         "contacts.list"),
        ("/crm/properties/2026-03/contacts/email", "/crm/v3/properties/contacts/email",
         "properties.get"),
        ("/crm/owners/2026-03", "/crm/v3/owners", "owners.list"),
    ],
)  # fmt: skip
def test_a_dated_path_answers_as_its_legacy_one(dated: str, legacy: str, endpoint: str) -> None:
    with HubSpotSandbox(contacts=5) as sb:
        assert _send(sb, "GET", dated) == _send(sb, "GET", legacy)
        assert sb.counters.snapshot()[endpoint] == {200: 2}


def test_dated_batch_and_association_reads() -> None:
    with HubSpotSandbox(contacts=20) as sb:
        inputs = {"inputs": [{"id": "1"}, {"id": "2"}], "properties": ["email"]}
        status, body = _send(sb, "POST", "/crm/objects/2026-03/contacts/batch/read", inputs)
        assert status == 200 and sorted(r["id"] for r in body["results"]) == ["1", "2"]
        status, body = _send(sb, "POST", "/crm/associations/2026-03/contacts/calls/batch/read",
                             {"inputs": [{"id": "1"}]})  # fmt: skip
        assert status in (200, 207) and "results" in body
        assert "associations.contacts_calls.batch_read" in sb.counters.snapshot()


@pytest.mark.parametrize(
    ("api", "refused", "served"),
    [
        ("2026-03", "/crm/v3/objects/contacts", "/crm/objects/2026-03/contacts"),
        ("legacy", "/crm/objects/2026-03/contacts", "/crm/v3/objects/contacts"),
    ],
)
def test_one_family_only_refuses_the_other(api: str, refused: str, served: str) -> None:
    with HubSpotSandbox(contacts=5, api=api) as sb:
        status, body = _send(sb, "GET", refused)
        assert status == 404 and f"serves the {api} API only" in body["message"]
        assert _send(sb, "GET", served)[0] == 200


def test_an_unknown_api_family_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="unknown API family 'v3'"):
        HubSpotSandbox(contacts=5, api="v3")


@pytest.mark.parametrize("path", ["/crm/v3/objects/contacts/3", "/crm/objects/2026-03/contacts/3"])
def test_patch_updates_one_contact(path: str) -> None:
    with HubSpotSandbox(contacts=5) as sb:
        status, body = _send(sb, "PATCH", path, {"properties": {"jobtitle": "CFO"}})
        assert status == 200 and body["id"] == "3"
        assert body["properties"]["jobtitle"] == "CFO"
        assert _send(sb, "GET", path + "?properties=jobtitle")[1]["properties"]["jobtitle"] == "CFO"
        assert sb.counters.snapshot()["contacts.update"] == {200: 1}
        assert _send(sb, "PATCH", path[:-1] + "999", {"properties": {"jobtitle": "x"}})[0] == 404
        assert _send(sb, "PATCH", path, {"props": {}})[0] == 400
