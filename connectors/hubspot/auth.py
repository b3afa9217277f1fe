"""HubSpot credentials → the access token to send, refreshed before it expires (OAuth).

Two ways in (``config.accounts.HubSpotCredentials``): a private-app / Service Key token,
used as is, or OAuth: a refresh token exchanged at ``POST /oauth/v1/token``
(``grant_type=refresh_token``) for an access token that lasts about 30 minutes. HubSpot
advises tracking the expiry yourself (a 401 is not a reliable refresh signal), so
:meth:`TokenSource.token` refreshes ``margin`` before ``expires_in`` runs out; the
connector rebuilds its API clients whenever :attr:`TokenSource.generation` changes.
Secrets stay :class:`~pydantic.SecretStr` until the moment they are sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from hubspot import HubSpot
from pydantic import SecretStr
from urllib3.util.retry import Retry

from leadsync.config.accounts import HubSpotCredentials
from leadsync.errors import CrmAuthError

__all__ = ["TokenSource"]

DEFAULT_HOST = "https://api.hubapi.com"


class TokenSource:
    """The current access token of one HubSpot account (thread-safe)."""

    def __init__(
        self,
        credentials: HubSpotCredentials,
        *,
        what: str,
        host: str | None = None,
        margin: timedelta = timedelta(minutes=5),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._what = what
        self._host = host or DEFAULT_HOST
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
        api = HubSpot(host=self._host, retry=Retry(2)).oauth.tokens_api
        try:
            response = api.create(
                grant_type="refresh_token",
                client_id=self._creds.client_id,
                client_secret=self._client_secret().get_secret_value(),
                refresh_token=self._refresh_token.get_secret_value(),
                _preload_content=False,
            )
            body = json.loads(response.data or b"{}")
        except Exception as exc:  # the oauth package's own ApiException, or urllib3's
            status = getattr(exc, "status", None)
            raise CrmAuthError(
                f"{self._what}: HubSpot refused to refresh the OAuth access token "
                f"({'HTTP ' + str(status) if status else type(exc).__name__}). The refresh "
                "token may be revoked or the app uninstalled: re-authorize the app and "
                "update the account's refresh_token."
            ) from None
        try:
            access = str(body["access_token"])
            expires_in = float(body.get("expires_in", 1800))
        except (KeyError, TypeError, ValueError):
            raise CrmAuthError(
                f"{self._what}: HubSpot's OAuth token answer had no access_token"
            ) from None
        self._access = SecretStr(access)
        if body.get("refresh_token"):
            self._refresh_token = SecretStr(str(body["refresh_token"]))
        self._expires_at = self._clock() + expires_in
        self.generation += 1
