"""Auth, scopes, rate limits, faults, counters and the admin endpoints."""

from __future__ import annotations

import json

import pytest
import requests
import urllib3
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObjectWithErrors,
    PublicObjectSearchRequest,
)
from polling import wait_for
from urllib3.util.retry import Retry

from leadsync.connectors.sandbox.faults import Faults
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox


def _client(sb: HubSpotSandbox, token: str | None = None) -> HubSpot:
    return HubSpot(access_token=token or sb.token, host=sb.url, retry=Retry(0))


def test_bad_token_is_401_with_hubspot_body(hubspot_sandbox: HubSpotSandbox) -> None:
    client = _client(hubspot_sandbox, token="pat-na1-wrong")
    with pytest.raises(ApiException) as err:
        client.crm.contacts.basic_api.get_page()
    body = json.loads(err.value.body)
    assert err.value.status == 401 and body["category"] == "INVALID_AUTHENTICATION"
    assert body["message"].startswith("Authentication credentials not found.")
    assert body["status"] == "error" and body["correlationId"]


def test_missing_scope_is_403_missing_scopes() -> None:
    tokens = {"read-only": {"crm.objects.contacts.read"}}
    with HubSpotSandbox(contacts=20, tokens=tokens) as sb:
        client = _client(sb, token="read-only")
        assert client.crm.contacts.basic_api.get_page(limit=1).results
        with pytest.raises(ApiException) as err:
            client.crm.contacts.batch_api.update(
                BatchInputSimplePublicObjectBatchInput(
                    inputs=[{"id": "1", "properties": {"jobtitle": "CEO"}}]
                )
            )
        body = json.loads(err.value.body)
        assert err.value.status == 403 and body["category"] == "MISSING_SCOPES"
        assert body["errors"][0]["context"]["requiredGranularScopes"] == [
            "crm.objects.contacts.write"
        ]
        with pytest.raises(Exception) as owners:
            client.crm.owners.owners_api.get_page()
        assert getattr(owners.value, "status", None) == 403


def test_ten_second_window_429_with_headers_and_body() -> None:
    with HubSpotSandbox(contacts=20, ten_second_limit=5, window_s=0.5) as sb:
        api = _client(sb).crm.contacts.basic_api
        headers = []
        for _ in range(5):
            _, status, h = api.get_page_with_http_info(limit=1)
            assert status == 200
            headers.append(h)
        assert headers[0]["X-HubSpot-RateLimit-Max"] == "5"
        assert [h["X-HubSpot-RateLimit-Remaining"] for h in headers] == ["4", "3", "2", "1", "0"]
        assert headers[0]["X-HubSpot-RateLimit-Interval-Milliseconds"] == "500"
        assert int(headers[-1]["X-HubSpot-RateLimit-Daily-Remaining"]) == 625_000 - 5
        with pytest.raises(ApiException) as err:
            api.get_page(limit=1)
        body = json.loads(err.value.body)
        assert err.value.status == 429 and body["policyName"] == "TEN_SECONDLY_ROLLING"
        assert body["errorType"] == "RATE_LIMIT" and body["requestId"] and body["correlationId"]
        assert body["message"] == "You have reached your ten_secondly_rolling limit."
        assert err.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"

        def recovered() -> bool:
            try:
                api.get_page(limit=1)
            except ApiException as exc:
                assert exc.status == 429
                return False
            return True

        wait_for(recovered, deadline_s=5)  # the window rolls: calls succeed again
        assert sb.counters.snapshot()["contacts.list"][429] >= 1


def test_starter_profile_has_a_lower_limit() -> None:
    with HubSpotSandbox(contacts=5, profile="starter") as sb:
        _, _, headers = _client(sb).crm.contacts.basic_api.get_page_with_http_info(limit=1)
        assert headers["X-HubSpot-RateLimit-Max"] == "100"
        assert headers["X-HubSpot-RateLimit-Daily"] == "250000"


def test_search_is_five_per_second_without_headers() -> None:
    with HubSpotSandbox(contacts=20) as sb:
        api = _client(sb).crm.contacts.search_api
        statuses = []
        for _ in range(6):
            try:
                _, status, headers = api.do_search_with_http_info(
                    PublicObjectSearchRequest(limit=1)
                )
                assert not any(k.lower().startswith("x-hubspot-ratelimit") for k in headers)
                statuses.append(status)
            except ApiException as exc:
                statuses.append(exc.status)
                body = json.loads(exc.body)
                assert body["message"] == "You have reached your secondly limit."
                assert body["policyName"] == "SECONDLY"
        assert statuses.count(200) == 5 and statuses[-1] == 429


def test_daily_limit() -> None:
    with HubSpotSandbox(contacts=5, daily_limit=3) as sb:
        api = _client(sb).crm.contacts.basic_api
        for _ in range(3):
            api.get_page(limit=1)
        with pytest.raises(ApiException) as err:
            api.get_page(limit=1)
        body = json.loads(err.value.body)
        assert err.value.status == 429 and body["policyName"] == "DAILY"
        assert body["message"] == "You have reached your daily limit."


def test_injected_errors_bursts_and_partial_failures() -> None:
    with HubSpotSandbox(contacts=50, faults=Faults(burst_429=2, seed=3)) as sb:
        api = _client(sb).crm.contacts
        for _ in range(2):
            with pytest.raises(ApiException) as err:
                api.basic_api.get_page(limit=1)
            assert err.value.status == 429
            assert json.loads(err.value.body)["policyName"] == "TEN_SECONDLY_ROLLING"
        assert api.basic_api.get_page(limit=1).results
        sb.faults.update(error_rate=1.0)
        with pytest.raises(ApiException) as err5:
            api.basic_api.get_page(limit=1)
        assert err5.value.status in (502, 503)
        sb.faults.update(error_rate=0.0, partial_failure_rate=0.5)
        result = api.batch_api.update(
            BatchInputSimplePublicObjectBatchInput(
                inputs=[{"id": str(i), "properties": {"jobtitle": "CEO"}} for i in range(1, 41)]
            )
        )
        assert isinstance(result, BatchResponseSimplePublicObjectWithErrors)
        assert 0 < result.num_errors < 40 and len(result.results) + result.num_errors == 40
        failed = {i for e in result.errors for i in e.context["ids"]}
        assert failed.isdisjoint(r.id for r in result.results)
        read = api.batch_api.read(
            BatchReadInputSimplePublicObjectId(
                inputs=[{"id": str(i)} for i in range(1, 41)], properties=["jobtitle"]
            )
        )
        assert isinstance(read, BatchResponseSimplePublicObjectWithErrors)
        counts = sb.counters.snapshot()
        assert counts["contacts.list"] in ({200: 1, 429: 2, 503: 1}, {200: 1, 429: 2, 502: 1})
        assert counts["contacts.batch_update"] == {207: 1}


def test_dropped_connections_and_slow_responses() -> None:
    with HubSpotSandbox(contacts=5, faults=Faults(drop_rate=1.0)) as sb:
        client = _client(sb)
        with pytest.raises((urllib3.exceptions.HTTPError, ApiException)):
            client.crm.contacts.basic_api.get_page(limit=1)
        assert sb.counters.snapshot()["contacts.list"] == {0: 1}
        sb.faults.update(drop_rate=0.0, slow_rate=1.0, slow_ms=400)
        with pytest.raises(urllib3.exceptions.HTTPError):
            client.crm.contacts.basic_api.get_page(limit=1, _request_timeout=0.1)
        sb.faults.update(slow_rate=0.0)
        assert client.crm.contacts.basic_api.get_page(limit=1, _request_timeout=2).results


def test_admin_endpoints_and_touch() -> None:
    with HubSpotSandbox(contacts=100) as sb:
        client = _client(sb)
        client.crm.contacts.basic_api.get_page(limit=1)
        counters = requests.get(f"{sb.url}/__sandbox/counters", timeout=5).json()
        assert counters == {"counters": {"contacts.list": {"200": 1}}, "total": 1}
        set_faults = requests.post(
            f"{sb.url}/__sandbox/faults", json={"spec": "latency_ms=5"}, timeout=5
        )
        assert set_faults.json()["latency_ms"] == 5 and sb.faults.latency_ms == 5
        bad = requests.post(f"{sb.url}/__sandbox/faults", json={"spec": "nope=1"}, timeout=5)
        assert bad.status_code == 400 and "unknown fault 'nope'" in bad.json()["error"]
        assert requests.post(f"{sb.url}/__sandbox/reset-counters", timeout=5).ok
        assert sb.counters.total() == 0

        cursor = "2026-11-01T00:00:00.000Z"
        search = PublicObjectSearchRequest(
            filter_groups=[
                {
                    "filters": [
                        {"propertyName": "lastmodifieddate", "operator": "GT", "value": cursor}
                    ]
                }
            ],
            properties=["hs_analytics_num_page_views", "num_conversion_events"],
            limit=200,
        )
        assert client.crm.contacts.search_api.do_search(search).total == 0
        before = {
            c.id: c.properties
            for c in client.crm.contacts.basic_api.get_page(
                limit=100, properties=["hs_analytics_num_page_views", "num_conversion_events"]
            ).results
        }
        touched = requests.post(f"{sb.url}/__sandbox/touch", json={"count": 7}, timeout=5).json()[
            "touched"
        ]
        assert len(touched) == 7
        changed = client.crm.contacts.search_api.do_search(search)
        assert sorted(r.id for r in changed.results) == sorted(touched)
        for r in changed.results:
            old = before[r.id]
            grew = int(r.properties["hs_analytics_num_page_views"]) > int(
                old["hs_analytics_num_page_views"]
            ) or int(r.properties["num_conversion_events"]) > int(old["num_conversion_events"])
            assert grew
        assert len(sb.touch(3)) == 3
