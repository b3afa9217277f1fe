"""The Salesforce sandbox's Metadata API: ``createMetadata``, ``readMetadata``, ``updateMetadata``.

Salesforce serves the Metadata API as SOAP 1.1 on ``POST /services/Soap/m/<version>`` (what
simple-salesforce's ``metadata_url`` computes; zeep posts the envelope built from
simple-salesforce's ``metadata.wsdl``). The session id travels in the envelope's
``SessionHeader``, not in an ``Authorization`` header. Shapes follow that WSDL and the
Metadata API Developer Guide ("createMetadata()", "SaveResult", "Error", "readMetadata()",
"CustomField", "PermissionSet"):

- request-level failures are SOAP faults, HTTP 500, ``faultcode`` ``sf:CODE`` and
  ``faultstring`` ``CODE: message``: ``INVALID_SESSION_ID``, ``REQUEST_LIMIT_EXCEEDED`` and,
  for a user without "Modify Metadata" / "Modify All Data", ``INSUFFICIENT_ACCESS: use of the
  Metadata API requires a user with the ModifyAllData or ModifyMetadata permissions`` (the text
  public issue reports quote from live orgs);
- per-component failures are ``SaveResult`` entries ``{errors: [{message, statusCode}],
  fullName, success: false}``, one per component, in request order.

What a call changes is visible to the REST side at once: a created ``CustomField`` joins its
object's describe (and SOQL, and writes); a created ``PermissionSet`` becomes a ``PermissionSet``
row (``SELECT Id FROM PermissionSet WHERE Name = …``), which ``PermissionSetAssignment`` rows
created over REST can point at. Field-level security is not emulated: a field is visible to
the API user as soon as it exists.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from leadsync.connectors.sandbox.salesforce.http import Reply
from leadsync.connectors.sandbox.salesforce.schema import FieldSpec, ObjectSpec, Schema
from leadsync.connectors.sandbox.salesforce.store import Store

__all__ = ["MAX_COMPONENTS", "MetadataApi", "install"]

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
MD = "http://soap.sforce.com/2006/04/metadata"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML_TYPE = "text/xml;charset=UTF-8"
#: Components per create/update/read call (Metadata API Developer Guide, "createMetadata()").
MAX_COMPONENTS = 10
NO_ACCESS = (
    "use of the Metadata API requires a user with the ModifyAllData or ModifyMetadata permissions"
)
_DEV_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*$")
_CUSTOM = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*__c$")

Meta = list[tuple[str, Any]]
"""One component as ordered ``(element, value)`` pairs; a value is text or a nested ``Meta``."""

_PERMISSION_SET = ObjectSpec(
    "PermissionSet",
    "0PS",
    "Permission Sets",
    (
        FieldSpec("Id", "id", createable=False, updateable=False, nillable=False, length=18),
        FieldSpec("Name", "string", nillable=False, length=80),
        FieldSpec("Label", "string", nillable=False, length=80),
        FieldSpec("Description", "textarea", length=255),
        FieldSpec("IsOwnedByProfile", "boolean", createable=False, updateable=False,
                  nillable=False),
        FieldSpec("SystemModstamp", "datetime", createable=False, updateable=False,
                  nillable=False),
    ),
)  # fmt: skip
_ASSIGNMENT = ObjectSpec(
    "PermissionSetAssignment",
    "0Pa",
    "Permission Set Assignments",
    (
        FieldSpec("Id", "id", createable=False, updateable=False, nillable=False, length=18),
        FieldSpec("AssigneeId", "reference", updateable=False, nillable=False,
                  reference_to=("User",), relationship="Assignee"),
        FieldSpec("PermissionSetId", "reference", updateable=False, nillable=False,
                  reference_to=("PermissionSet",), relationship="PermissionSet"),
        FieldSpec("SystemModstamp", "datetime", createable=False, updateable=False,
                  nillable=False),
    ),
)  # fmt: skip


def install(schema: Schema) -> None:
    """Declare ``PermissionSet`` and ``PermissionSetAssignment`` (before the store is built)."""
    schema.add(_PERMISSION_SET)
    schema.add(_ASSIGNMENT)


class _Fault(Exception):
    """A request-level failure: answered as a SOAP fault."""

    def __init__(self, code: str, message: str, *, prefix: str = "sf") -> None:
        super().__init__(message)
        self.code = f"{prefix}:{code}"
        self.text = f"{code}: {message}" if prefix == "sf" else message


class _Refused(Exception):
    """One component's failure: answered as an unsuccessful SaveResult."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class MetadataApi:
    """The Metadata API of one sandbox org; ``allowed`` False: the API user lacks the permission."""

    def __init__(
        self,
        store: Store,
        *,
        valid_session: Callable[[str], bool],
        spend: Callable[[], bool],
        allowed: bool = True,
    ) -> None:
        self.store = store
        self.allowed = allowed
        self._valid_session = valid_session
        self._spend = spend
        self.permission_sets: dict[str, Meta] = {}
        """Permission sets by name, as last created or updated (what ``readMetadata`` answers)."""

    def handle(self, body: bytes) -> tuple[Reply, str]:
        """Answer one SOAP request: the reply and the operation's name (for the counters)."""
        operation = "unknown"
        try:
            envelope = _parse(body)
            call = envelope.find(f"{{{ENV}}}Body/*")
            if call is None:
                raise _Fault("Client", "Body is empty", prefix="soapenv")
            operation = _local(call.tag)
            session = envelope.findtext(f"{{{ENV}}}Header/{{{MD}}}SessionHeader/{{{MD}}}sessionId")
            if not session or not self._valid_session(session.strip()):
                raise _Fault(
                    "INVALID_SESSION_ID",
                    "Invalid Session ID found in SessionHeader: Illegal Session",
                )
            if not self._spend():
                raise _Fault("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            if not self.allowed:
                raise _Fault("INSUFFICIENT_ACCESS", NO_ACCESS)
            if operation in ("createMetadata", "updateMetadata"):
                answer = self._save_all(call, creating=operation == "createMetadata")
            elif operation == "readMetadata":
                answer = self._read(call)
            else:
                raise _Fault(
                    "Client",
                    f"No operation available for request {{{MD}}}{operation}",
                    prefix="soapenv",
                )
            body = f"<{operation}Response>{answer}</{operation}Response>"
            return Reply(200, _envelope(body), content_type=XML_TYPE), operation
        except _Fault as fault:
            return Reply(500, _fault(fault), content_type=XML_TYPE), operation

    # -- operations ----------------------------------------------------------------------------
    def _save_all(self, call: ET.Element, *, creating: bool) -> str:
        """One SaveResult per component, in request order (a partial save, as since v34.0)."""
        results = []
        for kind, meta in _components(call, "metadata"):
            with self.store.lock:
                results.append(self._save(kind, meta, creating=creating))
        return "".join(results)

    def _read(self, call: ET.Element) -> str:
        kind = (call.findtext(f"{{{MD}}}type") or "").strip()
        names = [(e.text or "").strip() for e in call.findall(f"{{{MD}}}fullNames")]
        if len(names) > MAX_COMPONENTS:
            raise _Fault("LIMIT_EXCEEDED", f"Exceeded the limit of {MAX_COMPONENTS} full names")
        records = []
        for name in names:
            found = self.permission_sets.get(name) if kind == "PermissionSet" else None
            records.append(_element("records", found or [], kind=kind))
        return f"<result>{''.join(records)}</result>"

    def _save(self, kind: str, meta: Meta, *, creating: bool) -> str:
        """One component's SaveResult: the change is made, or nothing is."""
        name = _text(meta, "fullName")
        try:
            if kind == "CustomField" and creating:
                self._create_field(name, meta)
            elif kind == "PermissionSet":
                self._save_permission_set(name, meta, creating=creating)
            else:
                verb = "create" if creating else "update"
                raise _Refused("INVALID_TYPE", f"The sandbox cannot {verb} {kind} components")
        except _Refused as refused:
            error = (
                f"<errors><message>{escape(str(refused))}</message>"
                f"<statusCode>{refused.code}</statusCode></errors>"
            )
            return _result(name, False, error)
        return _result(name, True)

    def _create_field(self, full_name: str, meta: Meta) -> None:
        """Add a custom field to its object's describe (and to every existing record, as null)."""
        sobject, _, name = full_name.partition(".")
        spec = self.store.schema.get(sobject)
        if spec is None:
            raise _Refused(
                "INVALID_CROSS_REFERENCE_KEY",
                f"In field: fullName - no CustomObject named {sobject} found",
            )
        if not _CUSTOM.match(name):
            raise _Refused(
                "FIELD_INTEGRITY_EXCEPTION",
                f"Invalid fullName {full_name!r}: custom field names end with __c",
            )
        if spec.field(name) is not None:
            raise _Refused(
                "DUPLICATE_DEVELOPER_NAME", f"There is already a field named {name} on {spec.name}."
            )
        label = _text(meta, "label")
        if not label:
            raise _Refused(
                "FIELD_INTEGRITY_EXCEPTION", "Must specify a non-empty label for the CustomField"
            )
        kind, options = _field_type(meta)
        field = FieldSpec(name, kind, label=label, **options)
        self.store.schema.add(replace(spec, fields=(*spec.fields, field)))
        for record in self.store.tables[spec.name].values():
            record.setdefault(name, None)

    def _save_permission_set(self, name: str, meta: Meta, *, creating: bool) -> None:
        if not _DEV_NAME.match(name) or name.endswith("_"):
            raise _Refused(
                "FIELD_INTEGRITY_EXCEPTION",
                f"The permission set name {name!r} can only contain underscores and alphanumeric "
                "characters, must begin with a letter, not include spaces, not end with an "
                "underscore, and not contain two consecutive underscores.",
            )
        label = _text(meta, "label")
        if not label:
            raise _Refused("REQUIRED_FIELD_MISSING", "Required field is missing: label")
        known = self.permission_sets.get(name)
        if creating and known is not None:
            raise _Refused(
                "DUPLICATE_DEVELOPER_NAME", f"The permission set name {name!r} is already in use"
            )
        if not creating and known is None:
            raise _Refused(
                "INVALID_CROSS_REFERENCE_KEY",
                f"In field: fullName - no PermissionSet named {name} found",
            )
        schema = self.store.schema
        for grant in _all(meta, "fieldPermissions"):
            target = _text(grant, "field")
            sobject, _, field = target.partition(".")
            spec = schema.get(sobject)
            if spec is None or spec.field(field) is None:
                raise _Refused(
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"In field: field - no CustomField named {target} found",
                )
        for grant in _all(meta, "objectPermissions"):
            target = _text(grant, "object")
            if schema.get(target) is None:
                raise _Refused(
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"In field: object - no CustomObject named {target} found",
                )
        self.permission_sets[name] = meta
        values = {"Name": name, "Label": label, "Description": _text(meta, "description") or None}
        row = next((r for r in self.store.rows("PermissionSet") if r["Name"] == name), None)
        if row is None:
            self.store.load(
                "PermissionSet", {**values, "IsOwnedByProfile": False}, at=self.store.now()
            )
        else:
            self.store.apply(row, "PermissionSet", values)


# -- the field types the sandbox can create ---------------------------------------------------
def _field_type(meta: Meta) -> tuple[str, dict[str, Any]]:
    """``(describe type, FieldSpec options)`` for a CustomField's ``type`` and its settings."""
    kind = _text(meta, "type")
    length = _int(meta, "length")
    if kind == "Number":
        precision, scale = _int(meta, "precision"), _int(meta, "scale")
        if precision is None or scale is None or not 0 <= scale <= precision <= 18 or not precision:
            raise _Refused(
                "FIELD_INTEGRITY_EXCEPTION",
                "Number fields need a precision of 1 to 18 and a scale from 0 to the precision",
            )
        return "double", {}
    if kind == "Text":
        if length is None or not 0 < length <= 255:
            raise _Refused("FIELD_INTEGRITY_EXCEPTION", "Text fields need a length from 1 to 255")
        return "string", {"length": length}
    if kind == "LongTextArea":
        if length is None or not 256 <= length <= 131_072:
            raise _Refused(
                "FIELD_INTEGRITY_EXCEPTION",
                "Long Text Area fields need a length from 256 to 131072",
            )
        if _int(meta, "visibleLines") is None:
            raise _Refused(
                "FIELD_INTEGRITY_EXCEPTION",
                "Must specify 'visibleLines' for a CustomField of type LongTextArea",
            )
        return "textarea", {"length": length}
    if kind == "Picklist":
        value_set = _first(meta, "valueSet")
        definition = _first(value_set, "valueSetDefinition")
        values = [_text(v, "fullName") for v in _all(definition, "value")]
        if not values:
            raise _Refused("FIELD_INTEGRITY_EXCEPTION", "Picklist fields need at least one value")
        restricted = isinstance(value_set, list) and _text(value_set, "restricted") == "true"
        return "picklist", {"length": 255, "picklist": tuple(values), "restricted": restricted}
    raise _Refused(
        "FIELD_INTEGRITY_EXCEPTION",
        f"The sandbox creates Number, Text, LongTextArea and Picklist fields, not {kind or 'none'}",
    )


# -- XML in ------------------------------------------------------------------------------------
def _parse(body: bytes) -> ET.Element:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise _Fault("Client", f"Unable to parse the request: {exc}", prefix="soapenv") from None
    if root.tag != f"{{{ENV}}}Envelope":
        raise _Fault("VersionMismatch", "Wrong SOAP envelope namespace", prefix="soapenv")
    return root


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _components(call: ET.Element, element: str) -> list[tuple[str, Meta]]:
    """The ``(xsi:type, content)`` of each component of a create or update call."""
    found = call.findall(f"{{{MD}}}{element}")
    if len(found) > MAX_COMPONENTS:
        raise _Fault("LIMIT_EXCEEDED", f"Exceeded the limit of {MAX_COMPONENTS} components")
    out = []
    for item in found:
        kind = (item.get(f"{{{XSI}}}type") or "").rpartition(":")[2]
        meta = _meta(item)
        out.append((kind, meta if isinstance(meta, list) else []))
    return out


def _meta(element: ET.Element) -> Meta | str:
    children = list(element)
    if not children:
        return (element.text or "").strip()
    return [(_local(child.tag), _meta(child)) for child in children]


def _all(meta: Any, name: str) -> list[Any]:
    return [value for key, value in meta if key == name] if isinstance(meta, list) else []


def _first(meta: Any, name: str) -> Any:
    found = _all(meta, name)
    return found[0] if found else None


def _text(meta: Any, name: str) -> str:
    value = _first(meta, name)
    return value.strip() if isinstance(value, str) else ""


def _int(meta: Meta, name: str) -> int | None:
    text = _text(meta, name)
    return int(text) if text.lstrip("-").isdigit() else None


# -- XML out -----------------------------------------------------------------------------------
def _element(name: str, value: Any, *, kind: str | None = None) -> str:
    attrs = f" xsi:type={quoteattr(kind)}" if kind else ""
    if isinstance(value, list):
        inner = "".join(_element(key, item) for key, item in value)
        return f"<{name}{attrs}>{inner}</{name}>" if inner else f"<{name}{attrs}/>"
    return f"<{name}{attrs}>{escape(str(value))}</{name}>"


def _result(full_name: str, success: bool, errors: str = "") -> str:
    """One SaveResult: ``errors``, ``fullName``, ``success`` (the WSDL's order)."""
    flag = "true" if success else "false"
    name = escape(full_name)
    return f"<result>{errors}<fullName>{name}</fullName><success>{flag}</success></result>"


def _envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{ENV}" xmlns="{MD}" xmlns:xsi="{XSI}">'
        f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    ).encode()


def _fault(fault: _Fault) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{ENV}" xmlns:sf="{MD}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>{escape(fault.code)}</faultcode><faultstring>{escape(fault.text)}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    ).encode()
