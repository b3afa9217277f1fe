"""The connector contract: what every CRM adapter offers the sync layer.

A connector turns one CRM account into pages of canonical leads and carries score
writes and follow-up tasks back. It knows nothing of scoring; the sync layer knows
nothing of HTTP. Implementations register by name in :data:`CONNECTORS`.

Cursors are opaque text the connector makes and reads back: the sync layer stores
them and hands them back to resume, and only after a page's writes are durable.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from leadsync.scoring.lead import Lead

if TYPE_CHECKING:
    from leadsync.config.accounts import Account


@dataclass(frozen=True, slots=True)
class WrittenScore:
    """What the CRM record holds in leadsync's fields (``None`` when never written)."""

    score: Decimal | None
    tier: str | None
    model: str | None
    updated_at: datetime | None
    reasons: str | None = None
    """The explanation as leadsync wrote it (without any trailer the connector adds)."""


@dataclass(frozen=True, slots=True)
class OwnWrite:
    """What leadsync knows of a record from its last score write and the read before it."""

    stamp: str
    """The record's modification stamp right after that write."""
    inputs: str
    """The record's :attr:`CrmLead.inputs` when it was read and scored."""


OwnWrites = Callable[[Sequence[str]], Mapping[str, OwnWrite]]
"""Lead ids → what leadsync's last write left on each (where known)."""


def fingerprint(values: Mapping[str, Any]) -> str:
    """A digest of a record's values as read: equal digests, equal scoring inputs.

    Connectors pass every field they read except leadsync's own and the modification
    stamps, so a record whose digest is unchanged since it was scored needs no rescoring
    (its other fields and engagement counters included), whatever its stamp says.
    """
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class CrmLead:
    """A canonical lead plus what the sync needs to write back and assign it."""

    lead: Lead
    object_type: str
    """The CRM object: ``contact`` (HubSpot), ``Lead`` or ``Contact`` (Salesforce)."""
    name: str | None
    owner_id: str | None
    owner_active: bool
    """False when the owner is a queue, deactivated, or unknown: tasks go round-robin."""
    written: WrittenScore
    modified_at: datetime | None = None
    inputs: str = ""
    """:func:`fingerprint` of what the connector read to build this lead (empty: unknown)."""


@dataclass(frozen=True, slots=True)
class LeadPage:
    """A page of leads and the cursor to resume from once they are processed."""

    leads: Iterable[CrmLead]
    """May be a one-shot iterator, valid until the next page is asked for: a Bulk page
    of 100,000 leads streams them, so they are never all in memory at once."""
    cursor: str | None
    skipped: int = 0
    """Records seen but not yielded (e.g. changed only by leadsync's own write-back)."""


@dataclass(frozen=True, slots=True)
class ScoreWrite:
    """The score fields to set on one record (and, optionally, its new owner)."""

    lead_id: str
    object_type: str
    score: Decimal
    tier: str
    reasons: str
    model: str
    updated_at: datetime
    owner_id: str | None = None


@dataclass(frozen=True, slots=True)
class TaskRequest:
    """A follow-up task for one MQL crossing; ``key`` identifies it across retries."""

    key: str
    lead_id: str
    object_type: str
    owner_id: str | None
    subject: str
    body: str
    due_at: datetime


@dataclass(slots=True)
class BatchResult:
    """Per item: done (with the CRM id, for tasks) or failed (with the CRM's reason).

    ``gone`` holds the failed items whose record no longer exists (deleted or merged):
    retrying them can never succeed.
    """

    done: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class TaskState:
    """Where an MQL task stands in the CRM: ``done``, ``open`` or ``deleted``."""

    status: str
    due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CrmOwner:
    id: str
    email: str | None
    name: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class ApiUsage:
    """API calls made by this connector, and what the CRM says is left."""

    calls: Mapping[str, int]
    """Calls by endpoint name, made by this connector since it was opened."""
    items: Mapping[str, int] = field(default_factory=dict)
    """Records sent to (batch writes) or read from (reads) each endpoint."""
    daily_remaining: int | None = None
    daily_limit: int | None = None
    rate_limit_waits: int = 0
    """Times the client-side limiter made a call wait."""
    throttled: int = 0
    """429 (or equivalent) answers received."""

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def minimum(self, batch_limits: Mapping[str, int]) -> int:
        """The fewest calls the endpoints' page and batch limits allow for these records.

        ``batch_limits`` maps an endpoint (or a prefix ending in ``.``) to its records
        per call; endpoints without a limit count as the calls they made.
        """
        least = 0
        for name, calls in self.calls.items():
            limit = next(
                (n for key, n in batch_limits.items() if name == key or name.startswith(key)), None
            )
            records = self.items.get(name, 0)
            least += calls if limit is None else -(-records // limit)
        return least


@runtime_checkable
class Connector(Protocol):
    """One CRM account, as the sync layer sees it."""

    def changed_leads(
        self, cursor: str | None, own_writes: OwnWrites, also: Sequence[str] = ()
    ) -> Iterator[LeadPage]:
        """Leads changed since ``cursor``, oldest change first, overlap de-duplicated, plus
        the leads ``also`` names (read with the changed ones, in the same calls).

        "Changed" includes new engagement that does not touch the person's own record.
        A record whose last change is leadsync's own write-back — its modification stamp
        is the one ``own_writes`` returns for it *and* its inputs are those it was scored
        on — is counted in ``skipped`` and neither re-read for engagement nor yielded.
        A stamp alone proves nothing: a change that lands between leadsync's read and its
        write ends up under the write's stamp.
        """
        ...

    def read_leads(self, lead_ids: Sequence[str]) -> list[CrmLead]:
        """These leads as the CRM holds them now, in batches; the missing ones left out."""
        ...

    def cursor_at(self, moment: datetime) -> str:
        """An incremental cursor for changes after ``moment`` (used once a backfill ends)."""
        ...

    def all_leads(self, cursor: str | None) -> Iterator[LeadPage]:
        """Every lead, for a backfill; ``cursor`` resumes an interrupted one."""
        ...

    def sample_leads(self, limit: int) -> list[CrmLead]:
        """At most ``limit`` leads with their activity, from the first page a backfill
        would read, but without leadsync's own score fields: ``leadsync check`` reads them
        to try the read scopes, which must work before ``setup --create`` made the fields
        (their absence is the fields check's to report)."""
        ...

    def get_lead(self, lead_id: str) -> CrmLead | None:
        """One lead with its engagement (for ``leadsync explain``); None if it does not exist."""
        ...

    def existing(self, lead_ids: Sequence[str]) -> set[str]:
        """Which of these leads still exist, in batches (for ``forget --all-deleted``)."""
        ...

    def ensure_score_fields(self, tiers: Sequence[str], create: bool = False) -> list[str]:
        """Make sure leadsync's fields exist and are writable; returns what was created.

        ``create`` allows changing the CRM's schema where that needs an admin's consent
        (Salesforce: fields through the Metadata API, a permission set and its assignment);
        without it a missing field is a ``CrmError`` saying what to do. HubSpot creates its
        properties either way.
        """
        ...

    def score_field_problems(self, tiers: Sequence[str]) -> list[str]:
        """What is missing or wrong in leadsync's fields, each with what to do; changes
        nothing (``setup`` without ``--create``, ``leadsync check``). Empty: all good."""
        ...

    def write_scores(self, writes: Sequence[ScoreWrite]) -> BatchResult:
        """Write the given scores, in as few calls as the CRM's batch limits allow.

        ``done`` maps each lead id to the record's modification stamp after the write
        (what ``own_writes`` later answers), or ``""`` when the CRM does not say.
        """
        ...

    def find_tasks(self, keys: Sequence[str]) -> dict[str, str]:
        """Tasks leadsync already created for these keys (key → CRM task id)."""
        ...

    def create_tasks(
        self, tasks: Sequence[TaskRequest], fence: Callable[[], None] | None = None
    ) -> BatchResult:
        """Create follow-up tasks, in batches; ``done`` maps each key to the task id.

        ``fence`` is called right before each request that may create tasks and raises to
        stop: a replica that lost the account's lease while stalled between two batches
        must not send the next one (another replica creates those tasks now).
        """
        ...

    def owners(self) -> list[CrmOwner]: ...

    def usage(self) -> ApiUsage: ...

    def close(self) -> None: ...


ConnectorFactory = Callable[["Account"], Connector]

#: Connectors by CRM name; each CRM package registers its own when imported.
CONNECTORS: dict[str, ConnectorFactory] = {}


def register(name: str) -> Callable[[ConnectorFactory], ConnectorFactory]:
    def add(factory: ConnectorFactory) -> ConnectorFactory:
        CONNECTORS[name] = factory
        return factory

    return add


def open_connector(account: Account) -> Connector:
    """The connector for ``account``'s CRM; ``LookupError`` for an unknown one.

    A CRM's package (``leadsync.connectors.<crm>``) is imported on first use, so a
    command that never talks to a CRM never loads its client library.
    """
    factory = CONNECTORS.get(account.crm)
    if factory is None and account.crm.isidentifier() and account.crm != "sandbox":
        package = f"leadsync.connectors.{account.crm}"
        try:
            importlib.import_module(package)
        except ModuleNotFoundError as error:
            if error.name != package:  # the CRM exists but lacks a dependency: say so
                raise
        factory = CONNECTORS.get(account.crm)
    if factory is None:
        known = ", ".join(known_crms())
        raise LookupError(f"no connector for CRM {account.crm!r} (known: {known})")
    return factory(account)


def known_crms() -> list[str]:
    """The CRM packages beside this module, by name."""
    from leadsync import connectors

    return sorted(
        info.name
        for info in pkgutil.iter_modules(connectors.__path__)
        if info.ispkg and info.name != "sandbox"
    )
