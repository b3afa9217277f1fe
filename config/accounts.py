"""The accounts file: which CRM accounts leadsync keeps scored, and how.

```yaml
accounts:
  - id: acme
    crm: hubspot
    credentials: {token: HUBSPOT_TOKEN_ACME}
    model: b2b-saas
```

Credentials are always a reference — an environment variable or a secrets file —
never the secret itself, and they are read as :class:`pydantic.SecretStr` so that no
log, error or report can print them (reading them: :mod:`leadsync.config.secret_refs`).
The full reference is ``docs/accounts.md``.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from leadsync.config.secret_refs import SecretField
from leadsync.errors import ConfigError

_ID = r"^[a-z0-9][a-z0-9_-]*$"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_duration(value: Any) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``1d``, ``2w`` or a number of seconds: one parser for every
    duration (accounts file, settings, command-line options), so help and parser agree."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str) and (found := _DURATION.match(value)):
        return timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2)])
    raise ValueError("a duration like 90s, 15m, 2h, 1d or 2w")


#: HubSpot's first date-based API version; it ships one each March and September.
FIRST_DATED_VERSION = "2026-03"
_DATED = re.compile(r"^(20\d\d)-(03|09)$")


def check_api_version(value: Any) -> str:
    """``legacy`` or a HubSpot date version from 2026-03 on (``YYYY-03`` or ``YYYY-09``)."""
    text = str(value).strip() if isinstance(value, str | int | float) else ""
    if text == "legacy" or (_DATED.match(text) and text >= FIRST_DATED_VERSION):
        return text
    raise ValueError(
        f"{value!r} is not a HubSpot API version: use a date version such as 2026-03 or "
        "2026-09 (HubSpot releases one each March and September, the first in 2026-03), "
        "or legacy for the v3/v4 paths while HubSpot still serves them"
    )


_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def check_crm_address(value: str | None) -> str | None:
    """An ``https://`` address, or ``http://`` on this machine only (a local sandbox).

    The CRM's token, consumer secret or session id go with every request: over plain
    HTTP anyone on the path could read them. Loopback (127.0.0.0/8, ::1, localhost)
    never leaves the machine.
    """
    if value is None:
        return None
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    try:
        host = parts.hostname
    except ValueError:
        host = None
    if scheme not in ("http", "https") or not host:
        raise ValueError(
            "must be a full https:// address, e.g. https://acme.my.salesforce.com or "
            "https://api.hubapi.com"
        )
    if scheme == "https" or _loopback(host):
        return value
    raise ValueError(
        f"{parts.scheme}://{host} is not HTTPS: the credentials would cross the network "
        "unencrypted. Use https:// (plain http:// is only accepted for 127.0.0.1, ::1 or "
        "localhost, e.g. a local sandbox)"
    )


def _loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HubSpotCredentials(_Strict):
    """A private app / Service Key token, or OAuth with a refresh token."""

    token: SecretField | None = None
    client_id: str | None = None
    client_secret: SecretField | None = None
    refresh_token: SecretField | None = None

    @model_validator(mode="after")
    def _one_mode(self) -> HubSpotCredentials:
        oauth = (self.client_id, self.client_secret, self.refresh_token)
        if self.token is None and not all(oauth):
            raise ValueError(
                "give 'token' (an env var name or {file: …}), or OAuth's client_id, "
                "client_secret and refresh_token"
            )
        if self.token is not None and any(oauth):
            raise ValueError("give either 'token' or OAuth's client_id/client_secret/refresh_token")
        return self


class SalesforceCredentials(_Strict):
    """One of four ways in: client credentials, JWT bearer, refresh token, or a session id.

    - client credentials: ``consumer_key`` + ``consumer_secret`` (+ the org's My Domain
      as ``instance_url``);
    - JWT bearer: ``consumer_key`` + ``username`` + ``private_key`` (a file);
    - refresh token: ``consumer_key`` + ``refresh_token`` (+ ``consumer_secret`` if the
      connected app requires it);
    - quick start: ``session_id`` + ``instance_url``.
    """

    instance_url: str | None = None
    consumer_key: str | None = None
    consumer_secret: SecretField | None = None
    username: str | None = None
    private_key: SecretField | None = None
    refresh_token: SecretField | None = None
    session_id: SecretField | None = None

    @field_validator("instance_url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        return check_crm_address(value)

    def mode(self) -> Literal["client_credentials", "jwt", "refresh_token", "session"]:
        if self.session_id is not None:
            return "session"
        if self.refresh_token is not None:
            return "refresh_token"
        if self.private_key is not None:
            return "jwt"
        return "client_credentials"

    @model_validator(mode="after")
    def _complete(self) -> SalesforceCredentials:
        mode = self.mode()
        needed = {
            "session": ("session_id", "instance_url"),
            "refresh_token": ("consumer_key", "refresh_token"),
            "jwt": ("consumer_key", "username", "private_key"),
            "client_credentials": ("consumer_key", "consumer_secret", "instance_url"),
        }[mode]
        missing = [name for name in needed if getattr(self, name) is None]
        if missing:
            raise ValueError(
                f"{mode.replace('_', ' ')} login needs {', '.join(needed)} "
                f"(missing: {', '.join(missing)})"
            )
        return self


class WebActivityObject(_Strict):
    """A custom object some orgs keep web activity in, mapped to canonical events."""

    object: str
    lead_field: str
    """The lookup to the Lead/Contact, e.g. ``Lead__c``."""
    at_field: str = "CreatedDate"
    type_field: str | None = None
    event_type: str = "page_view"
    """The canonical event type when ``type_field`` is absent or unmapped."""
    types: dict[str, str] = Field(default_factory=dict)
    """``type_field`` value → canonical event type."""
    attributes: dict[str, str] = Field(default_factory=dict)
    """Canonical attribute (``url``, ``form``…) → field."""


class SalesforceOptions(_Strict):
    objects: list[Literal["Lead", "Contact"]] = Field(
        default_factory=lambda: ["Lead"], min_length=1
    )
    bulk_threshold: int = Field(default=10_000, ge=0)
    """Backfills above this many records use Bulk API 2.0."""
    max_concurrent: int = Field(default=4, ge=1)
    api_version: str = "59.0"
    web_activity: list[WebActivityObject] = Field(default_factory=list)
    ca_file: Path | None = None
    """A CA certificate (PEM) to trust for this org alone, e.g. the sandbox's printed one;
    relative to the accounts file's folder. ``REQUESTS_CA_BUNDLE`` does not override it."""

    @field_validator("ca_file")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_file():
            raise ValueError(f"no file {value} (a CA certificate in PEM)")
        return value


class FieldNames(_Strict):
    """The CRM property names leadsync writes."""

    score: str = "lead_score"
    tier: str = "lead_score_tier"
    reasons: str = "lead_score_reasons"
    model: str = "lead_score_model"
    updated_at: str = "lead_score_updated_at"
    feedback: str = "lead_score_feedback"
    """Set by sales on an MQL (accepted, or rejected and why): read by ``leadsync review``."""


class TaskSettings(_Strict):
    """Follow-up tasks created when a lead crosses the MQL threshold."""

    enabled: bool = True
    subject: str = "MQL: {name} scored {score}"
    body: str = "{reasons}"
    due_in: timedelta = timedelta(days=1)
    round_robin: list[str] = Field(default_factory=list)
    """Owner ids that take leads without an (active) owner, in turn."""
    assign_owner: bool = False
    """Also set the contact's owner to the round-robin pick."""
    hysteresis: float = Field(default=10, ge=0)
    """A lead must drop this far below the threshold before a new crossing counts."""
    cooldown: timedelta = timedelta(days=30)
    """And the new crossing must come at least this long after the last task."""

    @field_validator("due_in", "cooldown", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return parse_duration(value)

    @field_validator("subject", "body")
    @classmethod
    def _template(cls, value: str) -> str:
        names = set(re.findall(r"{(\w*)[^}]*}", value))
        unknown = names - TEMPLATE_FIELDS
        if unknown:
            raise ValueError(
                f"unknown placeholder {{{sorted(unknown)[0]}}} "
                f"(known: {', '.join('{' + n + '}' for n in sorted(TEMPLATE_FIELDS))})"
            )
        return value


TEMPLATE_FIELDS = frozenset({"name", "score", "tier", "reasons", "email", "id", "model"})


class Schedule(_Strict):
    """When the daemon runs the account: every ``interval`` or on a ``cron`` expression."""

    interval: timedelta | None = None
    cron: str | None = None
    jitter: timedelta = timedelta(seconds=0)
    full_rescore: str | None = None
    """A cron expression for a full re-score (decay and windows move with time)."""

    @field_validator("interval", "jitter", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)

    @field_validator("cron", "full_rescore")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        if value is not None:
            from leadsync.config.cron import cron_trigger

            cron_trigger(value)  # a ValueError that says what is wrong with it
        return value

    @model_validator(mode="after")
    def _one(self) -> Schedule:
        if (self.interval is None) == (self.cron is None):
            raise ValueError("give exactly one of 'interval' or 'cron'")
        if self.interval is not None and self.interval <= timedelta(0):
            raise ValueError("interval: must be longer than 0s")
        if self.jitter < timedelta(0):
            raise ValueError("jitter: must not be negative")
        return self


class Account(_Strict):
    id: Annotated[str, Field(pattern=_ID, max_length=64)]  # the state tables' key width
    crm: Literal["hubspot", "salesforce"]
    credentials: dict[str, Any]
    """Checked against the CRM's own credentials class by :meth:`hubspot_credentials`."""
    host: str | None = None
    """The CRM's API address; the sandbox's when testing. Default: the CRM's public one."""
    model: str = "b2b-saas"
    mapping: dict[str, str] = Field(default_factory=dict)
    """Canonical property → CRM field, over the CRM's default mapping."""
    fields: FieldNames = FieldNames()
    tasks: TaskSettings = TaskSettings()
    schedule: Schedule | None = None
    dry_run: bool = False
    require_consent: bool = False
    """Score behaviour only for leads whose ``marketing_consent`` property says yes."""
    rate_limit: int | None = Field(default=None, ge=1)
    """Requests per ten seconds this account's app may make (default: the CRM's)."""
    daily_reserve: float = Field(default=0.1, ge=0, lt=1)
    """Share of the daily API quota left for the account's other integrations."""
    page_size: int | None = Field(default=None, ge=1)
    """Leads per page a run holds, scores and writes at once (default: HubSpot 1,000,
    Salesforce's Bulk backfill 100,000): smaller lowers memory and costs more calls."""
    api_version: str = "2026-03"
    """HubSpot's API family: a date version (``2026-03``, ``2026-09``…) or ``legacy``."""

    salesforce: SalesforceOptions = SalesforceOptions()

    @field_validator("host")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        return check_crm_address(value)

    @field_validator("api_version", mode="before")
    @classmethod
    def _api_version(cls, value: Any, info: ValidationInfo) -> str:
        if info.data.get("crm") == "salesforce":
            raise ValueError("HubSpot only: a Salesforce account's API version is leadsync's own")
        return check_api_version(value)

    @field_validator("credentials")
    @classmethod
    def _credentials(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        kind = {"hubspot": HubSpotCredentials, "salesforce": SalesforceCredentials}
        if info.data.get("crm") in kind:
            try:
                kind[info.data["crm"]].model_validate(value)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                message = str(first["msg"]).removeprefix("Value error, ")
                if first["type"] == "extra_forbidden":
                    message = unknown_key(str(first["loc"][-1]))
                raise ValueError(f"{where}: {message}" if where else message) from None
        return value

    def hubspot_credentials(self) -> HubSpotCredentials:
        return HubSpotCredentials.model_validate(self.credentials)

    def salesforce_credentials(self) -> SalesforceCredentials:
        return SalesforceCredentials.model_validate(self.credentials)


class AccountsFile(_Strict):
    accounts: list[Account]

    @model_validator(mode="after")
    def _unique(self) -> AccountsFile:
        seen: set[str] = set()
        for account in self.accounts:
            if account.id in seen:
                raise ValueError(f"two accounts have the id {account.id!r}")
            seen.add(account.id)
        return self

    def get(self, account_id: str) -> Account:
        for account in self.accounts:
            if account.id == account_id:
                return account
        known = ", ".join(a.id for a in self.accounts) or "none"
        raise ConfigError(f"no account {account_id!r} in the accounts file (known: {known})")


def unknown_key(name: str) -> str:
    """The words for an unknown key, with the known key it most likely misspells."""
    known = {
        key
        for kind in (Account, FieldNames, TaskSettings, Schedule, SalesforceOptions,
                     WebActivityObject, HubSpotCredentials, SalesforceCredentials)
        for key in kind.model_fields
    }  # fmt: skip
    guess = difflib.get_close_matches(name, sorted(known), n=1)
    return "unknown key" + (f" (did you mean {guess[0]!r}?)" if guess else "")
