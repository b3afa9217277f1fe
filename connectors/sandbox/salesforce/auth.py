"""OAuth 2.0 for the Salesforce sandbox: the token endpoint and the sessions it hands out.

``POST /services/oauth2/token`` (form-encoded) with the grants leadsync can use headless:

- ``client_credentials``: the consumer key and secret in HTTP Basic auth (what
  simple-salesforce sends) or as ``client_id``/``client_secret`` form fields; no refresh token.
- ``refresh_token``: ``client_id`` (+ optional ``client_secret``) and a refresh token the
  sandbox issued (``SalesforceSandbox.refresh_token``); answers a new access token only.
- ``urn:ietf:params:oauth:grant-type:jwt-bearer``: any well-formed JWT whose ``iss`` is the
  consumer key and whose ``exp`` is in the future (the signature is not checked).

Response keys per grant and the ``{error, error_description}`` 400 bodies follow
``shared/salesforce-reference/oauth.json``. Access tokens expire ``session_seconds`` after
issue (Salesforce's timeout counts from last activity; a fixed lifetime is simpler to test),
or all at once through ``expire_all``; the REST side then answers 401 INVALID_SESSION_ID.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

__all__ = ["ORG_ID", "Sessions"]

ORG_ID = "00D5g000004SBXEAA2"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class Sessions:
    """Issues and checks access tokens; thread-safe."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        session_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.session_seconds = session_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # access token -> expiry (clock seconds)
        self._refresh: set[str] = set()
        self.user_id = ""

    def new_access_token(self) -> str:
        """A fresh valid session id."""
        token = f"{ORG_ID[:15]}!{secrets.token_urlsafe(48)}"
        with self._lock:
            self._tokens[token] = self._clock() + self.session_seconds
        return token

    def new_refresh_token(self) -> str:
        """A refresh token the refresh-token grant will accept."""
        token = "5Aep" + secrets.token_urlsafe(60)
        with self._lock:
            self._refresh.add(token)
        return token

    def valid(self, token: str | None) -> bool:
        """Whether ``token`` is a live session."""
        if not token:
            return False
        with self._lock:
            expiry = self._tokens.get(token)
            if expiry is not None and expiry <= self._clock():
                del self._tokens[token]
                expiry = None
            return expiry is not None

    def expire_all(self) -> None:
        """End every session now (refresh tokens stay valid)."""
        with self._lock:
            self._tokens.clear()

    # -- the token endpoint ------------------------------------------------------------------
    def token_endpoint(
        self, headers: Mapping[str, str], body: bytes, instance_url: str
    ) -> tuple[int, dict[str, Any]]:
        """Answer one token request: (status, JSON body)."""
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        grant = form.get("grant_type", "")
        basic = _basic_auth(headers.get("Authorization", ""))
        client_id = basic[0] if basic else form.get("client_id", "")
        secret = basic[1] if basic else form.get("client_secret")
        if grant == "client_credentials":
            if client_id != self.client_id:
                return 400, _error("invalid_client_id", "client identifier invalid")
            if secret is None or not hmac.compare_digest(secret, self.client_secret):
                return 400, _error("invalid_client", "invalid client credentials")
            return 200, self._grant(instance_url, extra={"api_instance_url": instance_url})
        if grant == "refresh_token":
            if client_id != self.client_id:
                return 400, _error("invalid_client_id", "client identifier invalid")
            if secret is not None and not hmac.compare_digest(secret, self.client_secret):
                return 400, _error("invalid_client", "invalid client credentials")
            with self._lock:
                known = form.get("refresh_token", "") in self._refresh
            if not known:
                return 400, _error("invalid_grant", "expired access/refresh token")
            return 200, self._grant(instance_url)
        if grant == JWT_GRANT:
            claims = _jwt_claims(form.get("assertion", ""))
            if claims is None:
                return 400, _error("invalid_grant", "invalid assertion")
            if claims.get("iss") != self.client_id:
                return 400, _error("invalid_client_id", "client identifier invalid")
            exp = claims.get("exp")
            if not isinstance(exp, int | float) or exp < time.time():
                return 400, _error("invalid_grant", "expired authorization code")
            out = self._grant(instance_url)
            for key in ("signature", "issued_at"):
                out.pop(key)
            return 200, out
        return 400, _error("unsupported_grant_type", "grant type not supported")

    def userinfo(self, headers: Mapping[str, str], instance_url: str) -> tuple[int, Any]:
        """``GET /services/oauth2/userinfo``: who the bearer token's user is.

        A subset of the OpenID Connect keys Salesforce answers (``sub`` is the identity URL,
        ``user_id``, ``organization_id``); an invalid token gets 403 ``Bad_OAuth_Token`` (not
        401: Salesforce's userinfo differs from the REST API here, Mobile SDK issues note it).
        """
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not self.valid(token.strip()):
            return 403, "Bad_OAuth_Token"
        return 200, {
            "sub": f"{instance_url}/id/{ORG_ID}/{self.user_id}",
            "user_id": self.user_id,
            "organization_id": ORG_ID,
            "user_type": "STANDARD",
            "active": True,
        }

    def _grant(self, instance_url: str, extra: Mapping[str, str] | None = None) -> dict[str, Any]:
        token = self.new_access_token()
        issued = str(int(time.time() * 1000))
        identity = f"{instance_url}/id/{ORG_ID}/{self.user_id}"
        signature = base64.b64encode(
            hmac.new(self.client_secret.encode(), (identity + issued).encode(), hashlib.sha256)
            .digest()
        ).decode()  # fmt: skip
        out: dict[str, Any] = {
            "access_token": token,
            "signature": signature,
            "scope": "api refresh_token",
            "instance_url": instance_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued,
        }
        out.update(extra or {})
        return out


def _error(code: str, description: str) -> dict[str, str]:
    return {"error": code, "error_description": description}


def _basic_auth(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _jwt_claims(assertion: str) -> dict[str, Any] | None:
    parts = assertion.split(".")
    if len(parts) != 3 or not all(parts):
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None
