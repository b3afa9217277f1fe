"""The sandbox's OAuth token endpoints: v1 (deprecated 2027-02-16) and 2026-03.

- ``POST /oauth/v1/token`` and ``POST /oauth/2026-03/token``: form-encoded
  ``grant_type=refresh_token`` with ``client_id``, ``client_secret``, ``refresh_token``
  (the 2026-03 endpoint takes every parameter in the body; v1 also read the query
  string, which the sandbox refuses to encourage). The answer: ``access_token``,
  ``refresh_token``, ``expires_in`` (seconds), ``token_type: bearer``; the access token
  is then valid on the API with every scope.
- ``POST /oauth/2026-03/token/introspect`` (``token``, ``client_id``, ``client_secret``):
  ``{"active": …}`` with the token's kind, scopes and expiry; ``/token/revoke`` revokes a
  refresh token (its access tokens stop working too) and answers 200.

Errors: v1 answers HubSpot's own ``{"status": "BAD_REFRESH_TOKEN", "message": …}``;
2026-03 the RFC 6749 ``error``/``error_description`` with ``status``/``message`` kept,
as HubSpot documents (400 ``invalid_grant`` for an unknown or revoked refresh token,
401 ``invalid_client`` for a wrong client id or secret, 400 ``invalid_request`` /
``unsupported_grant_type`` for a malformed request).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

__all__ = ["OAuthApps", "endpoint_name"]

_PATHS = {
    "/oauth/v1/token": "oauth.token",
    "/oauth/2026-03/token": "oauth.token",
    "/oauth/2026-03/token/introspect": "oauth.introspect",
    "/oauth/2026-03/token/revoke": "oauth.revoke",
}


def endpoint_name(method: str, path: str) -> str | None:
    """The counter name of an OAuth endpoint (``oauth.token``…), None if ``path`` is not one."""
    return _PATHS.get(path) if method == "POST" else None


@dataclass
class _Grant:
    client_id: str
    access: set[str] = field(default_factory=set)


class OAuthApps:
    """OAuth apps installed in the sandbox account, their refresh and access tokens.

    ``grant_access(token)`` is called for each access token issued (the sandbox adds it
    to its valid tokens); ``revoke_access(token)`` when a revoke ends it.
    """

    def __init__(self, grant_access: Any, revoke_access: Any, expires_in: int = 1800) -> None:
        self._clients: dict[str, str] = {}
        self._grants: dict[str, _Grant] = {}
        self._expiry: dict[str, float] = {}
        self._grant_access, self._revoke_access = grant_access, revoke_access
        self.expires_in = expires_in
        self._lock = threading.Lock()

    def install(self, client_id: str, client_secret: str) -> str:
        """Register an app and install it: returns a refresh token for it."""
        refresh = "sandbox-refresh-" + secrets.token_hex(12)
        with self._lock:
            self._clients[client_id] = client_secret
            self._grants[refresh] = _Grant(client_id)
        return refresh

    def handle(self, path: str, query: str, raw: bytes) -> tuple[int, dict[str, Any] | None]:
        """Serve one OAuth request (``path`` is one :func:`endpoint_name` knows)."""
        v1 = path.startswith("/oauth/v1/")
        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        if query and not v1:
            return _error(v1, 400, "invalid_request", "BAD_REQUEST",
                          "parameters belong in the request body, not the URL")  # fmt: skip
        with self._lock:
            if not self._client_ok(form):
                return _error(v1, 401 if not v1 else 400, "invalid_client", "BAD_CLIENT_ID",
                              "missing or unknown client id, or wrong client secret")  # fmt: skip
            if path.endswith("/introspect"):
                return 200, self._introspect(form.get("token", ""), form["client_id"])
            if path.endswith("/revoke"):
                grant = self._grants.pop(form.get("token", ""), None)
                for token in grant.access if grant else ():
                    self._revoke_access(token)
                return 200, None
            if form.get("grant_type") != "refresh_token":
                return _error(v1, 400, "unsupported_grant_type", "BAD_GRANT_TYPE",
                              "the sandbox supports grant_type=refresh_token only")  # fmt: skip
            grant = self._grants.get(form.get("refresh_token", ""))
            if grant is None or grant.client_id != form["client_id"]:
                return _error(v1, 400, "invalid_grant", "BAD_REFRESH_TOKEN",
                              "refresh token is invalid, expired or revoked")  # fmt: skip
            access = "sandbox-oauth-" + secrets.token_hex(16)
            grant.access.add(access)
            self._expiry[access] = time.time() + self.expires_in
        self._grant_access(access)
        body = {"access_token": access, "refresh_token": form["refresh_token"],
                "expires_in": self.expires_in, "token_type": "bearer"}  # fmt: skip
        return 200, body

    def _client_ok(self, form: dict[str, str]) -> bool:
        secret = self._clients.get(form.get("client_id", ""))
        return secret is not None and secrets.compare_digest(secret, form.get("client_secret", ""))

    def _introspect(self, token: str, client_id: str) -> dict[str, Any]:
        grant = self._grants.get(token)
        if grant is not None and grant.client_id == client_id:
            return {"active": True, "token_type": "refresh_token", "client_id": client_id}
        for grant in self._grants.values():
            if token in grant.access and grant.client_id == client_id:
                return {"active": True, "token_type": "access_token", "client_id": client_id,
                        "exp": int(self._expiry.get(token, 0))}  # fmt: skip
        return {"active": False}


def _error(v1: bool, status: int, error: str, code: str, text: str) -> tuple[int, dict[str, Any]]:
    if v1:
        return status, {"status": code, "message": text}
    return status, {"error": error, "error_description": text, "status": code, "message": text}
