"""Logging in to Salesforce: the four ways an account's credentials allow, as one call.

Why our own token requests: simple-salesforce's logins post to
``https://{domain}.salesforce.com`` (so they cannot reach a My Domain-only org's
client-credentials endpoint on another host, nor a local sandbox) and it has no
refresh-token flow at all. :class:`Authenticator` asks the OAuth token endpoint
itself and the connector builds ``simple_salesforce.Salesforce(session_id=…,
instance_url=…)`` from the answer; on 401 ``INVALID_SESSION_ID`` it logs in again and
rebuilds the client (REST and Bulk alike).

=====================  =======================================  ==============================
mode                   request                                  on session expiry
=====================  =======================================  ==============================
client_credentials     ``grant_type=client_credentials``, key   new token, same request
                       and secret in HTTP Basic auth, to the
                       org's My Domain (``instance_url``)
jwt                    ``grant_type=…jwt-bearer``, RS256        new assertion, new token
                       assertion (PyJWT) ``iss`` = consumer
                       key, ``sub`` = username, ``exp`` 3 min
refresh_token          ``grant_type=refresh_token`` (+ secret   new token from the refresh
                       when the connected app requires it)      token
session                none: ``session_id`` + ``instance_url``  cannot renew: CrmAuthError
=====================  =======================================  ==============================

The token request runs through :func:`leadsync.connectors.retry.call` like any other
call: a 5xx, a dropped connection or 403 ``REQUEST_LIMIT_EXCEEDED`` is retried under the
account's policy and finally reported as what it is; only an OAuth refusal (``invalid_grant``,
``invalid_client``…) is a :class:`CrmAuthError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
from simple_salesforce.exceptions import SalesforceError

from leadsync.connectors import retry
from leadsync.connectors.retry import RetryPolicy
from leadsync.connectors.salesforce.failures import describe_failure
from leadsync.errors import CrmAuthError

if TYPE_CHECKING:
    from leadsync.config.accounts import SalesforceCredentials
    from leadsync.config.secret_refs import SecretRef

__all__ = ["LOGIN_URL", "Authenticator", "Token"]

LOGIN_URL = "https://login.salesforce.com"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True, slots=True)
class Token:
    """One session: the access token, the org's instance URL, and the API user if known."""

    access_token: str
    instance_url: str
    user_id: str | None = None

    def __repr__(self) -> str:  # never print the token
        return f"Token(instance_url={self.instance_url!r}, user_id={self.user_id!r})"


class Authenticator:
    """Gets a session for one account's credentials; ``login()`` again to renew it.

    ``host`` is the account's ``host`` setting (the login or My Domain URL); the token
    endpoint is ``{credentials.instance_url or host or login.salesforce.com}``.
    ``session`` is the ``requests.Session`` every call uses (tests pass one that
    trusts the sandbox's CA). ``what`` names the account in messages; ``policy`` and
    ``sleep`` retry the token request as the connector's calls are retried.
    """

    def __init__(
        self,
        credentials: SalesforceCredentials,
        *,
        session: requests.Session,
        host: str | None = None,
        timeout: float = 30.0,
        what: str = "Salesforce",
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.credentials = credentials
        self.mode = credentials.mode()
        self.session = session
        self.timeout = timeout
        self.what = what
        self.policy = policy
        self.sleep = sleep
        base = credentials.instance_url or host or LOGIN_URL
        self.base_url = base.rstrip("/")
        self.logins = 0

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/services/oauth2/token"

    @property
    def renewable(self) -> bool:
        """Whether an expired session can be replaced without the user."""
        return self.mode != "session"

    def secrets(self) -> list[str]:
        """Secret values to keep out of any message (resolved lazily, errors ignored)."""
        found: list[str] = []
        c = self.credentials
        for ref in (c.consumer_secret, c.refresh_token, c.session_id):
            if ref is not None:
                try:
                    found.append(ref.resolve("secret").get_secret_value())
                except Exception:  # only collecting what resolves; errors surface at login
                    continue
        return found

    def login(self, *, renewing: bool = False) -> Token:
        """A session for the account; ``renewing`` when the previous one expired."""
        c = self.credentials
        if self.mode == "session":
            if renewing:
                raise CrmAuthError(
                    f"{self.what}: the session id in the account's credentials has expired "
                    "(401 INVALID_SESSION_ID) and a session id cannot be renewed. Put a fresh "
                    "session id in the variable or file it names, or better, configure a "
                    "connected app (client credentials, JWT bearer or refresh token)."
                )
            assert c.session_id is not None and c.instance_url is not None
            session_id = c.session_id.resolve(self._field("session_id"))
            return Token(session_id.get_secret_value(), c.instance_url.rstrip("/"))
        form: dict[str, str]
        auth: tuple[str, str] | None = None
        key = c.consumer_key or ""
        if self.mode == "client_credentials":
            assert c.consumer_secret is not None
            form = {"grant_type": "client_credentials"}
            auth = (key, c.consumer_secret.resolve(self._field("consumer_secret"))
                    .get_secret_value())  # fmt: skip
        elif self.mode == "refresh_token":
            assert c.refresh_token is not None
            form = {
                "grant_type": "refresh_token",
                "client_id": key,
                "refresh_token": c.refresh_token.resolve(
                    self._field("refresh_token")
                ).get_secret_value(),
            }
            if c.consumer_secret is not None:
                form["client_secret"] = c.consumer_secret.resolve(
                    self._field("consumer_secret")
                ).get_secret_value()
        else:
            form = {"grant_type": JWT_GRANT, "assertion": self._assertion()}
        return self._token(form, auth)

    def _field(self, name: str) -> str:
        return f"{self.what}: credentials.{name}"

    def _assertion(self) -> str:
        """The JWT bearer assertion, signed RS256 with the account's private key."""
        import jwt  # PyJWT, a dependency of simple-salesforce

        c = self.credentials
        assert c.private_key is not None
        pem = read_private_key(c.private_key, self._field("private_key"))
        audience = self.base_url if "test.salesforce.com" in self.base_url else LOGIN_URL
        claims = {"iss": c.consumer_key, "sub": c.username, "aud": audience,
                  "exp": int(time.time()) + 180}  # fmt: skip
        try:
            return jwt.encode(claims, pem, algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise CrmAuthError(
                f"{self.what}: JWT bearer login: the private key cannot sign (it must be the "
                f"PEM RSA key whose certificate the connected app holds): {exc}"
            ) from None

    def _token(self, form: dict[str, str], auth: tuple[str, str] | None) -> Token:
        """POST the grant to the token endpoint, retried like any call; the session."""
        how = self.mode.replace("_", " ")

        def attempt() -> dict[str, Any]:
            self.logins += 1
            reply = self.session.post(self.token_url, data=form, auth=auth, timeout=self.timeout)
            try:
                body: Any = reply.json()
            except ValueError:
                body = reply.text[:200]
            if reply.status_code == 200 and isinstance(body, dict) and "access_token" in body:
                return body
            if _refused(reply.status_code, body):
                error, text = str(body["error"]), str(body.get("error_description") or "")
                raise CrmAuthError(
                    f"{self.what}: Salesforce refused the login ({how}): {error} {text}. "
                    + _hint(self.mode, error)
                )
            raise SalesforceError(self.token_url, reply.status_code, "oauth2/token", body)

        body = retry.call(
            attempt,
            name=f"{self.what}: login ({how}) at {self.token_url}",
            safe=True,  # a repeated grant only opens another session
            describe=describe_failure,
            policy=self.policy,
            secrets=self.secrets(),
            sleep=self.sleep,
        )
        identity = str(body.get("id", ""))
        user = identity.rstrip("/").rsplit("/", 1)[-1] if "/id/" in identity else None
        instance = str(body.get("instance_url") or self.base_url).rstrip("/")
        return Token(str(body["access_token"]), instance, user)


def read_private_key(ref: SecretRef, what: str) -> str:
    """The whole PEM key: from the file (every line) or the variable (``\\n`` allowed)."""
    text = ref.resolve(what, multiline=True).get_secret_value()
    return text if ref.file is not None else text.replace("\\n", "\n")


def _refused(status: int, body: Any) -> bool:
    """An OAuth error answer (RFC 6749 § 5.2): the credentials, not the service, are at fault."""
    return 400 <= status < 500 and isinstance(body, dict) and bool(body.get("error"))


def _hint(mode: str, error: str) -> str:
    if error == "invalid_client_id":
        return "Check consumer_key: it must be the connected app's consumer key."
    if error == "invalid_client":
        return "Check consumer_secret: it must match the connected app's consumer secret."
    if mode == "client_credentials":
        return (
            "The connected app must enable the client credentials flow with a Run As user, "
            "and instance_url must be the org's My Domain URL."
        )
    if mode == "jwt":
        return (
            "The connected app must hold the certificate of this private key, and the user "
            "must be pre-authorized (admin approved users / permission set)."
        )
    return "The refresh token may have been revoked: authorize the connected app again."
