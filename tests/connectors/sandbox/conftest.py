"""HubSpot sandbox fixtures: a running sandbox, an official client, a lossless check.

Every HubSpot test drives the sandbox through hubspot-api-client over real HTTP.
``hubspot_call`` also fetches the raw JSON of a call and checks that the SDK's model
(generated from HubSpot's specs) kept every field and value of it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from hubspot import HubSpot
from urllib3.util.retry import Retry

from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox


@pytest.fixture(scope="session")
def hubspot_sandbox() -> Iterator[HubSpotSandbox]:
    """A shared Enterprise sandbox (300 contacts) for tests that only read or add tasks.

    Its limits are lifted: the shared sandbox serves many tests within ten seconds;
    the rate-limit tests start their own.
    """
    with HubSpotSandbox(
        contacts=300, seed=3, profile="enterprise", search_per_second=1000, ten_second_limit=10**6
    ) as sb:
        yield sb


@pytest.fixture
def hubspot_client(hubspot_sandbox: HubSpotSandbox) -> HubSpot:
    """hubspot-api-client pointed at the shared sandbox, without urllib3 retries."""
    return HubSpot(access_token=hubspot_sandbox.token, host=hubspot_sandbox.url, retry=Retry(0))


@pytest.fixture
def hubspot_fresh() -> Iterator[HubSpotSandbox]:
    """A private Professional sandbox (200 contacts) for tests that write or change limits."""
    with HubSpotSandbox(contacts=200, seed=5, search_per_second=1000, ten_second_limit=10**6) as sb:
        yield sb


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 19 or value[4] != "-" or "T" not in value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def assert_lossless(raw: Any, kept: Any, where: str = "$") -> None:
    """Every key and value of ``raw`` (JSON) survives in ``kept`` (the SDK model, re-serialized).

    Datetimes compare as instants and numbers as their string form (the SDK types
    some ids as str); keys whose raw value is null may be dropped.
    """
    if isinstance(raw, dict):
        assert isinstance(kept, dict), f"{where}: object became {type(kept).__name__}"
        for key, value in raw.items():
            if value is None:
                assert kept.get(key) is None, f"{where}.{key}: null became {kept.get(key)!r}"
                continue
            assert key in kept, f"{where}.{key}: dropped by the SDK model"
            assert_lossless(value, kept[key], f"{where}.{key}")
    elif isinstance(raw, list):
        assert isinstance(kept, list) and len(kept) == len(raw), f"{where}: list changed"
        for i, (a, b) in enumerate(zip(raw, kept, strict=True)):
            assert_lossless(a, b, f"{where}[{i}]")
    elif _instant(raw) is not None:
        assert _instant(kept) == _instant(raw), f"{where}: {raw!r} became {kept!r}"
    elif isinstance(raw, bool) or isinstance(kept, bool):
        assert raw == kept, f"{where}: {raw!r} became {kept!r}"
    elif isinstance(raw, int | float) and isinstance(kept, str):
        assert str(raw) == kept, f"{where}: {raw!r} became {kept!r}"
    else:
        assert raw == kept, f"{where}: {raw!r} became {kept!r}"


@pytest.fixture
def hubspot_call() -> Callable[..., Any]:
    """``call(api, "method", "ModelName", *args, **kwargs)`` → model, checked lossless."""

    def call(api: Any, method: str, model: str, *args: Any, **kwargs: Any) -> Any:
        response = getattr(api, method)(*args, _preload_content=False, **kwargs)
        assert 200 <= response.status < 300, response.data
        raw = json.loads(response.data)
        obj = api.api_client.deserialize(response, model)
        assert_lossless(raw, api.api_client.sanitize_for_serialization(obj))
        return obj

    return call


@pytest.fixture
def hubspot_lossless() -> Callable[[Any, Any], None]:
    """:func:`assert_lossless` as a fixture (raw JSON, re-serialized model)."""
    return assert_lossless
