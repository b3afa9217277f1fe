"""HubSpot batch reads and the writes of each run: score write-back, MQL tasks (the score
fields themselves: :mod:`~leadsync.connectors.hubspot.properties`).

Batches follow HubSpot's limits: 100 inputs per objects batch call, 1,000 per
associations v4 batch read. A 207 answer lists per-input errors: transient ones
(``INTERNAL_ERROR``…) are retried once inside the call, the rest are reported per
record in :class:`~leadsync.connectors.base.BatchResult` — an input is never dropped
silently. Task creation is not safe to repeat (a retry after a lost answer could
duplicate the task), so after an ambiguous failure the batch is reconciled through
:meth:`HubSpotWriter.find_tasks` (each task body ends with a ``[leadsync:…]`` marker
line carrying its crossing key) and only the tasks not found are created again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from leadsync.config.accounts import Account
from leadsync.connectors.base import BatchResult, ScoreWrite, TaskRequest
from leadsync.connectors.hubspot.answers import object_id, object_ids
from leadsync.connectors.hubspot.engagement import parse_time
from leadsync.connectors.hubspot.http import HubSpotHttp, Response
from leadsync.connectors.hubspot.paths import ApiPaths
from leadsync.errors import CrmAuthError, CrmError, CrmRateLimited

__all__ = ["MARKER", "HubSpotWriter", "batch_read", "errors_of"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The property group leadsync's fields live in.
#: The marker line ending each task body: ``[leadsync:<account>:<lead>:<n>]``.
MARKER = re.compile(r"\[(leadsync:[^\[\]\s]+)\]")
#: Per-input error categories worth one more try.
TRANSIENT = frozenset({"INTERNAL_ERROR", "RATE_LIMITS", "SERVICE_UNAVAILABLE", "TIMEOUT"})
_NOT_FOUND = ("OBJECT_NOT_FOUND", "crm.associations.NO_ASSOCIATIONS_FOUND")


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def errors_of(response: Response) -> list[dict[str, Any]]:
    """The per-input errors of a batch answer (a 207's ``errors``)."""
    return [e for e in response.body.get("errors") or [] if isinstance(e, dict)]


def _ids(error: dict[str, Any], key: str = "ids") -> list[str]:
    return [str(i) for i in ((error.get("context") or {}).get(key) or [])]


def _transient(error: dict[str, Any]) -> bool:
    return str(error.get("category")) in TRANSIENT


def _expected(error: dict[str, Any]) -> bool:
    return error.get("category") in _NOT_FOUND or error.get("subCategory") in _NOT_FOUND


def batch_read(
    http: HubSpotHttp,
    paths: ApiPaths,
    object_type: str,
    ids: Sequence[str],
    properties: list[str],
    *,
    missing_ok: bool,
) -> list[dict[str, Any]]:
    """Objects by id, 100 a call; transient per-input errors retried once, then raised.
    (``archived`` is left at its default, false: sending it is not needed.)"""
    name, path = f"{object_type}.batch_read", paths.objects(object_type, "batch", "read")
    out: list[dict[str, Any]] = []
    for chunk in chunks(list(dict.fromkeys(ids)), 100):
        pending, tries = list(chunk), 0
        while pending:
            tries += 1
            body = {"inputs": [{"id": i} for i in pending], "properties": properties}
            response = http.request(name, "POST", path, body=body, safe=True)
            found = response.body.get("results") or []
            object_ids(found, name)
            out += found
            retry: list[str] = []
            for error in errors_of(response):
                if _expected(error) and missing_ok:
                    continue
                if _transient(error) and tries == 1:
                    retry += _ids(error)
                    continue
                raise CrmError(f"{object_type}.batch_read: {error.get('message')}")
            pending = retry
    return out


class HubSpotWriter:
    """Batch reads, score write-back, tasks and their reconciliation for one account."""

    def __init__(self, http: HubSpotHttp, account: Account, paths: ApiPaths) -> None:
        self.http = http
        self.account = account
        self.paths = paths
        self.what = f"HubSpot account {account.id!r}"

    # -------------------------------------------------------------------- reads

    def read_contacts(self, ids: Sequence[str], properties: list[str]) -> list[dict[str, Any]]:
        """Contacts by id; ids that do not exist are left out."""
        return batch_read(self.http, self.paths, "contacts", ids, properties, missing_ok=True)

    def associations(self, src: str, dst: str, ids: Sequence[str]) -> dict[str, list[str]]:
        """``src`` id → associated ``dst`` ids (associations v4 batch read, 1,000 a call)."""
        out: dict[str, list[str]] = {}
        for chunk in chunks(list(dict.fromkeys(ids)), 1_000):
            pending, tries = list(chunk), 0
            while pending:
                tries += 1
                name = f"associations.{src}_{dst}.batch_read"
                response = self.http.request(
                    name, "POST", self.paths.associations(src, dst),
                    body={"inputs": [{"id": i} for i in pending]}, safe=True,
                )  # fmt: skip
                for item in response.body.get("results") or []:
                    source = object_id((item.get("from") or {}).get("id"), name)
                    linked = [object_id(t.get("toObjectId"), name) for t in item.get("to") or []]
                    out.setdefault(source, []).extend(linked)
                retry: list[str] = []
                for error in errors_of(response):
                    if _expected(error):
                        continue
                    if _transient(error) and tries == 1:
                        retry += _ids(error, "fromObjectId") or _ids(error)
                        continue
                    raise CrmError(f"associations {src}→{dst}: {error.get('message')}")
                pending = retry
        return out

    # ------------------------------------------------------------------- scores

    def _properties(self, w: ScoreWrite) -> dict[str, str]:
        f = self.account.fields
        props = {
            f.score: format(w.score, "f"),
            f.tier: w.tier,
            f.reasons: w.reasons,
            f.model: w.model,
            f.updated_at: str(int(w.updated_at.timestamp() * 1000)),
        }
        if w.owner_id:
            props["hubspot_owner_id"] = w.owner_id
        return props

    def write_scores(self, writes: Sequence[ScoreWrite]) -> BatchResult:
        """Batch updates of 100; transient per-input failures get one more try."""
        result = BatchResult()
        pending = list({w.lead_id: w for w in writes}.values())
        for last in (False, True):
            again: list[ScoreWrite] = []
            for chunk in chunks(pending, 100):
                again += self._update(chunk, result, last=last)
            if not again:
                break
            pending = again
        return result

    def _update(
        self, chunk: Sequence[ScoreWrite], result: BatchResult, *, last: bool
    ) -> list[ScoreWrite]:
        """One batch update; returns the writes to try again."""
        body = {"inputs": [{"id": w.lead_id, "properties": self._properties(w)} for w in chunk]}
        try:
            path = self.paths.objects("contacts", "batch", "update")
            response = self.http.request(
                "contacts.batch_update", "POST", path, body=body, safe=True
            )
        except (CrmAuthError, CrmRateLimited):
            raise
        except CrmError as exc:
            for w in chunk:
                result.failed[w.lead_id] = str(exc)
            return []
        by_id = {w.lead_id: w for w in chunk}
        for item in response.body.get("results") or []:
            at = parse_time((item.get("properties") or {}).get("lastmodifieddate"))
            at = at or parse_time(item.get("updatedAt"))
            done = object_id(item.get("id"), "contacts.batch_update")
            result.done[done] = str(int(at.timestamp() * 1000)) if at else ""
        again: list[ScoreWrite] = []
        for error in errors_of(response):
            message = f"{error.get('category', 'ERROR')}: {error.get('message', 'no message')}"
            for lead_id in _ids(error):
                if lead_id not in by_id or lead_id in result.done:
                    continue
                if _transient(error) and not last:
                    again.append(by_id[lead_id])
                else:
                    result.failed[lead_id] = message
        for lead_id, w in by_id.items():
            if lead_id not in result.done and lead_id not in result.failed and w not in again:
                if last:
                    result.failed[lead_id] = "HubSpot did not confirm this update"
                else:
                    again.append(w)
        return again

    # -------------------------------------------------------------------- tasks

    def find_tasks(self, keys: Sequence[str]) -> dict[str, str]:
        """Tasks carrying these keys' markers, among the keys' contacts' tasks."""
        wanted = set(keys)
        leads = [k.split(":")[2] for k in keys if len(k.split(":")) == 4]
        if not leads:
            return {}
        linked = self.associations("contacts", "tasks", leads)
        task_ids = sorted({t for ts in linked.values() for t in ts})
        found: dict[str, str] = {}
        for task in batch_read(
            self.http, self.paths, "tasks", task_ids, ["hs_task_body"], missing_ok=True
        ):
            body = str((task.get("properties") or {}).get("hs_task_body") or "")
            for key in MARKER.findall(body):
                if key in wanted:
                    found.setdefault(key, str(task["id"]))
        return found

    def create_tasks(
        self, tasks: Sequence[TaskRequest], fence: Callable[[], None] | None = None
    ) -> BatchResult:
        """Batch-create tasks (100 a call); ``done`` maps each key to its task id.
        ``fence`` runs before every create call (see ``Connector.create_tasks``)."""
        result = BatchResult()
        unique = list({t.key: t for t in tasks}.values())
        for chunk in chunks(unique, 100):
            self._create(chunk, result, fence, again=True)
        return result

    def _refused(
        self,
        chunk: Sequence[TaskRequest],
        body: dict[str, Any],
        result: BatchResult,
        fence: Callable[[], None] | None,
        *,
        again: bool,
    ) -> None:
        """A batch HubSpot refused as a whole (400): halves are sent again until each bad
        input stands alone, so one invalid owner or deleted contact sinks only its own task
        (log2(100) ≈ 7 rounds of two calls at worst)."""
        if len(chunk) > 1:
            middle = len(chunk) // 2
            self._create(chunk[:middle], result, fence, again=again)
            self._create(chunk[middle:], result, fence, again=again)
            return
        key = chunk[0].key
        result.failed[key] = f"HubSpot refused the task: {body.get('message') or body}"
        if body.get("subCategory") == "crm.associations.INVALID_OBJECT_IDS":
            result.gone.add(key)

    def _task_input(self, t: TaskRequest) -> dict[str, Any]:
        props = {
            "hs_timestamp": str(int(t.due_at.timestamp() * 1000)),
            "hs_task_subject": t.subject,
            "hs_task_body": f"{t.body}\n\n[{t.key}]",
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": "HIGH",
            "hs_task_type": "TODO",
        }
        if t.owner_id:
            props["hubspot_owner_id"] = t.owner_id
        to = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}
        return {"properties": props, "associations": [{"to": {"id": t.lead_id}, "types": [to]}]}

    def _create(
        self,
        chunk: Sequence[TaskRequest],
        result: BatchResult,
        fence: Callable[[], None] | None,
        *,
        again: bool,
    ) -> None:
        body = {"inputs": [self._task_input(t) for t in chunk]}
        failure = "HubSpot did not confirm this task"
        if fence is not None:
            fence()
        try:
            response = self.http.request(
                "tasks.batch_create", "POST", self.paths.objects("tasks", "batch", "create"),
                body=body, safe=False, accept=(400,),
            )  # fmt: skip
        except (CrmAuthError, CrmRateLimited):
            raise
        except CrmError as exc:  # the tasks may or may not exist: look before creating
            failure, unsure = str(exc), list(chunk)
        else:
            if response.status == 400:  # one bad input refuses the whole batch: find it
                self._refused(chunk, response.body, result, fence, again=again)
                return
            for item in response.body.get("results") or []:
                text = str((item.get("properties") or {}).get("hs_task_body") or "")
                for key in MARKER.findall(text):
                    result.done[key] = object_id(item.get("id"), "tasks.batch_create")
            for error in errors_of(response):
                if _transient(error):
                    continue  # not created: retried below, after a look
                for index in _ids(error, "inputIndex"):
                    if index.isdigit() and int(index) < len(chunk):
                        key = chunk[int(index)].key
                        result.failed[key] = f"{error.get('category')}: {error.get('message')}"
            unsure = [t for t in chunk if t.key not in result.done and t.key not in result.failed]
        if not unsure:
            return
        found = self.find_tasks([t.key for t in unsure])
        result.done.update(found)
        rest = [t for t in unsure if t.key not in found]
        if rest and again:
            log.info("%s: creating %d task(s) again after a failed batch", self.what, len(rest))
            self._create(rest, result, fence, again=False)
        else:
            for t in rest:
                result.failed[t.key] = failure
