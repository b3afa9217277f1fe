"""Every HTTP call the Salesforce connector makes, each one behind ``retry.call``.

Why one gateway: each request must run under the account's :class:`RateLimiter`
(concurrency cap, daily allocation less the reserve), be retried only when that is
safe, re-authenticate once on 401 ``INVALID_SESSION_ID`` (rebuilding the
simple-salesforce client, so Bulk API 2.0 calls pick up the new session too), and be
counted. A ``requests`` response hook on the session sees *every* response — REST,
Bulk, errors included — so ``Sforce-Limit-Info`` is read from each one (simple-salesforce
only parses it on success) and calls are counted by endpoint exactly as sent.

Failures are described for :mod:`leadsync.connectors.retry` by
:func:`~leadsync.connectors.salesforce.failures.describe_failure`, the same way as the
login's (:mod:`~leadsync.connectors.salesforce.auth`).
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from simple_salesforce import Salesforce
from simple_salesforce.bulk2 import _Bulk2Client

from leadsync.connectors import retry
from leadsync.connectors.ratelimit import RateLimiter, parse_sforce_limit_info
from leadsync.connectors.retry import RetryPolicy
from leadsync.connectors.salesforce.auth import Authenticator, Token
from leadsync.connectors.salesforce.failures import describe_failure
from leadsync.connectors.salesforce.soql import Row, flatten

__all__ = ["SalesforceApi", "describe_failure", "endpoint_name"]

T = TypeVar("T")
_ID_LIKE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?(?:-\d+)?$")
_VERSION = re.compile(r"^v\d+\.\d$")
#: Rows per REST query page: Salesforce's maximum (``Sforce-Query-Options``).
QUERY_BATCH = 2000


def endpoint_name(method: str, url: str) -> str:
    """``rest GET query``, ``bulk POST jobs/ingest``, ``auth POST oauth2/token``: ids → ``{id}``."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    if parts[:2] == ["services", "oauth2"]:
        return f"auth {method} oauth2/{'/'.join(parts[2:])}"
    if parts[:3] == ["services", "Soap", "m"]:
        return f"metadata {method} Soap/m"
    if parts[:2] == ["services", "data"] and len(parts) > 2 and _VERSION.match(parts[2]):
        parts = parts[3:]
    shown = ["{id}" if _ID_LIKE.match(p) and any(c.isdigit() for c in p) else p for p in parts]
    family = "bulk" if shown[:1] == ["jobs"] else "rest"
    return f"{family} {method} {'/'.join(shown)}"


class SalesforceApi:
    """One org's session, simple-salesforce client, limiter and call counts."""

    def __init__(
        self,
        auth: Authenticator,
        *,
        api_version: str,
        session: requests.Session,
        limiter: RateLimiter,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 120.0,
    ) -> None:
        self.auth = auth
        self.api_version = api_version
        self.session = session
        self.limiter = limiter
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.timeout = timeout
        self.calls: Counter[str] = Counter()
        self.items: Counter[str] = Counter()
        """Records each REST endpoint carried (query rows, composite records)."""
        self._lock = threading.Lock()
        self._sf: Salesforce | None = None
        self.token: Token | None = None
        self.learned_user: str | None = None
        self.daily_remaining: int | None = None
        self.daily_limit: int | None = None
        session.hooks.setdefault("response", []).append(self._on_response)

    # -- session -------------------------------------------------------------------------
    def _on_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Count the call and adopt the org's ``Sforce-Limit-Info`` (every answer has one)."""
        method = response.request.method or "GET"
        name = endpoint_name(method, response.url)
        records = 0
        if name.startswith("rest ") and "json" in response.headers.get("Content-Type", ""):
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, list):
                records = len(body)
            elif isinstance(body, dict) and isinstance(body.get("records"), list):
                records = len(body["records"])
        with self._lock:
            self.calls[name] += 1
            self.items[name] += records
        info = parse_sforce_limit_info(response.headers.get("Sforce-Limit-Info"))
        if info is not None:
            self.limiter.observe_salesforce(info)
            self.daily_remaining, self.daily_limit = info.remaining, info.limit

    @property
    def sf(self) -> Salesforce:
        """The simple-salesforce client, logging in on first use."""
        if self._sf is None:
            self._connect(self.auth.login())
        assert self._sf is not None
        return self._sf

    def _connect(self, token: Token) -> None:
        self.token = token
        self._sf = Salesforce(
            session_id=token.access_token,
            instance_url=token.instance_url,
            session=self.session,
            version=self.api_version,
        )

    def _reauth(self) -> None:
        """On 401: a new session (``CrmAuthError`` when the mode cannot renew) and client."""
        self._connect(self.auth.login(renewing=True))

    @property
    def user_id(self) -> str | None:
        """The API user's id: from the login (OAuth modes) or learnt from our own writes."""
        return (self.token.user_id if self.token else None) or self.learned_user

    def close(self) -> None:
        hooks = self.session.hooks.get("response", [])
        if self._on_response in hooks:
            hooks.remove(self._on_response)

    # -- the one way to call ---------------------------------------------------------------
    def call(self, name: str, fn: Callable[[Salesforce], T], *, safe: bool) -> T:
        """Run one request ``fn(client)`` under the limiter, the retry policy and re-auth."""
        return retry.call(
            lambda: fn(self.sf),
            name=f"Salesforce {name}",
            safe=safe,
            describe=describe_failure,
            limiter=self.limiter,
            policy=self.policy,
            reauth=self._reauth,
            secrets=self.auth.secrets(),
            sleep=self.sleep,
        )

    # -- REST ----------------------------------------------------------------------------
    def query_pages(self, text: str, *, include_deleted: bool = False) -> Iterator[list[Row]]:
        """The rows of one SOQL query, a page (one call, ≤ 2,000 rows) at a time."""
        headers = {"Sforce-Query-Options": f"batchSize={QUERY_BATCH}"}
        page = self.call(
            "query",
            lambda sf: sf.query(
                text, include_deleted=include_deleted, headers=headers, timeout=self.timeout
            ),
            safe=True,
        )
        while True:
            yield [flatten(r) for r in page["records"]]
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            url = page["nextRecordsUrl"]
            page = self.call(
                "query (next page)",
                lambda sf, url=url: sf.query_more(
                    url, identifier_is_url=True, headers=headers, timeout=self.timeout
                ),
                safe=True,
            )

    def query_rows(self, text: str, *, include_deleted: bool = False) -> Iterator[Row]:
        for page in self.query_pages(text, include_deleted=include_deleted):
            yield from page

    def count(self, text: str) -> int:
        """``SELECT COUNT() …`` in one call."""
        page = self.call("count", lambda sf: sf.query(text, timeout=self.timeout), safe=True)
        return int(page["totalSize"])

    def describe(self, sobject: str) -> dict[str, Any]:
        return self.call(
            f"describe {sobject}",
            lambda sf: sf.restful(f"sobjects/{sobject}/describe", timeout=self.timeout),
            safe=True,
        )

    def collection(
        self, method: str, records: Sequence[Mapping[str, Any]], *, safe: bool
    ) -> list[dict[str, Any]]:
        """``/composite/sobjects`` (≤ 200 records, allOrNone false): one result per record."""
        body = {"allOrNone": False, "records": list(records)}
        result = self.call(
            f"{method} composite/sobjects",
            lambda sf: sf.restful(
                "composite/sobjects", method=method, json=body, timeout=self.timeout
            ),
            safe=safe,
        )
        return list(result or [])

    # -- Bulk API 2.0 ----------------------------------------------------------------------
    def bulk(self, name: str, sobject: str, fn: Callable[[_Bulk2Client], T], *, safe: bool) -> T:
        """One Bulk 2.0 request through simple-salesforce's client for ``sobject``.

        The client is rebuilt from the current session for every attempt, so a retry
        after re-authentication carries the new token.
        """

        def attempt(sf: Salesforce) -> T:
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {sf.session_id}",
                "X-PrettyPrint": "1",
            }
            return fn(_Bulk2Client(sobject, sf.bulk2_url, headers, self.session))

        return self.call(f"bulk {name}", attempt, safe=safe)
