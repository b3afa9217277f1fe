"""Records of the Salesforce sandbox, and the write rules Salesforce applies to them.

One in-memory table per object, keyed by 18-character ids (key prefix + counter + the
case-safe checksum Salesforce appends). Deleted rows stay with ``IsDeleted = true`` so that
``queryAll`` sees them. Every write goes through ``save`` which checks each value against the
schema the way the REST API does, answering Salesforce's status codes (``INVALID_FIELD``,
``REQUIRED_FIELD_MISSING``, ``STRING_TOO_LONG``, ``MALFORMED_ID``, ``ENTITY_IS_DELETED``…) and
moves ``LastModifiedDate`` and ``SystemModstamp`` — including for our own score write-back, as
the real platform does. One re-entrant lock guards everything: the server is threaded.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from leadsync.connectors.sandbox.salesforce.schema import (
    ADDRESS_PARTS,
    FieldSpec,
    ObjectSpec,
    Schema,
)

__all__ = [
    "RecordError",
    "Store",
    "format_datetime",
    "json_value",
    "normalize_id",
    "parse_datetime",
]

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DT = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:?\d{2})?$")
_TEXT = {"string", "textarea", "picklist", "email", "phone", "url", "combobox"}
_AUDIT = {"CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp"}


@dataclass(frozen=True, slots=True)
class RecordError:
    """One Salesforce error: ``statusCode`` in a SaveResult, ``errorCode`` in a REST body."""

    code: str
    message: str
    fields: list[str] = field(default_factory=list)

    def save_result(self) -> dict[str, Any]:
        """The per-record shape used by sObject Collections."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def rest(self) -> dict[str, Any]:
        """The request-level shape: ``{message, errorCode[, fields]}``."""
        out: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields or self.code == "ENTITY_IS_DELETED":  # recorded with "fields": []
            out["fields"] = self.fields
        return out


def normalize_id(value: str) -> str | None:
    """An 18-character id for a 15- or 18-character one; None when malformed."""
    if not isinstance(value, str) or not _ID.match(value):
        return None
    if len(value) == 18:
        return value
    suffix = ""
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(value[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        suffix += _SUFFIX[bits]
    return value + suffix


def parse_datetime(text: str) -> datetime | None:
    """Salesforce's JSON date-time (``2024-11-07T07:00:00.000+0000``, ``Z``, ``+00:00``)."""
    m = _DT.match(text)
    if not m:
        return None
    zone = m.group(2) or "Z"
    zone = "+00:00" if zone == "Z" else zone if ":" in zone else f"{zone[:3]}:{zone[3:]}"
    try:
        return datetime.fromisoformat(m.group(1) + zone).astimezone(UTC)
    except ValueError:
        return None


def format_datetime(value: datetime) -> str:
    """REST's date-time form: milliseconds and ``+0000``."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def json_value(value: Any) -> Any:
    """A stored value as REST JSON shows it."""
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


class Store:
    """All records, the id sequence and the write clock of one sandbox org."""

    def __init__(self, schema: Schema, *, clock: Callable[[], datetime] | None = None) -> None:
        self.schema = schema
        self.lock = threading.RLock()
        self.tables: dict[str, dict[str, dict[str, Any]]] = {n: {} for n in schema.objects}
        self._seq = 0
        self._clock = clock or (lambda: datetime.now(UTC))
        self._last = datetime(2000, 1, 1, tzinfo=UTC)
        self.api_user_id = ""

    # -- ids, clock, lookup ---------------------------------------------------------------
    def new_id(self, sobject: str) -> str:
        """A fresh record id with the object's key prefix."""
        with self.lock:
            self._seq += 1
            return self.make_id(self.schema.objects[sobject].prefix, self._seq)

    @staticmethod
    def make_id(prefix: str, n: int) -> str:
        """The 18-character id with key ``prefix`` and sequence number ``n``."""
        digits = []
        for _ in range(10):
            n, r = divmod(n, 62)
            digits.append(_B62[r])
        return normalize_id(prefix + "5g" + "".join(reversed(digits))) or ""

    def now(self) -> datetime:
        """The write time: the wall clock to the millisecond, never going backwards."""
        with self.lock:
            t = self._clock().astimezone(UTC)
            t = t.replace(microsecond=t.microsecond // 1000 * 1000)
            self._last = max(self._last, t)
            return self._last

    def get(self, record_id: Any) -> tuple[str, dict[str, Any]] | None:
        """(object, record) for any id, deleted or not; None when unknown or malformed."""
        if not isinstance(record_id, str):
            return None
        rid = normalize_id(record_id)
        spec = self.schema.by_prefix.get(record_id[:3]) if rid else None
        if spec is None or rid is None:
            return None
        record = self.tables[spec.name].get(rid)
        return (spec.name, record) if record is not None else None

    def rows(self, sobject: str, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Records of one object in insertion order (a snapshot: safe to write meanwhile)."""
        with self.lock:
            rows = list(self.tables[sobject].values())
        return (r for r in rows if include_deleted or not r["IsDeleted"])

    # -- writes ---------------------------------------------------------------------------
    def load(self, sobject: str, values: Mapping[str, Any], *, at: datetime) -> str:
        """Insert a generated record as-is (seeding: no validation), stamped ``at``."""
        rid = self.new_id(sobject)
        record = {f.name: None for f in self.schema.objects[sobject].fields}
        record.update(values)
        record.update(Id=rid, IsDeleted=False, CreatedDate=at, LastModifiedDate=at)
        record.update(SystemModstamp=at, CreatedById=self.api_user_id)
        record["LastModifiedById"] = self.api_user_id
        for spec in self.schema.objects[sobject].fields:
            if spec.type == "boolean" and record[spec.name] is None:
                record[spec.name] = False
        _derive(sobject, record)
        self._compound(sobject, record)
        with self.lock:
            self.tables[sobject][rid] = record
        return rid

    def check(
        self, sobject: str, values: Mapping[str, Any], *, creating: bool
    ) -> tuple[dict[str, Any], list[RecordError]]:
        """Convert a JSON record body to stored values, or say what Salesforce would refuse."""
        spec = self.schema.objects[sobject]
        out: dict[str, Any] = {}
        errors: list[RecordError] = []
        for key, raw in values.items():
            if key == "attributes" or (key.casefold() == "id" and not creating):
                continue
            fspec = spec.field(key)
            if fspec is None:
                errors.append(
                    RecordError(
                        "INVALID_FIELD", f"No such column '{key}' on sobject of type {sobject}"
                    )
                )
                continue
            if not (fspec.createable if creating else fspec.updateable):
                errors.append(_not_writable(fspec))
                continue
            value, error = self._convert(spec, fspec, raw)
            if error:
                errors.append(error)
            else:
                out[fspec.name] = value
        if creating and not errors:
            missing = [
                f.name
                for f in spec.fields
                if not f.nillable and f.createable and f.type not in ("boolean", "reference")
                and f.name not in ("Status", "Priority", "Alias") and out.get(f.name) is None
            ]  # fmt: skip
            if missing:
                errors.append(
                    RecordError(
                        "REQUIRED_FIELD_MISSING",
                        f"Required fields are missing: [{', '.join(missing)}]",
                        missing,
                    )
                )
        return out, errors

    def _convert(self, spec: ObjectSpec, f: FieldSpec, raw: Any) -> tuple[Any, RecordError | None]:
        label = f.label or f.name
        if raw is None:
            if not f.nillable and f.type != "boolean":
                return None, RecordError(
                    "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{f.name}]", [f.name]
                )
            return (False if f.type == "boolean" else None), None
        bad = RecordError(
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            f"{label}: value not of required type: {raw}",
            [f.name],
        )
        kind = f.type
        if kind in _TEXT:
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                return None, bad
            text = str(raw)
            if f.length and len(text) > f.length:
                return None, RecordError(
                    "STRING_TOO_LONG",
                    f"{label}: data value too large: {text[:80]} (max length={f.length})",
                    [f.name],
                )
            if kind == "email" and text and not _EMAIL.match(text):
                return None, RecordError(
                    "INVALID_EMAIL_ADDRESS", f"{label}: invalid email address: {text}", [f.name]
                )
            if f.restricted and text not in f.picklist:
                return None, RecordError(
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{label}: bad value for restricted picklist field: {text}",
                    [f.name],
                )
            return text, None
        if kind == "boolean":
            if isinstance(raw, bool):
                return raw, None
            if isinstance(raw, str) and raw.lower() in ("true", "false"):
                return raw.lower() == "true", None
            return None, bad
        if kind in ("int", "double", "currency"):
            try:
                number = float(raw) if not isinstance(raw, bool) else None
            except (TypeError, ValueError):
                number = None
            if number is None or number != number:  # NaN
                return None, bad
            return (int(number) if kind == "int" else number), None
        if kind == "date":
            try:
                return date.fromisoformat(str(raw)[:10]), None
            except ValueError:
                return None, bad
        if kind == "datetime":
            parsed = parse_datetime(str(raw))
            return (parsed, None) if parsed else (None, bad)
        if kind == "reference":
            if not isinstance(raw, str) or normalize_id(raw) is None:
                return None, RecordError(
                    "MALFORMED_ID", f"{label}: id value of incorrect type: {raw}", [f.name]
                )
            found = self.get(raw)
            if found is None or found[0] not in f.reference_to:
                return None, RecordError(
                    "INVALID_CROSS_REFERENCE_KEY",
                    f"{label}: id value of incorrect type: {raw}",
                    [f.name],
                )
            return found[1]["Id"], None
        return None, bad

    def create(
        self, sobject: str, values: Mapping[str, Any]
    ) -> tuple[str | None, list[RecordError]]:
        """Validate and insert one record; (new id, []) or (None, errors)."""
        converted, errors = self.check(sobject, values, creating=True)
        if errors:
            return None, errors
        rid = self.load(sobject, self.with_defaults(sobject, converted), at=self.now())
        return rid, []

    def with_defaults(self, sobject: str, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` plus what the platform fills in on create (status, owner = API user)."""
        merged = {**_DEFAULTS.get(sobject, {}), **values}
        if self.schema.objects[sobject].field("OwnerId") is not None:
            merged.setdefault("OwnerId", self.api_user_id)
        return merged

    def locate(
        self, sobject: str, record_id: Any
    ) -> tuple[dict[str, Any] | None, RecordError | None]:
        """The live record ``record_id`` of ``sobject``, or the error Salesforce answers."""
        if not isinstance(record_id, str) or normalize_id(record_id) is None:
            return None, RecordError(
                "MALFORMED_ID", f"{sobject} ID: id value of incorrect type: {record_id}", ["Id"]
            )
        found = self.get(record_id)
        if found is None or found[0] != sobject:
            if record_id[:3] != self.schema.objects[sobject].prefix:
                return None, RecordError(
                    "MALFORMED_ID", f"{sobject} ID: id value of incorrect type: {record_id}", ["Id"]
                )
            return None, RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if found[1]["IsDeleted"]:
            return None, RecordError("ENTITY_IS_DELETED", "entity is deleted")
        return found[1], None

    def apply(self, record: dict[str, Any], sobject: str, values: Mapping[str, Any]) -> None:
        """Write already-checked values and move the audit stamps."""
        with self.lock:
            record.update(values)
            now = self.now()
            record["LastModifiedDate"] = now
            record["SystemModstamp"] = now
            record["LastModifiedById"] = self.api_user_id
            _derive(sobject, record)
            self._compound(sobject, record)

    def _compound(self, sobject: str, record: dict[str, Any]) -> None:
        """Compose each compound address from its components, as REST answers it: an object
        with the components' keys in alphabetical order, or null when every one is null."""
        for spec in self.schema.objects[sobject].fields:
            if spec.type != "address":
                continue
            prefix = spec.name.removesuffix("Address")
            parts = {p[0].lower() + p[1:]: record.get(prefix + p) for p in ADDRESS_PARTS}
            whole = dict(sorted(parts.items()))
            record[spec.name] = whole if any(v is not None for v in whole.values()) else None

    def delete(self, sobject: str, record_id: str) -> RecordError | None:
        """Move a record to the recycle bin (``IsDeleted``); None on success."""
        with self.lock:
            record, error = self.locate(sobject, record_id)
            if record is None:
                return error
            self.apply(record, sobject, {"IsDeleted": True})
            return None

    def touch(self, sobject: str, count: int) -> list[str]:
        """Simulate user activity: bump the oldest-stamped ``count`` live rows, return ids."""
        with self.lock:
            live = sorted(self.rows(sobject), key=lambda r: (r["SystemModstamp"], r["Id"]))
            touched = live[:count]
            for record in touched:
                self.apply(record, sobject, {})
            return [r["Id"] for r in touched]

    def counts(self) -> dict[str, int]:
        """Live rows per object (for ``/limits/recordCount`` and diagnostics)."""
        with self.lock:
            return {n: sum(not r["IsDeleted"] for r in t.values()) for n, t in self.tables.items()}


_DEFAULTS: dict[str, dict[str, Any]] = {
    "Lead": {"Status": "Open - Not Contacted"},
    "Task": {"Status": "Not Started", "Priority": "Normal", "TaskSubtype": "Task"},
    "Event": {"EventSubtype": "Event", "DurationInMinutes": 30},
    "CampaignMember": {"Status": "Sent"},
}


def _derive(sobject: str, record: dict[str, Any]) -> None:
    """Fields the platform computes: ``Name``, ``IsClosed``, ``Type`` of a campaign member."""
    if sobject in ("Lead", "Contact", "User"):
        record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
    if sobject == "Task":
        record["IsClosed"] = record.get("Status") == "Completed"
    if sobject == "Event" and record.get("StartDateTime") and not record.get("EndDateTime"):
        minutes = record.get("DurationInMinutes") or 0
        record["EndDateTime"] = record["StartDateTime"] + timedelta(minutes=minutes)
    if sobject == "CampaignMember":
        record["Type"] = "Contact" if record.get("ContactId") else "Lead"


def _not_writable(f: FieldSpec) -> RecordError:
    return RecordError(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Unable to create/update fields: {f.name}. Please check the security settings of this "
        "field and verify that it is read/write for your profile or permission set.",
        [f.name],
    )
