"""MQL crossings: when a score creates a follow-up task, for whom, and saying what.

A lead is *armed* until its first task; it re-arms once its score drops below the
threshold minus the hysteresis. An armed lead at or above the threshold crosses,
unless its last task is more recent than the cooldown. Each crossing has a key —
``leadsync:<account>:<lead>:<n>`` — that the connector stores with the task, so a
crash between recording the crossing and creating the task is reconciled by looking
the key up, never by creating the task again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from leadsync.config.accounts import TaskSettings
from leadsync.connectors.base import CrmLead, CrmOwner, TaskRequest
from leadsync.scoring.engine import ScoreResult, format_points


@dataclass(frozen=True, slots=True)
class MqlState:
    armed: bool
    last_task_at: datetime | None


def next_state(
    result: ScoreResult,
    previous: MqlState,
    threshold: Decimal,
    settings: TaskSettings,
    now: datetime,
) -> tuple[MqlState, bool]:
    """The lead's new MQL state, and whether this score is a crossing that gets a task."""
    if result.is_mql:
        cooled = previous.last_task_at is None or now - previous.last_task_at >= settings.cooldown
        if previous.armed and cooled and settings.enabled:
            return MqlState(False, now), True
        return previous, False
    if result.score < threshold - Decimal(str(settings.hysteresis)):
        return MqlState(True, previous.last_task_at), False
    return previous, False


def crossing_key(account_id: str, lead_id: str, number: int) -> str:
    return f"leadsync:{account_id}:{lead_id}:{number}"


def crossing_number(key: str) -> int:
    """The ``number`` of a :func:`crossing_key` (0 for a key of another shape)."""
    tail = key.rpartition(":")[2]
    return int(tail) if tail.isdigit() else 0


class RoundRobin:
    """Owner ids taken in turn, from a position the state store keeps."""

    def __init__(self, owners: list[str], position: int) -> None:
        self.owners = owners
        self.position = position

    def next(self) -> str | None:
        if not self.owners:
            return None
        owner = self.owners[self.position % len(self.owners)]
        self.position += 1
        return owner


#: What both CRMs accept: Salesforce's Task ``Subject`` holds 255 characters; its
#: ``Description`` 32,000, with room left for the key marker the connectors append.
SUBJECT_MAX = 255
BODY_MAX = 30_000


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def task_for(
    key: str,
    crm_lead: CrmLead,
    result: ScoreResult,
    settings: TaskSettings,
    owner_id: str | None,
    now: datetime,
) -> TaskRequest:
    """The task for one crossing, its subject and body rendered from the templates."""
    properties = crm_lead.lead.properties
    email = properties.get("email")
    values = {
        "name": crm_lead.name or (str(email) if email else crm_lead.lead.id),
        "score": format_points(result.score, signed=False),
        "tier": result.tier,
        "reasons": result.explanation("\n"),
        "email": str(email or ""),
        "id": crm_lead.lead.id,
        "model": result.model,
    }
    return TaskRequest(
        key=key,
        lead_id=crm_lead.lead.id,
        object_type=crm_lead.object_type,
        owner_id=owner_id,
        subject=_capped(settings.subject.format(**values), SUBJECT_MAX),
        body=_capped(settings.body.format(**values), BODY_MAX),
        due_at=now + settings.due_in,
    )


def pick_owner(crm_lead: CrmLead, robin: RoundRobin) -> tuple[str | None, bool]:
    """The task's owner, and whether it is a new (round-robin) owner for the lead."""
    if crm_lead.owner_id and crm_lead.owner_active:
        return crm_lead.owner_id, False
    chosen = robin.next()
    return chosen, chosen is not None


def unusable_owners(round_robin: Sequence[str], owners: Sequence[CrmOwner]) -> list[str]:
    """What is wrong with each round-robin owner id the CRM cannot assign a task to."""
    known = {o.id: o for o in owners}
    active = ", ".join(f"{o.id} ({o.email or o.name})" for o in owners if o.active) or "none"
    problems = []
    for owner in round_robin:
        found = known.get(owner)
        if found is None:
            problems.append(f"owner {owner!r} does not exist in the CRM (active owners: {active})")
        elif not found.active:
            problems.append(f"owner {owner!r} ({found.email or found.name}) is deactivated")
    return problems
