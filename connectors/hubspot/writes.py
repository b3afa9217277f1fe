"""HubSpot batch reads and every write: score fields, score write-back, MQL tasks.

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
from leadsync.errors import CrmAuthError, CrmError, CrmPermissionError, CrmRateLimited
from leadsync.scoring.lead import FEEDBACK

__all__ = ["GROUP", "MARKER", "HubSpotWriter", "batch_read", "errors_of"]

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The property group leadsync's fields live in.
GROUP = {"name": "lead_scoring", "label": "Lead scoring", "displayOrder": -1}
#: The marker line ending each task body: ``[leadsync:<account>:<lead>:<n>]``.
MARKER = re.compile(r"\[(leadsync:[^\[\]\s]+)\]")
#: Per-input error categories worth one more try.
TRANSIENT = frozenset({"INTERNAL_ERROR", "RATE_LIMITS", "SERVICE_UNAVAILABLE", "TIMEOUT"})
_NOT_FOUND = ("OBJECT_NOT_FOUND", "crm.associations.NO_ASSOCIATIONS_FOUND")
SCHEMA_WRITE = "crm.schemas.contacts.write"
SCHEMA_READ = "crm.schemas.contacts.read"


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
    """Score fields, score write-back, tasks and their reconciliation for one account."""

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

    # ------------------------------------------------------------------- fields

    def ensure_score_fields(self, tiers: Sequence[str]) -> list[str]:
        """The "Lead scoring" group and six properties (the score, its tier, reasons, model
        and time, and sales' feedback on an MQL): GET each, create on 404.

        A create is retried after a lost answer, and the retry then meets a 409 CONFLICT
        (the first attempt did create it, or another process did meanwhile): a 409 is
        success once a GET shows the property with the type leadsync writes. A property
        of another type is refused with what to do, found either way.
        """
        options, wanted = self._wanted(tiers)
        f = self.account.fields
        created: list[str] = []
        try:
            group = self._group()
            if group.status == 404:
                self.http.request(
                    "properties.groups.create", "POST", self.paths.groups("contacts"),
                    body=GROUP, safe=True, accept=(409,),  # it exists: the goal of the call
                )  # fmt: skip
            for spec in wanted:
                found = self._property(spec["name"])
                if found.status == 404:
                    body = {**spec, "groupName": GROUP["name"], "description": "Set by leadsync."}
                    made = self.http.request(
                        "properties.create", "POST", self.paths.properties("contacts"),
                        body=body, safe=True, accept=(409,),
                    )  # fmt: skip
                    created.append(spec["name"])
                    if made.status != 409:
                        continue
                    found = self._property(spec["name"])
                    if found.status == 404:
                        raise CrmError(
                            f"{self.what}: HubSpot answered that the property {spec['name']} "
                            "exists (409 CONFLICT) but does not show it; run again in a minute."
                        )
                self._check_type(found.body, spec)
                if spec["name"] == f.tier:
                    self._update_options(found.body, options)
        except CrmPermissionError as exc:
            scope = SCHEMA_READ if SCHEMA_READ in str(exc) else SCHEMA_WRITE
            names = ", ".join(s["name"] for s in wanted)
            raise CrmAuthError(
                f"{self.what}: leadsync cannot check or create its score properties "
                f"({names}, group 'Lead scoring'): the token lacks the scope {scope}. Add "
                f"{scope} to the private app or Service Key (HubSpot: Development → "
                "Private apps / Service keys → Scopes) and run again, or create the "
                "properties by hand."
            ) from None
        return created

    def _group(self) -> Response:
        """leadsync's property group, as HubSpot answers for it (404: not there yet)."""
        return self.http.request(
            "properties.groups.get", "GET", self.paths.groups("contacts", GROUP["name"]),
            safe=True, accept=(404,),
        )  # fmt: skip

    def score_field_problems(self, tiers: Sequence[str]) -> list[str]:
        """What :meth:`ensure_score_fields` would have to create or cannot fix, changing
        nothing (``leadsync setup`` without ``--create``, ``leadsync check``)."""
        problems: list[str] = []
        missing: list[str] = []
        try:
            group = self._group()
            if group.status == 404:
                missing.append("the property group 'Lead scoring'")
            for spec in self._wanted(tiers)[1]:
                found = self._property(spec["name"])
                if found.status == 404:
                    missing.append(f"the contact property {spec['name']}")
                    continue
                try:
                    self._check_type(found.body, spec)
                except CrmError as exc:
                    problems.append(str(exc))
        except CrmPermissionError:
            problems.append(
                f"{self.what}: the token lacks the scope {SCHEMA_READ}, so leadsync cannot "
                "read its score properties; add it to the private app or Service Key"
            )
        if missing:
            problems.insert(0, f"{self.what}: missing: {', '.join(missing)}")
        return problems

    def _wanted(self, tiers: Sequence[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The tier options and the specs of leadsync's six properties."""
        f = self.account.fields
        options = [
            {"label": t, "value": t, "displayOrder": i, "hidden": False}
            for i, t in enumerate(tiers)
        ]
        wanted: list[dict[str, Any]] = [
            {"name": f.score, "label": "Lead Score", "type": "number", "fieldType": "number"},
            {"name": f.tier, "label": "Lead Score Tier", "type": "enumeration",
             "fieldType": "select", "options": options},
            {"name": f.reasons, "label": "Lead Score Reasons", "type": "string",
             "fieldType": "textarea"},
            {"name": f.model, "label": "Lead Score Model", "type": "string", "fieldType": "text"},
            {"name": f.updated_at, "label": "Lead Score Updated At", "type": "datetime",
             "fieldType": "date"},
            {"name": f.feedback, "label": "Lead Score Feedback", "type": "enumeration",
             "fieldType": "select", "description": "Sales on this MQL: read by leadsync review.",
             "options": [{"label": label, "value": value, "displayOrder": i}
                         for i, (value, label) in enumerate(FEEDBACK.items())]},
        ]  # fmt: skip
        return options, wanted

    def _property(self, name: str) -> Response:
        return self.http.request(
            "properties.get", "GET", self.paths.properties("contacts", name),
            safe=True, accept=(404,),
        )  # fmt: skip

    def _check_type(self, current: dict[str, Any], spec: dict[str, Any]) -> None:
        """Refuse a property whose type cannot hold what leadsync writes there."""
        have = current.get("type")
        if have is None or have == spec["type"]:
            return
        raise CrmError(
            f"{self.what}: the contact property {spec['name']} exists with type {have!r}, "
            f"but leadsync writes {spec['label']} there as type {spec['type']!r}. Delete "
            "or rename that property in HubSpot (Settings → Properties), or give "
            "leadsync another name for it in the account's fields setting, then run again."
        )

    def _update_options(self, current: dict[str, Any], options: list[dict[str, Any]]) -> None:
        """Make the tier options the model's tiers; old ones stay, hidden (values in use)."""
        have = [o.get("value") for o in current.get("options") or [] if not o.get("hidden")]
        tiers = [o["value"] for o in options]
        if have == tiers:
            return
        old = [
            {**o, "hidden": True, "displayOrder": len(options) + i}
            for i, o in enumerate(current.get("options") or [])
            if o.get("value") not in tiers
        ]
        self.http.request(
            "properties.update", "PATCH", self.paths.properties("contacts", current["name"]),
            body={"options": options + old}, safe=True,
        )  # fmt: skip

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
