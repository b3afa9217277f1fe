"""Fixtures for the HubSpot connector tests: a sandbox and a connector pointed at it.

The connector talks to the sandbox over real HTTP through hubspot-api-client; only the
pacing is shrunk (a fast limiter and retry policy) so that 429s and 5xx retries take
milliseconds instead of HubSpot's seconds.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from leadsync.config.accounts import Account
from leadsync.connectors.base import OwnWrite, OwnWrites
from leadsync.connectors.hubspot.connector import HubSpotConnector
from leadsync.connectors.hubspot.contacts import inputs_of
from leadsync.connectors.ratelimit import RateLimiter
from leadsync.connectors.retry import RetryPolicy
from leadsync.connectors.sandbox.faults import Faults
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox

FAST = RetryPolicy(base_s=0.01, cap_s=0.05, window_s=0.05, secondly_s=0.01, max_total_s=20)
_numbers = itertools.count()


def fast_limiter() -> RateLimiter:
    return RateLimiter.for_hubspot(10**6, window_s=0.2, search_per_s=10_000)


@dataclass
class Hub:
    """A running sandbox, an account pointing at it, and its connector."""

    sandbox: HubSpotSandbox
    account: Account
    connector: HubSpotConnector

    def calls(self, prefix: str = "") -> int:
        """Requests the sandbox answered (any status) for endpoints starting with ``prefix``."""
        snap = self.sandbox.counters.snapshot()
        return sum(sum(by.values()) for ep, by in snap.items() if ep.startswith(prefix))

    def own_writes(self, done: Mapping[str, str]) -> OwnWrites:
        """What the pipeline would store for writes made directly: each stamp in ``done``
        and each contact's inputs as the sandbox holds it now (no API call)."""
        store, names = self.sandbox.store, self.connector.properties
        inputs = {
            i: inputs_of(store.contact_json(int(i) - 1, names), self.account.fields) for i in done
        }
        return lambda asked: {i: OwnWrite(done[i], inputs[i]) for i in asked if i in done}


HubFactory = Callable[..., Hub]


@pytest.fixture
def make_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[HubFactory]:
    """``make_hub(contacts=, profile=, faults=, scopes=, token=, api=, **account fields)``.

    The sandbox serves only the API family the account speaks (``api``: default the
    account's ``api_version``, 2026-03 unless it says legacy), so every connector test
    proves the connector calls the family it should.
    """
    opened: list[Hub] = []

    def make(
        *,
        contacts: int = 200,
        seed: int = 5,
        profile: str = "professional",
        faults: Faults | None = None,
        scopes: set[str] | None = None,
        token: str | None = None,
        connector: dict[str, Any] | None = None,
        api: str | None = None,
        **account: Any,
    ) -> Hub:
        api = api or ("legacy" if account.get("api_version") == "legacy" else "2026-03")
        sandbox = HubSpotSandbox(
            contacts=contacts,
            seed=seed,
            profile=profile,
            faults=faults,
            tokens={"pat-limited": scopes} if scopes is not None else None,
            search_per_second=10_000,
            ten_second_limit=10**6,
            window_s=0.2,  # the fast limiter's: a 429's headers say how long to wait
            api=api,
        ).start()
        env = f"LEADSYNC_TEST_HUBSPOT_TOKEN_{next(_numbers)}"
        chosen = token or ("pat-limited" if scopes is not None else sandbox.token)
        monkeypatch.setenv(env, chosen)
        acc = Account.model_validate(
            {"id": "acme", "crm": "hubspot", "credentials": {"token": env}, "host": sandbox.url}
            | account
        )
        hub = Hub(
            sandbox,
            acc,
            HubSpotConnector(acc, limiter=fast_limiter(), policy=FAST, **(connector or {})),
        )
        opened.append(hub)
        return hub

    yield make
    for hub in opened:
        hub.connector.close()
        hub.sandbox.stop()
