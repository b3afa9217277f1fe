"""Companies, deals and tickets through hubspot-api-client: records, search, properties,
associations with contacts, and tickets' scope (the default token lacks ``tickets``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.companies import PublicObjectSearchRequest
from hubspot.crm.tickets import ApiException as TicketsApiException
from urllib3.util.retry import Retry

from leadsync.connectors.sandbox.hubspot.companies import COMPANY_ID_BASE
from leadsync.connectors.sandbox.hubspot.server import ALL_SCOPES, HubSpotSandbox

_PAGE = "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging"


def _pages(call: Callable[..., Any], api: Any, **kw: Any) -> list[Any]:
    out, after = [], None
    while True:
        page = call(api, "get_page", _PAGE, limit=100, after=after, **kw)
        out += page.results
        if page.paging is None:
            return out
        after = page.paging.next.after


def test_companies_are_the_contacts_employers(
    hubspot_client: HubSpot, hubspot_sandbox: HubSpotSandbox, hubspot_call: Callable[..., Any]
) -> None:
    companies = _pages(
        hubspot_call, hubspot_client.crm.companies.basic_api, properties=["name", "domain"],
        associations=["contacts"],
    )  # fmt: skip
    people = hubspot_sandbox.store.dataset.people
    names = {p.company for p in people if p.company}
    assert {c.properties["name"] for c in companies} == names
    ids = [int(c.id) for c in companies]
    assert ids == sorted(ids) and min(ids) >= COMPANY_ID_BASE
    for company in companies:
        members = {a.id for a in company.associations["contacts"].results}
        want = {str(p.key + 1) for p in people if p.company == company.properties["name"]}
        assert members == want
        assert {a.type for a in company.associations["contacts"].results} == {"company_to_contact"}
    one = hubspot_client.crm.companies.basic_api.get_by_id(companies[0].id)
    assert set(one.properties) == {"createdate", "domain", "hs_lastmodifieddate",
                                   "hs_object_id", "name"}  # fmt: skip


def test_contacts_and_companies_are_associated_both_ways(
    hubspot_client: HubSpot, hubspot_sandbox: HubSpotSandbox
) -> None:
    api = hubspot_client.crm.associations.v4.batch_api
    res = api.get_page("contacts", "companies", {"inputs": [{"id": str(i)} for i in range(1, 51)]})
    store = hubspot_sandbox.store
    want = {
        str(k + 1): [store.companies.company_of(store.dataset.people[k])]
        for k in range(50)
        if store.dataset.people[k].company
    }
    assert {r._from.id: [int(t.to_object_id) for t in r.to] for r in res.results} == want
    assert {t.association_types[0].type_id for r in res.results for t in r.to} == {1}
    company = res.results[0].to[0].to_object_id
    back = api.get_page("companies", "contacts", {"inputs": [{"id": str(company)}]})
    assert res.results[0]._from.id in {str(t.to_object_id) for t in back.results[0].to}
    assert back.results[0].to[0].association_types[0].type_id == 2
    contact = hubspot_client.crm.contacts.basic_api.get_by_id(
        res.results[0]._from.id, associations=["companies", "deals"]
    )
    assert contact.associations["companies"].results[0].type == "contact_to_company"


def test_deals_list_get_and_search(
    hubspot_client: HubSpot, hubspot_sandbox: HubSpotSandbox, hubspot_call: Callable[..., Any]
) -> None:
    api = hubspot_client.crm.deals
    deals = _pages(hubspot_call, api.basic_api, properties=["dealstage", "amount"])
    store = hubspot_sandbox.store
    assert [d.id for d in deals] == [str(i) for i in store.deals.ids()]
    assert deals, "the generated account has deals"
    won = [d.id for d in deals if d.properties["dealstage"] == "closedwon"]
    request = PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "dealstage", "operator": "EQ",
                                     "value": "closedwon"}]}],
        properties=["dealstage"], limit=200,
    )  # fmt: skip
    found = hubspot_call(
        api.search_api, "do_search", "CollectionResponseWithTotalSimplePublicObjectForwardPaging",
        request,
    )  # fmt: skip
    assert sorted(r.id for r in found.results) == sorted(won) and found.total == len(won)
    one = api.basic_api.get_by_id(deals[0].id, associations=["contacts"])
    assert one.associations["contacts"].results[0].id == deals[0].id
    props = hubspot_client.crm.properties.core_api.get_all("deals")
    assert {"dealname", "dealstage", "amount", "closedate", "pipeline"} <= {
        p.name for p in props.results
    }


def test_companies_search_and_batch_read(
    hubspot_client: HubSpot, hubspot_call: Callable[..., Any]
) -> None:
    api = hubspot_client.crm.companies
    request = PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "num_associated_contacts", "operator": "GT",
                                     "value": "1"}]}],
        properties=["name", "num_associated_contacts"], limit=100,
    )  # fmt: skip
    found = api.search_api.do_search(request)
    assert found.results and all(
        int(c.properties["num_associated_contacts"]) > 1 for c in found.results
    )
    ids = [c.id for c in found.results[:3]] + ["1"]
    read = hubspot_call(
        api.batch_api, "read", "BatchResponseSimplePublicObjectWithErrors",
        {"inputs": [{"id": i} for i in ids], "properties": ["name"]},
    )  # fmt: skip
    assert sorted(r.id for r in read.results) == sorted(ids[:3])
    assert read.errors[0].context == {"ids": ["1"]} and read.num_errors == 1


def test_tickets_need_the_tickets_scope(hubspot_sandbox: HubSpotSandbox) -> None:
    client = HubSpot(access_token=hubspot_sandbox.token, host=hubspot_sandbox.url, retry=Retry(0))
    with pytest.raises(TicketsApiException) as err:
        client.crm.tickets.basic_api.get_page()
    assert err.value.status == 403
    body = json.loads(err.value.body)
    assert body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"] == {"requiredGranularScopes": ["tickets"]}
    with pytest.raises(Exception) as props_err:
        client.crm.properties.core_api.get_all("tickets")
    assert getattr(props_err.value, "status", None) == 403
    with pytest.raises(Exception) as by_id_err:
        client.crm.objects.basic_api.get_page("0-5")
    assert getattr(by_id_err.value, "status", None) == 403


def test_tickets_with_the_scope_are_an_empty_list() -> None:
    with HubSpotSandbox(contacts=5, tokens={"t": set(ALL_SCOPES) | {"tickets"}}) as sb:
        client = HubSpot(access_token="t", host=sb.url, retry=Retry(0))
        assert client.crm.tickets.basic_api.get_page().results == []
        props = client.crm.properties.core_api.get_all("tickets")
        assert "subject" in {p.name for p in props.results}
