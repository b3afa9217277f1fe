"""The one retry policy of every CRM call, decided by error class (built on tenacity).

Why one place: whether a call may be repeated depends on what failed (a 429 was not
processed; a 5xx or a dropped connection may have been) and on whether the call is
safe to repeat (a read, or a write of the same values) -- never on message text.

A connector describes its client library's exceptions as :class:`Failure` values with a
small ``describe`` function and runs every request through :func:`call`:

====================================  ===========================  =====================
failure                               retried                      finally raised
====================================  ===========================  =====================
429 (not DAILY)                       always; Retry-After, else    ``CrmRateLimited``
                                      a whole window (HubSpot's
                                      header, else the policy's:
                                      TEN_SECONDLY_ROLLING 10 s,
                                      SECONDLY 1 s)
429 DAILY, ``REQUEST_LIMIT_EXCEEDED``  never                        ``CrmRateLimited``
5xx, 423, 477, UNABLE_TO_LOCK_ROW,    only when ``safe``           ``CrmError``
connection error (status None)
untrusted TLS certificate, unknown    never                        ``CrmError``
host name (``UNTRUSTED_TLS``,
``UNKNOWN_HOST``)
401                                   once, after ``reauth()``     ``CrmAuthError``
403 with a scope/permission code      never                        ``CrmAuthError``
other 4xx                             never                        ``CrmError``
====================================  ===========================  =====================

A 429 without Retry-After means the server's window is full of calls leadsync may not
have seen (other processes of the same app): only a whole window surely frees it, so
each one waits a whole window, never the moment its own oldest call leaves. With a
limiter, the wait is the limiter's (it holds every call of that kind back meanwhile).
The wait must fit in the call's retry budget (``max_total_s``): one that would not is
not started, and the call fails at once with a ``CrmRateLimited`` that says so.

Every message is passed through :func:`redact`: no token or Authorization header ever
reaches a log line. This module imports no CRM client.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, wait_exponential_jitter

from leadsync.connectors.ratelimit import (
    POLICY_DAILY,
    POLICY_SECONDLY,
    POLICY_TEN_SECONDLY,
    RateLimiter,
)
from leadsync.errors import CrmAuthError, CrmError, CrmPermissionError, CrmRateLimited

__all__ = [
    "UNKNOWN_HOST",
    "UNTRUSTED_TLS",
    "Failure",
    "RetryPolicy",
    "call",
    "error_for",
    "is_retryable",
    "redact",
]

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Codes that mean "try again later", retried like a 5xx (only when safe).
RETRYABLE_CODES = frozenset({"UNABLE_TO_LOCK_ROW"})
#: Codes that mean the account's quota is spent: stop the run, resumable.
QUOTA_CODES = frozenset({POLICY_DAILY, "REQUEST_LIMIT_EXCEEDED"})
#: The CRM's TLS certificate is not trusted here: asking again cannot help.
UNTRUSTED_TLS = "UNTRUSTED_TLS"
#: The CRM's host name does not exist (DNS): asking again cannot help.
UNKNOWN_HOST = "UNKNOWN_HOST"
#: 403 codes that mean a missing scope or permission.
PERMISSION_CODES = frozenset(
    {
        "MISSING_SCOPES",
        "INSUFFICIENT_ACCESS",
        "INSUFFICIENT_ACCESS_OR_READONLY",
        "INSUFFICIENT_PERMISSIONS",
        "API_DISABLED_FOR_ORG",
        "API_CURRENTLY_DISABLED",
    }
)


@dataclass(frozen=True, slots=True)
class Failure:
    """A CRM call's failure, as a connector's ``describe`` reports it.

    ``status`` None means the request may not have arrived or its answer was lost
    (connection refused or reset, timeout, urllib3's MaxRetryError). ``code`` is the
    CRM's machine-readable reason: HubSpot's 429 ``policyName`` or error ``category``,
    Salesforce's ``errorCode``. ``scopes`` names missing scopes or permissions when the
    body says. Salesforce's concurrency refusal (403 ``REQUEST_LIMIT_EXCEEDED`` for
    ConcurrentRequests) should be described as ``status=429`` so that it is retried.
    ``window_s``: the length of the rate-limit window the answer's headers give
    (HubSpot's ``X-HubSpot-RateLimit-Interval-Milliseconds``).
    """

    status: int | None
    retry_after: float | None
    message: str
    code: str | None = None
    scopes: tuple[str, ...] = ()
    window_s: float | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry: whichever of the two limits comes first."""

    max_attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 30.0
    max_total_s: float = 120.0
    window_s: float = 10.0
    """Wait after HubSpot's TEN_SECONDLY_ROLLING 429 when neither a limiter nor the
    answer's headers give the window."""
    secondly_s: float = 1.0
    """Wait per attempt after a secondly (search) 429."""
    locked_s: float = 2.0
    """Least wait after a 423 Locked (HubSpot asks for at least 2 s)."""


_SECRETS = [
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^\r\n,;'\"}]+"), r"\1[redacted]"),
    # a credential after its scheme, not a version or a short word ("OAuth 2.0", "Bearer auth")
    (
        re.compile(
            r"(?i)\b(bearer|basic|oauth)\s+(?![\d.]+(?![\w.~+/=!-]))"
            r"(?!(?-i:[a-z]{1,19})(?![\w.~+/=!-]))[\w.~+/=!-]+"
        ),
        r"\1 [redacted]",
    ),
    (
        re.compile(
            r"(?i)\b(access_token|refresh_token|client_secret|hapikey|api_?key|password"
            r"|session_?id|sid|token|assertion|code)=[^&\s'\"]+"
        ),
        r"\1=[redacted]",
    ),
    (
        re.compile(
            r"(?i)(\"(?:access_token|refresh_token|client_secret|password|token|session_?id)\""
            r"\s*:\s*\")[^\"]*"
        ),
        r"\1[redacted]",
    ),
    (re.compile(r"\b00D\w{12,15}![\w.]+"), "[redacted]"),
    (re.compile(r"\bpat-[a-z0-9]{2,5}-[\w-]{16,}"), "[redacted]"),
]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` without tokens: the given secrets and anything shaped like a credential."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def is_retryable(failure: Failure, *, safe: bool) -> bool:
    """Whether repeating the request can help (and cannot do harm)."""
    if failure.code in QUOTA_CODES or failure.code in (UNTRUSTED_TLS, UNKNOWN_HOST):
        return False
    if failure.status == 429:
        return True  # refused before processing
    transient = (
        failure.status is None
        or failure.status >= 500
        or failure.status in (423, 477)
        or failure.code in RETRYABLE_CODES
    )
    return transient and safe


def _describe_failure(failure: Failure) -> str:
    status = "no response" if failure.status is None else f"HTTP {failure.status}"
    code = f" {failure.code}" if failure.code else ""
    return f"{status}{code}: {failure.message}"


def error_for(
    failure: Failure, *, name: str, attempts: int = 1, secrets: Iterable[str] = ()
) -> CrmError:
    """The leadsync exception for a failure that will not be retried (any more)."""
    what = _describe_failure(failure)
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    if failure.status == 401:
        error: CrmError = CrmAuthError(
            f"{name}: the CRM rejected the credentials ({what}). The token is invalid, "
            "expired or revoked: check the account's credentials (the environment variable "
            "or secrets file they name) and that they belong to this account."
        )
    elif failure.status == 403 and (failure.scopes or failure.code in PERMISSION_CODES):
        plural = "s" if len(failure.scopes) > 1 else ""
        missing = (
            f"the scope{plural} {', '.join(failure.scopes)}" if failure.scopes else "a permission"
        )
        error = CrmPermissionError(
            f"{name}: the credentials lack {missing} ({what}). Grant "
            f"{'them' if plural else 'it'} to the app (HubSpot private app "
            "or Service Key, or the Salesforce user's profile / permission set) and run again."
        )
    elif failure.code in QUOTA_CODES:
        error = CrmRateLimited(
            f"{name}: the account's daily API limit is spent ({what}). The run stopped "
            "cleanly and resumes where it left off when run again after the quota resets."
        )
    elif failure.status == 429:
        error = CrmRateLimited(
            f"{name}: still rate limited{tries} ({what}). The run can be resumed; if this "
            "repeats, other integrations may be using the account's limit."
        )
    elif failure.code == UNTRUSTED_TLS:
        error = CrmError(
            f"{name}: the CRM's TLS certificate is not trusted here ({failure.message}). For "
            "a private CA (a company proxy's, the Salesforce sandbox's), export "
            "REQUESTS_CA_BUNDLE=<the PEM file> (Salesforce: or give it as the account's "
            "salesforce.ca_file)."
        )
    elif failure.code == UNKNOWN_HOST:
        error = CrmError(
            f"{name}: the CRM's host name does not exist ({failure.message}). Check the "
            "account's host in the accounts file (and the network's DNS), then run again."
        )
    elif failure.status is None:
        error = CrmError(f"{name}: could not reach the CRM{tries} ({what}).")
    else:
        error = CrmError(f"{name} failed{tries}: {what}")
    return type(error)(redact(str(error), secrets))


class _Failed(Exception):
    """One attempt's failure, carried through tenacity."""

    def __init__(self, failure: Failure, retryable: bool) -> None:
        super().__init__(failure.message)
        self.failure, self.retryable = failure, retryable


def call(
    fn: Callable[[], T],
    *,
    name: str,
    safe: bool,
    describe: Callable[[BaseException], Failure | None],
    limiter: RateLimiter | None = None,
    kind: str = "default",
    policy: RetryPolicy | None = None,
    reauth: Callable[[], None] | None = None,
    secrets: Iterable[str] = (),
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``fn`` (one HTTP request of endpoint ``name``) under the limiter and the policy.

    Each attempt runs inside ``limiter.slot(kind)``. ``describe`` turns the client's
    exceptions into :class:`Failure` values; exceptions it returns None for (bugs) pass
    through untouched, as do ``CrmError`` raised by the limiter. ``safe``: the call may
    be repeated without effect (a read, or a write of the same values). ``reauth``, when
    given, is called once on a 401 (refresh the token or session) before one more try.
    The total wait is bounded by ``policy.max_total_s`` measured on ``clock``.
    """
    policy = policy or RetryPolicy()
    secrets = tuple(secrets)
    backoff = _backoff(policy)
    reauthed = False
    paced = False
    start = clock()
    planned: dict[int, float] = {}
    attempts = 0
    overdue: float | None = None

    def past_deadline(wait: float) -> bool:
        return clock() - start + wait > policy.max_total_s

    def attempt() -> T:
        nonlocal reauthed, paced, attempts
        attempts += 1
        if limiter is not None:
            ahead = limiter.delay(kind)
            if ahead > 0 and past_deadline(ahead):
                raise _rate_limited_too_long(name, None, ahead, clock() - start, policy)
        try:
            if limiter is None:
                return fn()
            with limiter.slot(kind):
                return fn()
        except CrmError:
            raise
        except Exception as exc:
            failure = describe(exc)
            if failure is None:
                raise
            paced = False
            if failure.status == 429 and limiter is not None:
                paced = limiter.note_throttled(
                    failure.code, failure.retry_after, kind=kind, window_s=failure.window_s
                )
            if failure.status == 401 and reauth is not None and not reauthed:
                reauthed = True
                reauth()
                raise _Failed(failure, True) from None
            raise _Failed(failure, is_retryable(failure, safe=safe)) from None

    def plan(state: RetryCallState) -> float:
        """The wait before the next attempt, decided once per attempt."""
        n = state.attempt_number
        if n not in planned:
            if paced and limiter is not None:
                planned[n] = limiter.delay(kind)  # the limiter holds the kind back this long
            else:
                planned[n] = _wait(_failure_of(state), n, policy, backoff(state))
        return planned[n]

    def stop(state: RetryCallState) -> bool:
        nonlocal overdue
        if state.attempt_number >= policy.max_attempts:
            return True
        if past_deadline(plan(state)):
            overdue = plan(state)
            return True
        return False

    def before_sleep(state: RetryCallState) -> None:
        failure = _failure_of(state)
        if paced and limiter is not None and plan(state) > 0:
            limiter.note_waited(plan(state))  # held for the limiter's window: its wait
        log.info(
            "retrying %s in %.1fs (attempt %d of %d): %s",
            name,
            plan(state),
            state.attempt_number + 1,
            policy.max_attempts,
            redact(_describe_failure(failure), secrets),
        )

    retrying = Retrying(
        sleep=sleep,
        stop=stop,
        wait=plan,
        retry=_should_retry,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except _Failed as failed:
        failure = failed.failure
        if overdue is not None and failure.status == 429 and failure.code not in QUOTA_CODES:
            error = _rate_limited_too_long(name, failure, overdue, clock() - start, policy)
            raise type(error)(redact(str(error), secrets)) from None
        raise error_for(failure, name=name, attempts=attempts, secrets=secrets) from None


def _rate_limited_too_long(
    name: str, failure: Failure | None, wait: float, spent: float, policy: RetryPolicy
) -> CrmRateLimited:
    """The call would have to wait past its retry budget for the rate limit to free."""
    what = f" ({_describe_failure(failure)})" if failure is not None else ""
    return CrmRateLimited(
        f"{name}: rate limited{what}, and the limit frees only in {wait:.0f}s, past this "
        f"call's retry budget ({policy.max_total_s:.0f}s, {spent:.0f}s of it spent). The run "
        "stopped cleanly and resumes where it left off when run again; if this repeats, "
        "other integrations may be using the account's limit."
    )


def _backoff(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    """``base_s * 2**(n-1)`` plus up to ``base_s`` of jitter, capped at ``cap_s``."""
    try:
        return wait_exponential_jitter(
            multiplier=policy.base_s, max=policy.cap_s, jitter=policy.base_s
        )
    except TypeError:  # tenacity < 9.1 calls the multiplier ``initial``
        return wait_exponential_jitter(
            initial=policy.base_s, max=policy.cap_s, jitter=policy.base_s
        )


def _should_retry(state: RetryCallState) -> bool:
    exc = state.outcome.exception() if state.outcome else None
    return isinstance(exc, _Failed) and exc.retryable


def _failure_of(state: RetryCallState) -> Failure:
    exc = state.outcome.exception() if state.outcome else None
    assert isinstance(exc, _Failed)
    return exc.failure


def _wait(failure: Failure, attempt: int, policy: RetryPolicy, backoff: float) -> float:
    """Server-given waits first, then a whole rate-limit window, else jittered backoff."""
    if failure.retry_after is not None:
        return max(0.0, failure.retry_after)
    if failure.status == 429:
        if failure.code == POLICY_SECONDLY:
            return policy.secondly_s * attempt
        if failure.code == POLICY_TEN_SECONDLY:
            return failure.window_s or policy.window_s
    if failure.status == 401:
        return 0.0  # re-authenticated: try again at once
    if failure.status == 423:
        return max(policy.locked_s, backoff)
    return backoff
