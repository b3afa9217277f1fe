"""The sandbox's OAuth token endpoints: v1 and 2026-03 refresh, introspect, revoke, and
both error formats (issue #17 item 7). Requests are plain form posts, as HubSpot takes."""

from __future__ import annotations

import json
from typing import Any

import urllib3

from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox

_HTTP = urllib3.PoolManager(retries=False)


def _post(sb: HubSpotSandbox, path: str, **form: str) -> tuple[int, Any]:
    answer = _HTTP.request("POST", sb.url + path, fields=form, encode_multipart=False)
    return answer.status, json.loads(answer.data) if answer.data else None


def _contacts(sb: HubSpotSandbox, token: str) -> int:
    answer = _HTTP.request("GET", sb.url + "/crm/objects/2026-03/contacts",
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    return answer.status


def test_refresh_introspect_and_revoke() -> None:
    with HubSpotSandbox(contacts=5) as sb:
        refresh = sb.oauth.install("app", "secret")
        app = {"client_id": "app", "client_secret": "secret"}
        status, body = _post(sb, "/oauth/2026-03/token", grant_type="refresh_token",
                             refresh_token=refresh, **app)  # fmt: skip
        assert status == 200 and body["token_type"] == "bearer" and body["expires_in"] == 1800
        access = body["access_token"]
        assert body["refresh_token"] == refresh and _contacts(sb, access) == 200
        _, seen = _post(sb, "/oauth/2026-03/token/introspect", token=access, **app)
        assert seen["active"] is True and seen["token_type"] == "access_token"
        assert _post(sb, "/oauth/2026-03/token/revoke", token=refresh, **app)[0] == 200
        assert _contacts(sb, access) == 401
        assert _post(sb, "/oauth/2026-03/token/introspect", token=refresh, **app)[1] == {
            "active": False
        }
        assert sb.counters.snapshot()["oauth.token"] == {200: 1}


def test_errors_in_the_2026_03_and_v1_formats() -> None:
    with HubSpotSandbox(contacts=5) as sb:
        refresh = sb.oauth.install("app", "secret")
        grant = {"grant_type": "refresh_token", "client_id": "app", "client_secret": "secret"}
        status, body = _post(sb, "/oauth/2026-03/token", refresh_token="nope", **grant)
        assert status == 400 and body["error"] == "invalid_grant"
        assert body["status"] == "BAD_REFRESH_TOKEN" and body["error_description"]
        status, body = _post(sb, "/oauth/v1/token", refresh_token="nope", **grant)
        assert status == 400 and body == {
            "status": "BAD_REFRESH_TOKEN",
            "message": "refresh token is invalid, expired or revoked",
        }
        status, body = _post(sb, "/oauth/2026-03/token", **{**grant, "client_secret": "x"},
                             refresh_token=refresh)  # fmt: skip
        assert status == 401 and body["error"] == "invalid_client"
        status, body = _post(sb, "/oauth/2026-03/token?client_secret=secret", refresh_token=refresh,
                             grant_type="refresh_token", client_id="app")  # fmt: skip
        assert status == 400 and body["error"] == "invalid_request"
        assert _post(sb, "/oauth/v1/token", refresh_token=refresh, **grant)[0] == 200
        assert _post(sb, "/oauth/2026-09/token", refresh_token=refresh, **grant)[0] == 200


def test_both_token_endpoints_stay_whatever_the_api_family() -> None:
    for api in ("2026-03", "legacy"):
        with HubSpotSandbox(contacts=5, api=api) as sb:
            refresh = sb.oauth.install("app", "secret")
            grant = {"grant_type": "refresh_token", "client_id": "app", "client_secret": "secret"}
            assert _post(sb, "/oauth/v1/token", refresh_token=refresh, **grant)[0] == 200
            assert _post(sb, "/oauth/2026-03/token", refresh_token=refresh, **grant)[0] == 200
