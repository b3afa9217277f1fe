"""MQL tasks: one per crossing, created exactly once, each refusal kept and visible.

A crossing is saved as an *intent* with its task in the same transaction as the page's
scores, then its task is created; a crash in between leaves intents that a later run
settles by key (found in the CRM, or created) once no create can still be on its way.
Before a lead's first known crossing the CRM is asked whether a task with that key
exists already (another state database may have created it). A task the CRM refuses
keeps its reason, is retried at the next run with its owner taken again from the
accounts file, and makes the run ``partial``; one whose record is gone is not retried.
The account's lease is checked before every request that may create tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from leadsync.config.accounts import Account
from leadsync.connectors.base import Connector, CrmLead, TaskRequest
from leadsync.scoring.engine import ScoreResult
from leadsync.sync import mql
from leadsync.sync.state import Crossing, StateStore

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from leadsync.sync.pipeline import RunReport

log = logging.getLogger("leadsync.sync")

#: The state cursor holding the round-robin position.
ROUND_ROBIN = "round_robin"
#: How long a task create may still be on its way (the connectors' request timeouts and
#: retries fit well inside): a crossing recorded since is not settled yet.
IN_FLIGHT = timedelta(minutes=5)


class TaskDesk:
    """The MQL tasks of one account's runs."""

    def __init__(
        self,
        account: Account,
        connector: Connector,
        store: StateStore,
        transaction: Callable[[], AbstractContextManager[Connection]],
    ) -> None:
        """``transaction`` opens a state transaction checked against the account's lease."""
        self.account = account
        self.connector = connector
        self.store = store
        self._transaction = transaction

    def create(self, crossings: list[Crossing], report: RunReport) -> None:
        """Create the tasks of a page's new crossings (their intents already saved)."""
        self._create(self._unrecorded(crossings, report), report)

    def crossing(
        self, crm_lead: CrmLead, result: ScoreResult, owner: str | None, now: datetime
    ) -> Crossing:
        """A new crossing: its key (the lead's next number) and its task, to save first."""
        number = self.store.crossing_count(self.account.id, crm_lead.lead.id) + 1
        key = mql.crossing_key(self.account.id, crm_lead.lead.id, number)
        task = mql.task_for(key, crm_lead, result, self.account.tasks, owner, now)
        payload = _task_payload(task)
        payload["robin"] = not (crm_lead.owner_id and crm_lead.owner_active)
        return Crossing(key, crm_lead.lead.id, crm_lead.object_type, "intent", None, payload)

    def _unrecorded(self, crossings: list[Crossing], report: RunReport) -> list[Crossing]:
        """The crossings whose task the CRM does not hold already.

        A lead's first crossing in this state database may not be its first: the account
        may have been synced with another database (a new state file, SQLite moved to
        PostgreSQL). Its key is then the one an earlier task carries, so the CRM is asked
        for those keys (in batches) before anything is created.
        """
        found = self._in_crm([c.key for c in crossings if mql.crossing_number(c.key) == 1], report)
        return [c for c in crossings if c.key not in found]

    def _in_crm(self, keys: list[str], report: RunReport) -> dict[str, str]:
        """The tasks the CRM holds for these keys (key → task id), recorded as created."""
        found = self.connector.find_tasks(keys) if keys else {}
        if found:
            self.store.mark_crossings(
                self.account.id, {k: ("created", v) for k, v in found.items()}
            )
            report.counts["tasks_reconciled"] += len(found)
        return found

    def _create(self, crossings: Sequence[Crossing], report: RunReport) -> None:
        """Create the crossings' tasks; a task the CRM refuses is kept with its reason,
        retried at the next run (its owner chosen again from the accounts file then),
        and makes the run ``partial``; one whose record is gone is not retried."""
        if not crossings:
            return
        outcome = self.connector.create_tasks([_task_from(c) for c in crossings], self.fence)
        report.counts["tasks"] += len(outcome.done)
        refused = {k: v for k, v in outcome.failed.items() if k not in outcome.gone}
        report.counts["task_failures"] += len(refused)
        report.counts["tasks_gone"] += len(outcome.gone)
        for key, reason in refused.items():
            log.warning("MQL task not created: %s", reason, extra={"crossing": key})
        if refused:
            first = next(iter(refused.values()))
            report.error = f"{len(refused)} MQL task(s) refused by the CRM, e.g.: {first}"
        self.store.mark_crossings(
            self.account.id,
            {
                **{key: ("created", task_id) for key, task_id in outcome.done.items()},
                **{key: ("failed", None, reason) for key, reason in refused.items()},
                **{key: ("gone", None, outcome.failed[key]) for key in outcome.gone},
            },
        )

    def fence(self) -> None:
        """Before each side effect: is the account's lease still ours? A replica stalled
        past its lease stops here (raising what the run's guard raises)."""
        with self._transaction():
            pass

    def settle(self, report: RunReport, now: datetime) -> None:
        """Tasks whose creation a crash may have interrupted: find them, or create them.

        A crossing recorded less than :data:`IN_FLIGHT` ago may have its create still on
        its way from a replica that stalled past its lease (the CRM takes no idempotent
        create): it is left for a later run, which finds its task by key if it landed.
        """
        pending = [
            c
            for c in self.store.pending_crossings(self.account.id)
            if c.state != "intent" or c.created_at is None or c.created_at <= now - IN_FLIGHT
        ]
        if not pending:
            return
        found = self._in_crm([c.key for c in pending], report)
        robin = self.round_robin()
        retry = [self._reassigned(c, robin) for c in pending if c.key not in found]
        with self._transaction() as conn:
            self.store.set_cursor(conn, self.account.id, ROUND_ROBIN, str(robin.position))
        self._create(retry, report)

    def _reassigned(self, crossing: Crossing, robin: mql.RoundRobin) -> Crossing:
        """A crossing to retry, its owner taken again from the accounts file when it came
        from a round-robin list that no longer holds it (the cause of many refusals)."""
        payload = crossing.payload
        if not payload.get("robin") or payload.get("owner_id") in self.account.tasks.round_robin:
            return crossing
        return replace(crossing, payload={**payload, "owner_id": robin.next()})

    def round_robin(self) -> mql.RoundRobin:
        position = self.store.cursor(self.account.id, ROUND_ROBIN)
        return mql.RoundRobin(self.account.tasks.round_robin, int(position or 0))


def _task_payload(task: TaskRequest) -> dict[str, Any]:
    return {
        "owner_id": task.owner_id,
        "subject": task.subject,
        "body": task.body,
        "due_at": task.due_at.isoformat(),
    }


def _task_from(crossing: Crossing) -> TaskRequest:
    p = crossing.payload
    return TaskRequest(
        crossing.key,
        crossing.lead_id,
        crossing.object_type,
        p["owner_id"],
        p["subject"],
        p["body"],
        datetime.fromisoformat(p["due_at"]),
    )
