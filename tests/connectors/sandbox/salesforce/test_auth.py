"""OAuth grants, session expiry, faults, counters and admin endpoints of the Salesforce sandbox."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from polling import wait_for
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceRefusedRequest,
)

from leadsync.connectors.sandbox.faults import Faults
from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox, serve_forever


@pytest.fixture
def box() -> Iterator[SalesforceSandbox]:
    """A small private org: these tests change sessions and faults."""
    with SalesforceSandbox(leads=20, seed=5) as sandbox:
        yield sandbox


def _token(box: SalesforceSandbox, data: dict[str, str], **kw: object) -> requests.Response:
    return box.session().post(box.token_url, data=data, timeout=10, **kw)  # type: ignore[arg-type]


def test_client_credentials_grant(box: SalesforceSandbox) -> None:
    reply = _token(
        box, {"grant_type": "client_credentials"}, auth=("sandbox-client", "sandbox-secret")
    )
    assert reply.status_code == 200
    body = reply.json()
    assert {
        "access_token",
        "instance_url",
        "id",
        "token_type",
        "issued_at",
        "signature",
    } <= body.keys()
    assert "refresh_token" not in body and body["instance_url"] == box.instance_url
    sf = box.client(body["access_token"])
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 20
    wrong = _token(box, {"grant_type": "client_credentials"}, auth=("sandbox-client", "nope"))
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_client")
    unknown = _token(
        box, {"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"}
    )
    assert unknown.json() == {
        "error": "invalid_client_id",
        "error_description": "client identifier invalid",
    }


def test_expired_session_then_refresh_token_grant(box: SalesforceSandbox) -> None:
    sf = box.client()
    sf.query("SELECT Id FROM Lead LIMIT 1")
    box.expire_sessions()
    with pytest.raises(SalesforceExpiredSession) as err:
        sf.query("SELECT Id FROM Lead LIMIT 1")
    assert err.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    refreshed = _token(
        box,
        {"grant_type": "refresh_token", "client_id": "sandbox-client",
         "client_secret": "sandbox-secret", "refresh_token": box.refresh_token},
    )  # fmt: skip
    assert refreshed.status_code == 200 and "refresh_token" not in refreshed.json()
    again = box.client(refreshed.json()["access_token"])
    assert again.query("SELECT COUNT() FROM Lead")["totalSize"] == 20
    bad = _token(
        box, {"grant_type": "refresh_token", "client_id": "sandbox-client", "refresh_token": "x"}
    )
    assert bad.json() == {
        "error": "invalid_grant",
        "error_description": "expired access/refresh token",
    }


def test_sessions_expire_after_their_lifetime() -> None:
    with SalesforceSandbox(leads=3, session_seconds=0.3) as short:
        sf = short.client()
        assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 3

        def expired() -> bool:
            try:
                sf.query("SELECT COUNT() FROM Lead")
            except SalesforceExpiredSession:
                return True
            return False

        wait_for(expired, deadline_s=5)


def test_jwt_bearer_grant_and_unsupported_grant(box: SalesforceSandbox) -> None:
    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims = {"iss": "sandbox-client", "sub": "user@example.com", "aud": "https://login.salesforce.com",
              "exp": int(time.time()) + 180}  # fmt: skip
    assertion = f"{part({'alg': 'RS256'})}.{part(claims)}.c2ln"
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    reply = _token(box, {"grant_type": grant, "assertion": assertion})
    assert reply.status_code == 200 and "issued_at" not in reply.json()
    assert (
        box.client(reply.json()["access_token"]).query("SELECT COUNT() FROM Lead")["totalSize"]
        == 20
    )
    assert (
        _token(box, {"grant_type": grant, "assertion": "junk"}).json()["error"] == "invalid_grant"
    )
    assert _token(box, {"grant_type": "password"}).json()["error"] == "unsupported_grant_type"


def test_bad_token_and_bad_version(box: SalesforceSandbox) -> None:
    reply = box.session().get(
        f"{box.instance_url}/services/data/v59.0/limits", headers={"Authorization": "Bearer nope"}
    )
    assert reply.status_code == 401 and reply.headers["WWW-Authenticate"] == "Token"
    assert reply.headers["Sforce-Limit-Info"].startswith("api-usage=")
    sf = Salesforce(
        instance_url=box.instance_url,
        session_id=box.session_id,
        session=box.session(),
        version="iAmABadVersion",
    )
    with pytest.raises(Exception) as err:
        sf.query("SELECT Id FROM Lead")
    assert getattr(err.value, "status", None) == 404


def test_fault_burst_is_request_limit_exceeded_and_errors_are_503(box: SalesforceSandbox) -> None:
    sf = box.client()
    box.faults.update(burst_429=2)
    for _ in range(2):
        with pytest.raises(SalesforceRefusedRequest) as err:
            sf.query("SELECT Id FROM Lead LIMIT 1")
        assert err.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == 20
    box.faults.update(error_rate=1.0)
    with pytest.raises(SalesforceGeneralError) as gen:
        sf.query("SELECT Id FROM Lead LIMIT 1")
    assert gen.value.status in (502, 503)
    box.faults.clear()
    counts = box.counters.snapshot()["GET query"]
    assert counts[403] == 2 and counts[200] == 1 and counts.get(502, 0) + counts.get(503, 0) == 1


def test_dropped_connection_and_partial_batch_failure() -> None:
    with SalesforceSandbox(leads=10, faults=Faults(drop_rate=1.0)) as box:
        with pytest.raises(requests.ConnectionError):
            box.client().query("SELECT Id FROM Lead")
        box.faults.update(drop_rate=0.0, partial_failure_rate=1.0)
        sf = box.client()
        ids = [r["Id"] for r in sf.query("SELECT Id FROM Lead LIMIT 2")["records"]]
        records = [{"attributes": {"type": "Lead"}, "Id": i, "Lead_Score__c": 1} for i in ids]
        results = sf.restful(
            "composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records}
        )
        assert [r["errors"][0]["statusCode"] for r in results] == ["UNABLE_TO_LOCK_ROW"] * 2


def test_admin_endpoints(box: SalesforceSandbox) -> None:
    http = box.session()
    admin = f"{box.instance_url}/__sandbox"
    box.client().query("SELECT Id FROM Lead LIMIT 1")
    assert http.get(f"{admin}/counters").json()["GET query"] == {"200": 1}
    assert http.post(f"{admin}/faults", data="latency_ms=1,burst_429=1").json()["burst_429"] == 1
    assert http.post(f"{admin}/faults", json={"burst_429": 0}).json()["latency_ms"] == 1
    assert http.post(f"{admin}/faults", json={"nope": 1}).status_code == 400
    ids = http.post(f"{admin}/touch", json={"object": "Lead", "count": 2}).json()["ids"]
    assert len(ids) == 2 and all(i.startswith("00Q") for i in ids)
    assert http.post(f"{admin}/counters/reset").status_code == 204
    assert http.get(f"{admin}/counters").json() == {}
    assert http.post(f"{admin}/expire-sessions").status_code == 204
    with pytest.raises(SalesforceExpiredSession):
        box.client().query("SELECT Id FROM Lead LIMIT 1")


def test_foreground_runner_prints_how_to_connect() -> None:
    out, stop, seen = io.StringIO(), threading.Event(), []
    runner = threading.Thread(
        target=serve_forever,
        kwargs={"port": 0, "leads": 4, "out": out, "ready": seen.append, "stop": stop},
    )
    runner.start()
    try:
        wait_for(lambda: bool(seen), deadline_s=5)
        assert seen[0].client().query("SELECT COUNT() FROM Lead")["totalSize"] == 4
    finally:
        stop.set()
        runner.join(timeout=10)
    text = out.getvalue()
    assert f"on https://127.0.0.1:{seen[0].port} (4 leads" in text and "CA certificate:" in text
    assert "Salesforce(instance_url=" in text and "client_credentials" in text
