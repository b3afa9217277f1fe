"""HubSpot OAuth: the refresh at the 2026-03 token endpoint (in both API families), against
the sandbox's token endpoints and recorded answers (issue #16, #17 item 7)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from leadsync.config.accounts import Account
from leadsync.connectors.hubspot.connector import HubSpotConnector
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.errors import CrmAuthError, CrmError
from tests.connectors.conftest import FAST, fast_limiter
from tests.recorded import Asked, Recorded

SECRET = "app-secret-0123456789"


@pytest.fixture
def oauth(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``oauth(host, refresh_token, api_version=…)``: a connector logging in with OAuth."""
    opened: list[HubSpotConnector] = []

    def make(host: str, refresh: str, api_version: str = "2026-03") -> HubSpotConnector:
        monkeypatch.setenv("LEADSYNC_TEST_OAUTH_SECRET", SECRET)
        monkeypatch.setenv("LEADSYNC_TEST_OAUTH_REFRESH", refresh)
        account = Account.model_validate(
            {"id": "acme", "crm": "hubspot", "host": host, "api_version": api_version,
             "credentials": {"client_id": "app-1", "client_secret": "LEADSYNC_TEST_OAUTH_SECRET",
                             "refresh_token": "LEADSYNC_TEST_OAUTH_REFRESH"}}
        )  # fmt: skip
        opened.append(HubSpotConnector(account, limiter=fast_limiter(), policy=FAST))
        return opened[-1]

    yield make
    for connector in opened:
        connector.close()


@pytest.mark.parametrize("api", ["2026-03", "legacy"])
def test_oauth_refresh_gets_a_token_the_api_accepts(oauth: Any, api: str) -> None:
    with HubSpotSandbox(contacts=5, api=api) as sandbox:
        refresh = sandbox.oauth.install("app-1", SECRET)
        connector = oauth(sandbox.url, refresh, api_version=api)
        assert len([lead for page in connector.all_leads(None) for lead in page.leads]) == 5
        assert sandbox.counters.snapshot()["oauth.token"] == {200: 1}
        assert connector.auth.token().startswith("sandbox-oauth-")


@pytest.mark.parametrize("api", ["2026-03", "legacy"])
def test_a_refused_refresh_token_is_bad_credentials(oauth: Any, api: str) -> None:
    with HubSpotSandbox(contacts=5, api=api) as sandbox:
        sandbox.oauth.install("app-1", SECRET)
        connector = oauth(sandbox.url, "revoked-refresh-token", api_version=api)
        with pytest.raises(CrmAuthError) as caught:
            list(connector.all_leads(None))
    message = str(caught.value)
    assert "HTTP 400 invalid_grant" in message and "re-authorize the app" in message
    assert SECRET not in message and "revoked-refresh-token" not in message


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"error": "invalid_client", "error_description": "bad client"}, "invalid_client"),
        ({"status": "BAD_CLIENT_ID", "message": "missing or unknown client id"}, "BAD_CLIENT_ID"),
    ],
)
def test_both_error_formats_are_understood(oauth: Any, body: dict[str, str], code: str) -> None:
    server = Recorded([("POST", "/oauth/2026-03/token", 401, body)])
    with server, pytest.raises(CrmAuthError, match=f"HTTP 401 {code}"):
        oauth(server.url, "refresh-1").owners()
    assert len(server.asked) == 1  # a refusal is not retried


def test_a_5xx_from_the_token_endpoint_is_retried_not_bad_credentials(oauth: Any) -> None:
    answers = iter([(503, {"message": "Service Unavailable"})] * 2)

    def token(asked: Asked) -> tuple[int, dict[str, Any]]:
        return next(answers, (200, {"access_token": "fresh", "expires_in": 1800}))

    rules = [
        ("POST", "/oauth/2026-03/token", 200, token),
        ("GET", "/crm/owners/2026-03", 200, {"results": [{"id": "7"}]}),
    ]
    with Recorded(rules) as server:
        connector = oauth(server.url, "refresh-1")
        assert [o.id for o in connector.owners()] == ["7", "7"]
    tokens = [a for a in server.asked if a.path == "/oauth/2026-03/token"]
    assert len(tokens) == 3 and tokens[0].raw_query == ""
    assert b"refresh_token=refresh-1" in tokens[0].body
    assert server.asked[-1].headers["Authorization"] == "Bearer fresh"


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_token_endpoint_that_keeps_failing_is_a_transient_crm_error(
    oauth: Any, status: int
) -> None:
    rules = [("POST", "/oauth/2026-03/token", status, {"message": "try later"})]
    with Recorded(rules) as server, pytest.raises(CrmError) as caught:
        oauth(server.url, "refresh-1").owners()
    assert not isinstance(caught.value, CrmAuthError)
    assert SECRET not in str(caught.value)
