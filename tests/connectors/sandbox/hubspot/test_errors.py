"""Error bodies deserialize into the SDK's ``Error`` model; the foreground runner works."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiClient,
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    PublicObjectSearchRequest,
)
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.crm.properties import PropertyCreate
from urllib3.util.retry import Retry

from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox, serve_forever


class _Raw:
    """What ``ApiClient.deserialize`` reads from a response: ``.data``."""

    def __init__(self, data: bytes | str) -> None:
        self.data = data


def _as_error_model(body: str, lossless: Callable[[Any, Any], None]) -> Any:
    """Deserialize an error body; everything but HubSpot's ``"status": "error"`` must survive.

    HubSpot sends ``status`` on every error but the SDK's ``Error`` model (from
    HubSpot's own spec) has no field for it: that one key is the only loss allowed.
    """
    client = ApiClient()
    raw = json.loads(body)
    assert raw.pop("status") == "error"
    model = client.deserialize(_Raw(body), "Error")
    lossless(raw, client.sanitize_for_serialization(model))
    return model


def _error(call: Any) -> ApiException:
    with pytest.raises((ApiException, PropertiesApiException)) as err:
        call()
    return err.value  # type: ignore[return-value]


def test_error_bodies_fit_the_sdk_error_model(
    hubspot_fresh: HubSpotSandbox, hubspot_lossless: Callable[[Any, Any], None]
) -> None:
    client = HubSpot(access_token=hubspot_fresh.token, host=hubspot_fresh.url, retry=Retry(0))
    contacts = client.crm.contacts
    errors = [
        _error(
            lambda: HubSpot(
                access_token="bad", host=hubspot_fresh.url
            ).crm.contacts.basic_api.get_page()
        ),
        _error(lambda: contacts.basic_api.get_by_id("424242")),
        _error(
            lambda: contacts.batch_api.update(
                BatchInputSimplePublicObjectBatchInput(
                    inputs=[{"id": "1", "properties": {"nope": "1"}}]
                )
            )
        ),
        _error(lambda: contacts.search_api.do_search(PublicObjectSearchRequest(limit=500))),
        _error(
            lambda: client.crm.properties.core_api.create(
                "contacts",
                PropertyCreate(
                    name="email",
                    label="Email",
                    type="string",
                    field_type="text",
                    group_name="contactinformation",
                ),
            )
        ),
    ]
    assert [e.status for e in errors] == [401, 404, 400, 400, 409]
    for e in errors:
        model = _as_error_model(e.body, hubspot_lossless)
        assert model.correlation_id and model.message and model.category


def test_missing_scope_body_fits_the_error_model(
    hubspot_lossless: Callable[[Any, Any], None],
) -> None:
    with HubSpotSandbox(contacts=5, tokens={"t": set()}) as sb:
        client = HubSpot(access_token="t", host=sb.url, retry=Retry(0))
        err = _error(lambda: client.crm.contacts.basic_api.get_page())
        model = _as_error_model(err.body, hubspot_lossless)
        assert model.errors[0].context == {"requiredGranularScopes": ["crm.objects.contacts.read"]}
        assert model.links == {"scopes": "https://developers.hubspot.com/scopes"}


def test_serve_forever_prints_how_to_connect_and_stops() -> None:
    lines: list[str] = []
    stop = threading.Event()
    runner = threading.Thread(
        target=serve_forever,
        kwargs={
            "contacts": 10,
            "token": "pat-cli",
            "print_fn": lines.append,
            "stop": stop,
            "faults": "latency_ms=1",
        },
    )
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while not any("Ctrl-C" in line for line in lines):
            assert time.monotonic() < deadline and runner.is_alive()
            time.sleep(0.02)
        url = lines[0].rsplit(" at ", 1)[1]
        assert "pat-cli" in lines[1] and f"host={url!r}" in lines[2]
        client = HubSpot(access_token="pat-cli", host=url, retry=Retry(0))
        assert len(client.crm.contacts.basic_api.get_page(limit=100).results) == 10
    finally:
        stop.set()
        runner.join(10)
    assert not runner.is_alive() and lines[-1] == "HubSpot sandbox stopped."
    with pytest.raises(ValueError, match="unknown fault"):
        serve_forever(faults="explode=1", print_fn=lines.append, stop=stop)
