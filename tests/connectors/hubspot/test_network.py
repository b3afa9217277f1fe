"""HubSpot calls that get no answer: a short message naming the account, the host and the
kind of failure (never the URL's query string); what cannot come right is not retried.

Each failure is real: a port nothing listens on, a name under ``.invalid`` (RFC 6761:
never resolves), and an HTTPS server whose certificate no default CA signed (the
Salesforce sandbox's throwaway CA).
"""

from __future__ import annotations

import socket

import pytest

from leadsync.config.accounts import Account
from leadsync.connectors.hubspot.connector import HubSpotConnector
from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox
from leadsync.errors import CrmError
from tests.connectors.conftest import FAST, fast_limiter


def _connector(host: str, monkeypatch: pytest.MonkeyPatch) -> HubSpotConnector:
    monkeypatch.setenv(
        "LEADSYNC_TEST_NETWORK_TOKEN", "pat-na1-00000000-0000-0000-0000-000000000000"
    )
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    account = Account.model_validate(
        {"id": "acme", "crm": "hubspot", "host": host,
         "credentials": {"token": "LEADSYNC_TEST_NETWORK_TOKEN"}}
    )  # fmt: skip
    return HubSpotConnector(account, limiter=fast_limiter(), policy=FAST)


def _fail(connector: HubSpotConnector) -> str:
    with pytest.raises(CrmError) as raised:
        next(iter(connector.all_leads(None)))
    connector.close()
    message = str(raised.value)
    assert "HubSpot account 'acme'" in message
    assert "properties=" not in message and "?" not in message and "MaxRetryError" not in message
    assert len(message) < 400, message
    return message


def test_connection_refused_is_retried_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    connector = _connector(f"http://127.0.0.1:{port}", monkeypatch)
    message = _fail(connector)
    assert f"host 127.0.0.1:{port}: connection refused" in message
    assert "could not reach the CRM after 6 attempts" in message
    assert connector.http.calls["contacts.list"] == 6


def test_a_host_name_that_does_not_exist_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    connector = _connector("https://leadsync-no-such-host.invalid", monkeypatch)
    message = _fail(connector)
    assert "host leadsync-no-such-host.invalid: name not found (DNS)" in message
    assert "Check the account's host" in message
    assert connector.http.calls["contacts.list"] == 1


def test_an_untrusted_certificate_is_not_retried_and_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with SalesforceSandbox(leads=1, seed=1) as tls:  # HTTPS, a CA no system trusts
        connector = _connector(tls.instance_url, monkeypatch)
        message = _fail(connector)
    assert "certificate not trusted" in message
    assert "TLS certificate is not trusted here" in message and "REQUESTS_CA_BUNDLE" in message
    assert connector.http.calls["contacts.list"] == 1


def test_requests_ca_bundle_makes_a_private_ca_trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hint is honest: HubSpot's client trusts the CA ``REQUESTS_CA_BUNDLE`` names (the
    handshake then succeeds; the Salesforce sandbox answers the HubSpot path with a 404)."""
    with SalesforceSandbox(leads=1, seed=1) as tls:
        connector = _connector(tls.instance_url, monkeypatch)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls.ca_path)
        with pytest.raises(CrmError) as raised:
            next(iter(connector.all_leads(None)))
        connector.close()
    assert "certificate" not in str(raised.value) and "HTTP 404" in str(raised.value)
