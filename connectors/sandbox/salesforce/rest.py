"""The Salesforce REST resources of the sandbox: query, sObjects, sObject Collections, limits.

Shapes are copied from ``shared/salesforce-reference``: ``query.json`` (``totalSize``,
``done``, a server-relative ``nextRecordsUrl`` ending ``-2000``, ``-4000``… and absent on the
last page), ``records.json`` (201 ``{id, success, errors}`` on create, 204 on update and
delete), ``composite-sobjects.json`` (HTTP 200 with one ``{id, success, errors}`` per record in
request order; per-record errors use ``statusCode``), ``limits.json`` and ``errors.json``.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from leadsync.connectors.sandbox.salesforce.describe import describe, describe_global
from leadsync.connectors.sandbox.salesforce.http import ApiError, Call, Reply, not_found
from leadsync.connectors.sandbox.salesforce.query import BoundQuery, bind
from leadsync.connectors.sandbox.salesforce.schema import ObjectSpec
from leadsync.connectors.sandbox.salesforce.soql import SoqlError, parse
from leadsync.connectors.sandbox.salesforce.store import RecordError, Store, json_value

__all__ = ["MAX_BATCH", "RestApi", "compile_query"]

MAX_BATCH = 2000
MIN_BATCH = 200
#: Open query cursors per user; opening one more releases the oldest (SOAP API guide, queryMore).
MAX_CURSORS = 10
_ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone "
    "header",
)


def compile_query(store: Store, text: str) -> BoundQuery:
    """Parse and bind SOQL, turning a ``SoqlError`` into the 400 Salesforce answers."""
    try:
        return bind(parse(text), store.schema)
    except SoqlError as exc:
        raise ApiError(400, exc.error_code, exc.message) from None


@dataclass(slots=True)
class _Cursor:
    bound: BoundQuery
    rows: list[Mapping[str, Any]]
    batch: int
    resource: str


class RestApi:
    """Handles everything under ``/services/data/vXX.X/`` except ``jobs/`` (see ``bulk``)."""

    def __init__(
        self,
        store: Store,
        *,
        fail_item: Callable[[], bool],
        limits: Callable[[], dict[str, Any]],
    ) -> None:
        self.store = store
        self._fail_item = fail_item
        self._limits = limits
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._cursor_seq = itertools.count(1)
        self._lock = threading.Lock()

    def handle(self, call: Call) -> Reply:
        """Route one call."""
        head = call.parts[0] if call.parts else ""
        rest = call.parts[1:]
        if head in ("query", "queryAll") and call.method == "GET":
            if rest and rest[0]:
                return self._more(call, rest[0])
            return self._query(call, include_deleted=head == "queryAll")
        if head == "sobjects":
            return self._sobjects(call, rest)
        if head == "composite" and rest[:1] == ["sobjects"]:
            return self._collections(call)
        if head == "limits" and call.method == "GET":
            return Reply(200, self._limits())
        if head == "" and call.method == "GET":
            resources = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
            return Reply(200, {r: f"{call.base}/{r}" for r in resources})
        raise not_found()

    # -- query -----------------------------------------------------------------------------
    def _query(self, call: Call, *, include_deleted: bool) -> Reply:
        text = call.param("q")
        if not text:
            raise ApiError(400, "MALFORMED_QUERY", "unexpected token: <EOF>")
        bound = compile_query(self.store, text)
        rows = bound.run(self.store.rows(bound.sobject, include_deleted), self.store.get)
        if bound.count_only:
            return Reply(200, {"totalSize": len(rows), "done": True, "records": []})
        batch = _batch_size(call.headers.get("Sforce-Query-Options", ""))
        cursor = _Cursor(bound, rows, batch, "queryAll" if include_deleted else "query")
        return Reply(200, self._page(call, cursor, 0))

    def _more(self, call: Call, locator: str) -> Reply:
        cursor_id, _, offset = locator.partition("-")
        with self._lock:
            cursor = self._cursors.get(cursor_id)
        if cursor is None or not offset.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return Reply(200, self._page(call, cursor, int(offset), cursor_id))

    def _page(self, call: Call, cursor: _Cursor, offset: int, cursor_id: str = "") -> dict:
        end = offset + cursor.batch
        page = cursor.rows[offset:end]
        records = [cursor.bound.project(r, self.store.get, call.base) for r in page]
        out: dict[str, Any] = {"totalSize": len(cursor.rows), "done": end >= len(cursor.rows)}
        if not out["done"]:
            if not cursor_id:
                cursor_id = self.store.make_id("01g", next(self._cursor_seq))
                with self._lock:
                    self._cursors[cursor_id] = cursor
                    while len(self._cursors) > MAX_CURSORS:
                        self._cursors.popitem(last=False)
            out["nextRecordsUrl"] = f"{call.base}/{cursor.resource}/{cursor_id}-{end}"
        elif cursor_id:
            with self._lock:
                self._cursors.pop(cursor_id, None)
        out["records"] = records
        return out

    # -- sObjects --------------------------------------------------------------------------
    def _sobjects(self, call: Call, rest: list[str]) -> Reply:
        rest = [p for p in rest if p]  # "sobjects/Lead/" is accepted as recorded
        if not rest:
            if call.method != "GET":
                raise not_found()
            return Reply(200, describe_global(self.store.schema, call.base))
        spec = self.store.schema.get(rest[0])
        if spec is None:
            raise not_found()
        if len(rest) == 1:
            if call.method == "POST":
                return self._create(spec, call)
            if call.method == "GET":
                info = describe(spec, call.base)
                info.pop("fields")
                return Reply(200, {"objectDescribe": info, "recentItems": []})
            raise not_found()
        if rest[1] == "describe" and call.method == "GET":
            return Reply(200, describe(spec, call.base))
        if len(rest) != 2:
            raise not_found()
        return self._record(spec, rest[1], call)

    def _create(self, spec: ObjectSpec, call: Call) -> Reply:
        body = call.json()
        if not isinstance(body, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject")
        rid, errors = self.store.create(spec.name, body)
        if errors:
            raise _first(errors, 400)
        return Reply(201, {"id": rid, "success": True, "errors": []})

    def _record(self, spec: ObjectSpec, record_id: str, call: Call) -> Reply:
        store = self.store
        with store.lock:
            record, error = store.locate(spec.name, record_id)
            if record is None:
                assert error is not None
                if call.method == "GET" and error.code != "ENTITY_IS_DELETED":
                    raise not_found(
                        "Provided external ID field does not exist or is not accessible: "
                        + record_id
                    )
                raise _first([error], 404 if error.code == "ENTITY_IS_DELETED" else 400)
            if call.method == "GET":
                return Reply(200, _record_json(record, spec, call))
            if call.method == "DELETE":
                store.apply(record, spec.name, {"IsDeleted": True})
                return Reply(204)
            if call.method != "PATCH":
                raise not_found()
            body = call.json()
            if not isinstance(body, dict):
                raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize instance of sObject")
            values, errors = store.check(spec.name, body, creating=False)
            if errors:
                raise _first(errors, 400)
            store.apply(record, spec.name, values)
            return Reply(204)

    # -- sObject Collections ---------------------------------------------------------------
    def _collections(self, call: Call) -> Reply:
        if call.method not in ("POST", "PATCH"):
            raise not_found()
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise ApiError(400, "JSON_PARSER_ERROR", "Cannot deserialize the request body")
        records: list[Any] = body["records"]
        if len(records) > 200:
            raise ApiError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        all_or_none = bool(body.get("allOrNone", False))
        creating = call.method == "POST"
        with self.store.lock:
            plans = [self._plan(r, creating) for r in records]
            rollback = all_or_none and any(p[2] for p in plans)
            results: list[dict[str, Any]] = []
            for rid, sobject, errors, values in plans:
                if errors or rollback:
                    result: dict[str, Any] = {"id": rid} if rid else {}
                    shown = errors or [_ROLLED_BACK]
                    result |= {"success": False, "errors": [e.save_result() for e in shown]}
                    results.append(result)
                    continue
                assert sobject is not None
                if creating:
                    rid = self.store.load(sobject, values, at=self.store.now())
                else:
                    found = self.store.get(rid)
                    assert found is not None
                    self.store.apply(found[1], sobject, values)
                results.append({"id": rid, "success": True, "errors": []})
        return Reply(200, results)

    def _plan(
        self, raw: Any, creating: bool
    ) -> tuple[str | None, str | None, list[RecordError], dict[str, Any]]:
        """(id, object, errors, values to write) for one input record, writing nothing."""
        if not isinstance(raw, dict):
            return (
                None,
                None,
                [RecordError("INVALID_TYPE", "Must send a concrete entity type.")],
                {},
            )
        attrs = raw.get("attributes")
        spec = self.store.schema.get(attrs.get("type", "")) if isinstance(attrs, dict) else None
        if spec is None:
            return (
                None,
                None,
                [RecordError("INVALID_TYPE", "Must send a concrete entity type.")],
                {},
            )
        raw_id = next((v for k, v in raw.items() if k.casefold() == "id"), None)
        if creating:
            if raw_id is not None:
                return None, spec.name, [
                    RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
                ], {}  # fmt: skip
            values, errors = self.store.check(spec.name, raw, creating=True)
            if not errors:
                values = self.store.with_defaults(spec.name, values)
            rid = None
        else:
            if raw_id is None:
                missing = RecordError("MISSING_ARGUMENT", "Id not specified in an update call")
                return None, spec.name, [missing], {}
            record, error = self.store.locate(spec.name, raw_id)
            if record is None:
                assert error is not None
                return str(raw_id), spec.name, [error], {}
            rid = record["Id"]
            values, errors = self.store.check(spec.name, raw, creating=False)
        if not errors and self._fail_item():
            errors = [
                RecordError(
                    "UNABLE_TO_LOCK_ROW",
                    f"unable to obtain exclusive access to this record or 1 records: {rid or ''}",
                )
            ]
        return rid, spec.name, errors, values


def _batch_size(header: str) -> int:
    """``Sforce-Query-Options: batchSize=N``, clamped to Salesforce's 200..2000."""
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(MIN_BATCH, min(MAX_BATCH, int(value)))
    return MAX_BATCH


def _record_json(record: Mapping[str, Any], spec: ObjectSpec, call: Call) -> dict[str, Any]:
    wanted = call.param("fields")
    names = [f.name for f in spec.fields]
    if wanted:
        names = []
        for raw in wanted.split(","):
            f = spec.field(raw.strip())
            if f is None:
                raise ApiError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{raw.strip()}' on sobject of type {spec.name}",
                )
            names.append(f.name)
    out: dict[str, Any] = {
        "attributes": {"type": spec.name, "url": f"{call.base}/sobjects/{spec.name}/{record['Id']}"}
    }
    for name in names:
        out[name] = json_value(record.get(name))
    return out


def _first(errors: list[RecordError], status: int) -> ApiError:
    """A request-level error from record errors (Salesforce reports them all; we keep order)."""
    first = errors[0]
    exc = ApiError(status, first.code, first.message, first.fields or None)
    exc.body = [e.rest() for e in errors]
    return exc
