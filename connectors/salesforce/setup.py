"""``leadsync setup --create`` on Salesforce: the score fields, a permission set, its assignment.

Each step is skipped when its work is already done, so a second run creates nothing:

1. **Fields.** Each configured object (Lead and/or Contact) is described; the score fields it
   lacks are created with the Metadata API's ``createMetadata``: ``Lead_Score__c``
   Number(18, 2), ``Lead_Score_Tier__c`` Text(40), ``Lead_Score_Reasons__c`` Long Text
   Area(32768, 5 visible lines), names from the account's ``fields``. The tier is Text, not a
   Picklist: the tiers are the scoring model's, and changing the model must not need a
   metadata change (an admin may still make it a Picklist; the check accepts both). A
   ``DUPLICATE_DEVELOPER_NAME`` answer means the field exists but field-level security hides it
   from the integration user, which the permission set fixes, or that this very request was
   done once already and its answer lost; so a create is retried like a safe call, and the
   final check (step 4) verifies each field's type whatever created it.
2. **Permission set** :data:`PERMISSION_SET` (``readMetadata``): created with Read and Edit on
   every score field and on the scored objects, or, when it exists, updated with the grants it
   lacks (everything else it holds is sent back as read, so nothing is taken away).
3. **Assignment** to the API user over REST: the permission set's id by SOQL, then a
   ``PermissionSetAssignment`` unless one exists. The user is the login's (OAuth modes) or,
   for a plain session id, ``/services/oauth2/userinfo``'s.
4. **Check**: describe again; :func:`check_score_fields` must pass.

Without "Modify Metadata" Salesforce answers ``INSUFFICIENT_ACCESS``; that becomes a
``CrmPermissionError`` naming both ways out: grant the permissions and run again, or the
admin's steps by hand (:func:`admin_steps`). Without "Assign Permission Sets", only the last
step is left to the admin, and the message says which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leadsync.connectors.salesforce.api import SalesforceApi
from leadsync.connectors.salesforce.fields import (
    METADATA_PERMISSIONS,
    PERMISSION_SET,
    admin_steps,
    check_score_fields,
)
from leadsync.connectors.salesforce.mdapi import MetadataAccessError, MetadataClient, Saved
from leadsync.connectors.salesforce.records import ScoreFields
from leadsync.connectors.salesforce.soql import soql
from leadsync.errors import CrmError, CrmPermissionError

__all__ = ["FIELD_SPECS", "create_score_fields"]

PERMISSION_SET_LABEL = "Leadsync Integration"
#: CustomField settings per role, and how a created field is reported.
FIELD_SPECS: dict[str, tuple[dict[str, Any], str]] = {
    "score": ({"label": "Lead Score", "type": "Number", "precision": 18, "scale": 2},
              "Number(18, 2)"),
    "tier": ({"label": "Lead Score Tier", "type": "Text", "length": 40}, "Text(40)"),
    "reasons": ({"label": "Lead Score Reasons", "type": "LongTextArea", "length": 32768,
                 "visibleLines": 5}, "Long Text Area(32768)"),
}  # fmt: skip
_DESCRIPTION = "Written by leadsync: {what}. Created by `leadsync setup --create`."
_WHAT = {
    "score": "the lead score",
    "tier": "the lead score's tier",
    "reasons": "why the lead has its score, and the model that scored it",
}


@dataclass(frozen=True, slots=True)
class _Field:
    sobject: str
    role: str
    name: str

    @property
    def full_name(self) -> str:
        return f"{self.sobject}.{self.name}"


def create_score_fields(
    api: SalesforceApi,
    objects: Mapping[str, ScoreFields],
    tiers: Sequence[str],
    *,
    account_id: str,
) -> list[str]:
    """Create what is missing (fields, permission set, assignment); what was created or granted."""
    wanted = [
        _Field(sobject, role, getattr(fields, role))
        for sobject, fields in objects.items()
        for role in FIELD_SPECS
    ]
    steps = " ".join(admin_steps(s, f, tiers) for s, f in objects.items())
    mdapi = MetadataClient(api)
    done: list[str] = []
    try:
        done += _create_fields(api, mdapi, wanted, steps)
        done += _grant(mdapi, wanted, list(objects), steps)
    except MetadataAccessError as refused:
        raise CrmPermissionError(
            "Salesforce: the integration user may not create fields or permission sets (the "
            f"Metadata API answered {refused}). Either give it {METADATA_PERMISSIONS} (for the "
            f"time of the setup) and run `leadsync setup --account {account_id} --create` "
            f"again, or, as a Salesforce admin, do it by hand: {steps}"
        ) from None
    done += _assign(api, account_id)
    for sobject, fields in objects.items():
        check_score_fields(api.describe(sobject), sobject, fields, tiers)
    return done


def _create_fields(
    api: SalesforceApi, mdapi: MetadataClient, wanted: Sequence[_Field], steps: str
) -> list[str]:
    """Create the fields describe does not show; a hidden one (duplicate name) is left alone."""
    seen: dict[str, set[str]] = {}
    missing: list[_Field] = []
    for want in wanted:
        if want.sobject not in seen:
            described = api.describe(want.sobject)
            seen[want.sobject] = {str(f.get("name", "")).lower() for f in described["fields"]}
        if want.name.lower() not in seen[want.sobject]:
            missing.append(want)
    if not missing:
        return []
    components = [_custom_field(mdapi, want) for want in missing]
    results = {r.full_name.lower(): r for r in mdapi.create(components, safe=True)}
    created: list[str] = []
    for want in missing:
        result = results.get(want.full_name.lower())
        if result is not None and result.success:
            created.append(f"field {want.full_name} ({FIELD_SPECS[want.role][1]})")
        elif result is None or result.codes != {"DUPLICATE_DEVELOPER_NAME"}:
            _refused(result, f"create the field {want.full_name}", steps)
    return created


def _custom_field(mdapi: MetadataClient, want: _Field) -> Any:
    settings, _ = FIELD_SPECS[want.role]
    description = _DESCRIPTION.format(what=_WHAT[want.role])
    return mdapi.build("CustomField", fullName=want.full_name, description=description,
                       **settings)  # fmt: skip


def _grant(
    mdapi: MetadataClient, wanted: Sequence[_Field], sobjects: Sequence[str], steps: str
) -> list[str]:
    """Create the permission set, or add to it the field and object access it lacks."""
    (current,) = mdapi.read("PermissionSet", [PERMISSION_SET])
    fields = [w.full_name for w in wanted]
    if current is None:
        permission_set = mdapi.build(
            "PermissionSet",
            fullName=PERMISSION_SET,
            label=PERMISSION_SET_LABEL,
            description="Lets leadsync read and write its lead score fields.",
            fieldPermissions=[_field_grant(mdapi, name) for name in fields],
            objectPermissions=[_object_grant(mdapi, sobject) for sobject in sobjects],
        )
        (result,) = mdapi.create([permission_set], safe=True)
        if not result.success and result.codes != {"DUPLICATE_DEVELOPER_NAME"}:
            _refused(result, f"create the permission set {PERMISSION_SET}", steps)
        return [f"permission set {PERMISSION_SET} (Read and Edit on {', '.join(fields)})"]
    added = _add_grants(mdapi, current, fields, sobjects)
    if not added:
        return []
    (result,) = mdapi.update([current])
    if not result.success:
        _refused(result, f"update the permission set {PERMISSION_SET}", steps)
    return [f"permission set {PERMISSION_SET}: added Read and Edit on {', '.join(added)}"]


def _add_grants(
    mdapi: MetadataClient, current: Any, fields: Sequence[str], sobjects: Sequence[str]
) -> list[str]:
    """Grant in ``current`` what it lacks, in place; the names of what was added."""
    added: list[str] = []
    held = {str(g.field).lower(): g for g in current.fieldPermissions or []}
    for name in fields:
        grant = held.get(name.lower())
        if grant is None:
            current.fieldPermissions.append(_field_grant(mdapi, name))
        elif not (grant.readable and grant.editable):
            grant.readable = grant.editable = True
        else:
            continue
        added.append(name)
    objects = {str(g.object).lower(): g for g in current.objectPermissions or []}
    for sobject in sobjects:
        grant = objects.get(sobject.lower())
        if grant is None:
            current.objectPermissions.append(_object_grant(mdapi, sobject))
        elif not (grant.allowRead and grant.allowEdit):
            grant.allowRead = grant.allowEdit = True
        else:
            continue
        added.append(sobject)
    return added


def _field_grant(mdapi: MetadataClient, field: str) -> Any:
    return mdapi.build("PermissionSetFieldPermissions", field=field, readable=True, editable=True)


def _object_grant(mdapi: MetadataClient, sobject: str) -> Any:
    return mdapi.build(
        "PermissionSetObjectPermissions",
        object=sobject,
        allowRead=True,
        allowEdit=True,
        allowCreate=False,
        allowDelete=False,
        modifyAllRecords=False,
        viewAllRecords=False,
    )


def _assign(api: SalesforceApi, account_id: str) -> list[str]:
    """Assign the permission set to the API user unless it is already assigned."""
    found = list(api.query_rows(soql("SELECT Id FROM PermissionSet WHERE Name = {n}",
                                     n=PERMISSION_SET)))  # fmt: skip
    if not found:
        raise CrmError(
            f"Salesforce: the permission set {PERMISSION_SET} was saved but SOQL does not find "
            f"it; run `leadsync setup --account {account_id} --create` again."
        )
    permission_set = str(found[0]["Id"])
    user = api.user_id or _user_from_userinfo(api)
    text = soql(
        "SELECT Id FROM PermissionSetAssignment WHERE AssigneeId = {u} AND PermissionSetId = {p}",
        u=user,
        p=permission_set,
    )
    if list(api.query_rows(text)):
        return []
    record = {"AssigneeId": user, "PermissionSetId": permission_set}
    try:
        api.call(
            "create PermissionSetAssignment",
            lambda sf: sf.restful(
                "sobjects/PermissionSetAssignment", method="POST", json=record, timeout=api.timeout
            ),
            safe=False,
        )
    except CrmPermissionError:
        raise CrmPermissionError(
            f"Salesforce: the fields and the permission set {PERMISSION_SET} are in place, but "
            "the integration user may not assign permission sets. A Salesforce admin: Setup → "
            f"Permission Sets → {PERMISSION_SET} → Manage Assignments → Add Assignment → the "
            f"integration user (id {user}). Then run `leadsync setup --account {account_id}`."
        ) from None
    return [f"assignment of {PERMISSION_SET} to the integration user ({user})"]


def _user_from_userinfo(api: SalesforceApi) -> str:
    """The API user's id from OpenID Connect's userinfo (a session-id login names no user)."""
    info = api.call("userinfo", lambda sf: sf.oauth2("userinfo"), safe=True)
    user = info.get("user_id") if isinstance(info, Mapping) else None
    if not user:
        raise CrmError("Salesforce: /services/oauth2/userinfo did not name the API user.")
    return str(user)


def _refused(result: Saved | None, what: str, steps: str) -> None:
    """Raise for a component Salesforce did not save: a permission, or its reason."""
    if result is None:
        raise CrmError(f"Salesforce: the Metadata API did not answer for the request to {what}.")
    if result.codes & {"INSUFFICIENT_ACCESS", "INSUFFICIENT_ACCESS_OR_READONLY"}:
        raise MetadataAccessError(result.describe())
    raise CrmError(f"Salesforce: could not {what} ({result.describe()}). By hand: {steps}")
