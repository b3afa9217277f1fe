"""HubSpot credentials → the access token to send, refreshed before it expires (OAuth).

Two ways in (``config.accounts.HubSpotCredentials``): a private-app / Service Key token,
used as is, or OAuth: a refresh token exchanged (``grant_type=refresh_token``, every
parameter in the form body) for an access token that lasts about 30 minutes, at
``POST /oauth/2026-03/token``, whatever the account's ``api_version`` (HubSpot deprecates
``POST /oauth/v1/token`` on 2027-02-16, before the legacy REST paths). HubSpot advises
tracking the expiry yourself (a 401 is not a reliable refresh signal), so :meth:`TokenSource.token`
refreshes ``margin`` before ``expires_in`` runs out; the connector rebuilds its API
client whenever :attr:`TokenSource.generation` changes.

A refusal (400/401: RFC 6749 ``error`` such as ``invalid_grant``, or the v1 body's
``status`` such as ``BAD_REFRESH_TOKEN``) is a :class:`~leadsync.errors.CrmAuthError`
saying what to do; a 429, a 5xx or a lost connection is HubSpot's trouble, not the
credentials': the request is retried under the retry policy (repeating a refresh is
harmless) and finally raised as a transient ``CrmError``/``CrmRateLimited``. Secrets
stay :class:`~pydantic.SecretStr` until the moment they are sent, in the body, never
in the URL.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import urllib3
from pydantic import SecretStr
from urllib3.util.retry import Retry

from leadsync.config.accounts import HubSpotCredentials
from leadsync.connectors.hubspot.paths import ApiPaths
from leadsync.connectors.retry import Failure, RetryPolicy, call
from leadsync.errors import CrmAuthError

__all__ = ["TokenSource"]

DEFAULT_HOST = "https://api.hubapi.com"
#: Refusals that mean the credentials, not HubSpot, are at fault.
_REFUSED = (400, 401, 403)


class _TokenFailure(Exception):
    """A token endpoint's non-2xx answer (its shape is what ``retry.call`` describes)."""

    def __init__(self, status: int, body: dict[str, object], headers: dict[str, str]) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.body, self.headers = status, body, headers


def _describe(exc: BaseException) -> Failure | None:
    if isinstance(exc, _TokenFailure):
        retry_after = None
        for name, value in exc.headers.items():
            if name.lower() == "retry-after" and value.replace(".", "", 1).isdigit():
                retry_after = float(value)
        text = exc.body.get("error_description") or exc.body.get("message") or "no message"
        return Failure(exc.status, retry_after, f"HubSpot's OAuth token endpoint: {text}")
    if isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError):
        return Failure(None, None, f"HubSpot's OAuth token endpoint: {type(exc).__name__}")
    return None


def oauth_error(body: dict[str, object]) -> str:
    """The error code of either format: RFC 6749 ``error`` (2026-03), else v1 ``status``."""
    return str(body.get("error") or body.get("status") or "no error code")


class TokenSource:
    """The current access token of one HubSpot account (thread-safe)."""

    def __init__(
        self,
        credentials: HubSpotCredentials,
        *,
        what: str,
        host: str | None = None,
        paths: ApiPaths | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        margin: timedelta = timedelta(minutes=5),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._what = what
        self._host = (host or DEFAULT_HOST).rstrip("/")
        self._path = (paths or ApiPaths("2026-03")).oauth_token()
        self._policy = policy
        self._sleep = sleep
        self._pool: urllib3.PoolManager | None = None
        self._margin = margin.total_seconds()
        self._clock = clock
        self._lock = threading.Lock()
        self._expires_at: float | None = None
        self.generation = 0
        self._access: SecretStr | None = None
        self._creds = credentials
        if credentials.token is not None:
            self._access = credentials.token.resolve(f"{what}: credentials.token")
            self._refresh_token: SecretStr | None = None
        else:
            assert credentials.refresh_token is not None
            self._refresh_token = credentials.refresh_token.resolve(
                f"{what}: credentials.refresh_token"
            )

    @property
    def is_oauth(self) -> bool:
        return self._creds.token is None

    def token(self) -> str:
        """The token to send now; an OAuth token is refreshed first when close to expiry."""
        with self._lock:
            if self.is_oauth and (
                self._access is None
                or self._expires_at is None
                or self._clock() >= self._expires_at - self._margin
            ):
                self._refresh()
            assert self._access is not None
            return self._access.get_secret_value()

    def force_refresh(self) -> None:
        """After a 401 on OAuth: get a new access token now (a token is not refreshable)."""
        if not self.is_oauth:
            return
        with self._lock:
            self._refresh()

    def secrets(self) -> list[str]:
        """Every secret value, for redaction of error messages."""
        values = [self._access, self._refresh_token]
        if self._creds.client_secret is not None and self.is_oauth:
            values.append(self._client_secret())
        return [v.get_secret_value() for v in values if v is not None]

    def _client_secret(self) -> SecretStr:
        assert self._creds.client_secret is not None
        return self._creds.client_secret.resolve(f"{self._what}: credentials.client_secret")

    def _refresh(self) -> None:
        assert self._refresh_token is not None and self._creds.client_id is not None
        form = {
            "grant_type": "refresh_token",
            "client_id": self._creds.client_id,
            "client_secret": self._client_secret().get_secret_value(),
            "refresh_token": self._refresh_token.get_secret_value(),
        }
        if self._pool is None:
            self._pool = urllib3.PoolManager(retries=Retry(0), timeout=urllib3.Timeout(10, 60))
        pool = self._pool

        def attempt() -> dict[str, object]:
            answer = pool.request(
                "POST", self._host + self._path, fields=form, encode_multipart=False,
                headers={"Accept": "application/json"},
            )  # fmt: skip
            try:
                body = json.loads(answer.data or b"{}")
            except ValueError:
                body = {}
            body = body if isinstance(body, dict) else {}
            if 200 <= answer.status < 300:
                return body
            if answer.status in _REFUSED:
                raise CrmAuthError(
                    f"{self._what}: HubSpot refused to refresh the OAuth access token "
                    f"(HTTP {answer.status} {oauth_error(body)}). The refresh token may be "
                    "revoked or the app uninstalled, or the client id or secret is wrong: "
                    "re-authorize the app and update the account's credentials."
                )
            raise _TokenFailure(answer.status, body, dict(answer.headers))

        body = call(
            attempt, name="oauth.token", safe=True, describe=_describe, policy=self._policy,
            secrets=self.secrets(), sleep=self._sleep,
        )  # fmt: skip
        try:
            access = str(body["access_token"])
            expires_in = float(str(body.get("expires_in", 1800)))
        except (KeyError, TypeError, ValueError):
            raise CrmAuthError(
                f"{self._what}: HubSpot's OAuth token answer had no access_token"
            ) from None
        self._access = SecretStr(access)
        if body.get("refresh_token"):
            self._refresh_token = SecretStr(str(body["refresh_token"]))
        self._expires_at = self._clock() + expires_in
        self.generation += 1
