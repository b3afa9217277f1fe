"""The describe JSON of the Salesforce sandbox's objects: ``GET /sobjects`` and
``GET /sobjects/{name}/describe``.

Shapes follow the v59.0 describes in ``shared/salesforce-reference/describe-*.json``: the
object-level keys, then each field with the 57 keys of a real one, their values derived
from the field's type (``schema.FieldSpec``): ``soapType``, ``byteLength`` (three bytes a
character), sortable/groupable/aggregatable flags (not for long text areas or compound
addresses), ``compoundFieldName`` on the components of a compound field.
"""

from __future__ import annotations

from typing import Any

from leadsync.connectors.sandbox.salesforce.schema import FieldSpec, ObjectSpec, Schema

__all__ = ["describe", "describe_global"]


_SOAP = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int",
    "double": "xsd:double", "currency": "xsd:double", "date": "xsd:date",
    "datetime": "xsd:dateTime", "address": "urn:address",
}  # fmt: skip
_UNSORTED = ("textarea", "address")


def _field_describe(spec: FieldSpec) -> dict[str, Any]:
    kind = spec.type
    text = kind not in _SOAP
    length = spec.length if text or kind in ("id", "reference") else 0
    if kind in ("id", "reference"):
        length = 18
    custom = spec.name.endswith("__c")
    label = spec.label or _label(spec.name)
    scale = 2 if kind in ("double", "currency") else 0
    scale = spec.scale if spec.scale is not None else scale
    return {
        "aggregatable": kind not in _UNSORTED, "aiPredictionField": False, "autoNumber": False,
        "byteLength": length * 3 if text else length, "calculated": False,
        "calculatedFormula": None, "cascadeDelete": False, "caseSensitive": False,
        "compoundFieldName": spec.compound, "controllerName": None, "createable": spec.createable,
        "custom": custom, "defaultValue": False if kind == "boolean" else None,
        "defaultValueFormula": None, "defaultedOnCreate": kind == "boolean" or kind == "id",
        "dependentPicklist": False, "deprecatedAndHidden": False,
        "digits": 9 if kind == "int" else 0, "displayLocationInDecimal": False,
        "encrypted": False, "externalId": False,
        "extraTypeInfo": "plaintextarea" if kind == "textarea" else None,
        "filterable": kind != "textarea" or spec.length <= 255, "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False, "groupable": kind not in (*_UNSORTED, "double"),
        "highScaleNumber": False, "htmlFormatted": False, "idLookup": kind == "id",
        "inlineHelpText": None, "label": label, "length": length, "mask": None,
        "maskType": None, "name": spec.name, "nameField": spec.name == "Name",
        "namePointing": len(spec.reference_to) > 1, "nillable": spec.nillable,
        "permissionable": spec.nillable and spec.createable, "picklistValues": [
            {"active": True, "defaultValue": i == 0 and spec.name == "Status", "label": v,
             "validFor": None, "value": v} for i, v in enumerate(spec.picklist)
        ],
        "polymorphicForeignKey": len(spec.reference_to) > 1,
        "precision": 18 if kind in ("double", "currency") else 0, "queryByDistance": False,
        "referenceTargetField": None, "referenceTo": list(spec.reference_to),
        "relationshipName": spec.relationship, "relationshipOrder": None,
        "restrictedDelete": False, "restrictedPicklist": spec.restricted,
        "scale": scale, "searchPrefilterable": False,
        "soapType": _SOAP.get(kind, "xsd:string"), "sortable": kind not in _UNSORTED,
        "type": kind, "unique": False, "updateable": spec.updateable,
        "writeRequiresMasterRead": False,
    }  # fmt: skip


def _label(name: str) -> str:
    base = name.removesuffix("__c").removesuffix("Id").replace("_", " ")
    out = ""
    for i, ch in enumerate(base):
        if i and ch.isupper() and not base[i - 1].isupper() and base[i - 1] != " ":
            out += " "
        out += ch
    return out or name


def _object_flags(spec: ObjectSpec, base: str) -> dict[str, Any]:
    name = spec.name
    return {
        "activateable": False, "associateEntityType": None, "associateParentEntity": None,
        "createable": True, "custom": False, "customSetting": False, "deepCloneable": False,
        "deletable": True, "deprecatedAndHidden": False, "feedEnabled": name != "Group",
        "hasSubtypes": False, "isInterface": False, "isSubtype": False,
        "keyPrefix": spec.prefix, "label": _label(name), "labelPlural": spec.label_plural,
        "layoutable": True, "mergeable": name in ("Lead", "Contact", "Account"),
        "mruEnabled": True, "name": name, "queryable": True, "replicateable": True,
        "retrieveable": True, "searchable": True, "triggerable": True, "undeletable": True,
        "updateable": True, "urls": {
            "rowTemplate": f"{base}/sobjects/{name}/{{ID}}",
            "describe": f"{base}/sobjects/{name}/describe",
            "sobject": f"{base}/sobjects/{name}",
        },
    }  # fmt: skip


def describe(spec: ObjectSpec, base: str) -> dict[str, Any]:
    """``GET /sobjects/{name}/describe``: object keys, then ``fields`` (57 keys each)."""
    out = _object_flags(spec, base)
    out.update(
        {
            "actionOverrides": [],
            "childRelationships": [],
            "compactLayoutable": True,
            "fields": [_field_describe(f) for f in spec.fields],
            "namedLayoutInfos": [],
            "networkScopeFieldName": None,
            "recordTypeInfos": [],
            "searchLayoutable": True,
            "sobjectDescribeOption": "FULL",
            "supportedScopes": [
                {"label": "All " + spec.label_plural.lower(), "name": "everything"}
            ],
        }
    )
    return dict(sorted(out.items()))


def describe_global(schema: Schema, base: str) -> dict[str, Any]:
    """``GET /sobjects``: ``{encoding, maxBatchSize, sobjects}`` as recorded."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [dict(sorted(_object_flags(s, base).items())) for s in schema.objects.values()],
    }
