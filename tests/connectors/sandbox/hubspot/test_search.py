"""CRM search through hubspot-api-client: operators, limits, sorting, paging, 10,000 cap."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    PublicObjectSearchRequest,
)
from polling import wait_for
from urllib3.util.retry import Retry

from leadsync.connectors.sandbox.hubspot.props import parse_time_ms
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox


def _f(name: str, op: str, **kw: Any) -> dict[str, Any]:
    return {"propertyName": name, "operator": op, **kw}


def _search(client: HubSpot, groups: list[list[dict[str, Any]]], **kw: Any) -> Any:
    request = PublicObjectSearchRequest(
        filter_groups=[{"filters": g} for g in groups], limit=kw.pop("limit", 200), **kw
    )
    return client.crm.contacts.search_api.do_search(request)


def _all(sb: HubSpotSandbox) -> list[dict[str, Any]]:
    return [sb.store.contact_props(k) for k in range(sb.store.contact_count)]


def _ids(result: Any) -> set[str]:
    return {r.id for r in result.results}


def test_search_response_is_lossless(
    hubspot_client: HubSpot, hubspot_call: Callable[..., Any]
) -> None:
    request = PublicObjectSearchRequest(
        filter_groups=[{"filters": [_f("hs_analytics_num_page_views", "GT", value="5")]}],
        sorts=[{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
        properties=["email", "lastmodifieddate", "hs_analytics_num_page_views"],
        limit=50,
    )
    page = hubspot_call(
        hubspot_client.crm.contacts.search_api,
        "do_search",
        "CollectionResponseWithTotalSimplePublicObjectForwardPaging",
        request,
    )
    stamps = [parse_time_ms(r.properties["lastmodifieddate"]) for r in page.results]
    assert stamps == sorted(stamps) and page.total > 50 and page.paging.next.after == "50"
    assert all(int(r.properties["hs_analytics_num_page_views"]) > 5 for r in page.results)


@pytest.mark.parametrize(
    ("flt", "check"),
    [
        (
            _f("industry", "EQ", value="technology"),
            lambda p: (p["industry"] or "").lower() == "technology",
        ),
        (_f("industry", "NEQ", value="Technology"), lambda p: p["industry"] != "Technology"),
        (
            _f("hs_analytics_num_page_views", "LT", value="3"),
            lambda p: int(p["hs_analytics_num_page_views"]) < 3,
        ),
        (
            _f("hs_analytics_num_page_views", "LTE", value="3"),
            lambda p: int(p["hs_analytics_num_page_views"]) <= 3,
        ),
        (
            _f("hs_analytics_num_page_views", "GTE", value="10"),
            lambda p: int(p["hs_analytics_num_page_views"]) >= 10,
        ),
        (
            _f("hs_analytics_num_page_views", "BETWEEN", value="2", highValue="4"),
            lambda p: 2 <= int(p["hs_analytics_num_page_views"]) <= 4,
        ),
        (_f("country", "IN", values=["fr", "de"]), lambda p: p["country"] in ("FR", "DE")),
        (_f("country", "NOT_IN", values=["fr"]), lambda p: p["country"] != "FR"),
        (_f("jobtitle", "HAS_PROPERTY"), lambda p: p["jobtitle"] is not None),
        (_f("jobtitle", "NOT_HAS_PROPERTY"), lambda p: p["jobtitle"] is None),
        (
            _f("email", "CONTAINS_TOKEN", value="*@gmail.com"),
            lambda p: (p["email"] or "").endswith("@gmail.com"),
        ),
        (
            _f("jobtitle", "NOT_CONTAINS_TOKEN", value="sales"),
            lambda p: "sales" not in (p["jobtitle"] or "").lower().split(),
        ),
        (_f("createdate", "GT", value="2026-01-01"), lambda p: p["createdate"] > "2026-01-01"),
        (
            _f("createdate", "LT", value=str(parse_time_ms("2025-06-01"))),
            lambda p: p["createdate"] < "2025-06-01",
        ),
    ],
)
def test_every_operator(
    hubspot_client: HubSpot,
    hubspot_sandbox: HubSpotSandbox,
    flt: dict[str, Any],
    check: Callable[[dict[str, Any]], bool],
) -> None:
    expected = {p["hs_object_id"] for p in _all(hubspot_sandbox) if check(p)}
    result = _search(hubspot_client, [[flt]])
    assert result.total == len(expected) > 0
    assert _ids(result) == expected or len(expected) > 200


def test_in_needs_lower_case_values(hubspot_client: HubSpot) -> None:
    assert _search(hubspot_client, [[_f("country", "IN", values=["FR"])]]).total == 0
    assert _search(hubspot_client, [[_f("country", "IN", values=["fr"])]]).total > 0


def test_groups_or_and_filters_and(
    hubspot_client: HubSpot, hubspot_sandbox: HubSpotSandbox
) -> None:
    a = [_f("country", "EQ", value="FR"), _f("industry", "EQ", value="Technology")]
    b = [_f("country", "EQ", value="US")]
    people = _all(hubspot_sandbox)
    expected = {
        p["hs_object_id"]
        for p in people
        if (p["country"] == "FR" and p["industry"] == "Technology") or p["country"] == "US"
    }
    assert _ids(_search(hubspot_client, [a, b])) == expected


def test_free_text_query(hubspot_client: HubSpot, hubspot_sandbox: HubSpotSandbox) -> None:
    email = hubspot_sandbox.store.contact_props(9)["email"] or "x"
    result = hubspot_client.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(query=email[:-3])
    )
    assert "10" in _ids(result)


@pytest.mark.parametrize(
    ("groups", "extra", "message"),
    [
        ([[_f("email", "HAS_PROPERTY")]] * 6, {}, "Too many filter groups"),
        ([[_f("email", "HAS_PROPERTY")] * 7], {}, "Too many filters in a group"),
        ([[_f("email", "HAS_PROPERTY")] * 5] * 4, {}, "Too many filters (20)"),
        ([], {"limit": 201}, "limit must be at most 200"),
        (
            [],
            {"sorts": [{"propertyName": "email"}, {"propertyName": "createdate"}]},
            "Only one sort",
        ),
        ([[_f("no_such_prop", "EQ", value="1")]], {}, "does not exist"),
        ([[_f("email", "LIKE", value="1")]], {}, "Unknown operator"),
        ([[_f("email", "EQ", value="x" * 3000)]], {}, "too long"),
    ],
)
def test_limits_are_400s(
    hubspot_client: HubSpot, groups: list[list[dict[str, Any]]], extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(ApiException) as err:
        _search(hubspot_client, groups, **extra)
    body = json.loads(err.value.body)
    assert err.value.status == 400 and body["category"] == "VALIDATION_ERROR"
    assert message in body["message"]


def test_five_groups_of_six_up_to_eighteen_filters_pass(hubspot_client: HubSpot) -> None:
    three = [_f("email", "HAS_PROPERTY")] * 3
    assert _search(hubspot_client, [three] * 5 + [], limit=1).total >= 0  # 15 filters
    six = [_f("email", "HAS_PROPERTY")] * 6
    assert _search(hubspot_client, [six, six, six], limit=1).total > 0  # 18 filters


def test_paging_past_ten_thousand_results_is_a_400() -> None:
    with HubSpotSandbox(contacts=10_050, seed=1, search_per_second=1000) as sb:
        client = HubSpot(access_token=sb.token, host=sb.url, retry=Retry(0))
        api = client.crm.contacts.search_api
        sort = [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        page = api.do_search(PublicObjectSearchRequest(sorts=sort, limit=200, after="9800"))
        assert page.total == 10_050 and page.results[0].id == "9801"
        assert page.paging.next.after == "10000"
        with pytest.raises(ApiException) as err:
            api.do_search(
                PublicObjectSearchRequest(sorts=sort, limit=200, after=page.paging.next.after)
            )
        assert err.value.status == 400
        assert json.loads(err.value.body)["category"] == "VALIDATION_ERROR"
        # The documented work-around: re-anchor on the sort property.
        rest = api.do_search(
            PublicObjectSearchRequest(
                filter_groups=[{"filters": [_f("hs_object_id", "GT", value="10000")]}],
                sorts=sort,
                limit=200,
            )
        )
        assert rest.total == 50 and rest.results[-1].id == "10050"


def test_changes_reach_search_after_the_index_lag() -> None:
    with HubSpotSandbox(contacts=30, search_lag_s=0.3, search_per_second=1000) as sb:
        client = HubSpot(access_token=sb.token, host=sb.url, retry=Retry(0))
        client.crm.contacts.batch_api.update(
            BatchInputSimplePublicObjectBatchInput(
                inputs=[{"id": "4", "properties": {"jobtitle": "Chief Revenue Officer"}}]
            )
        )
        wanted = [[_f("jobtitle", "EQ", value="Chief Revenue Officer")]]
        assert _search(client, wanted).total == 0  # not indexed yet
        assert (
            client.crm.contacts.basic_api.get_by_id("4", properties=["jobtitle"]).properties[
                "jobtitle"
            ]
            == "Chief Revenue Officer"
        )  # reads see it at once
        wait_for(lambda: _search(client, wanted).total > 0, 5, "the change to reach search")
        assert _ids(_search(client, wanted)) == {"4"}
