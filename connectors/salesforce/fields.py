"""Checking leadsync's score fields through describe, and telling the admin what to do.

Two ways to get the fields: a Salesforce admin creates them by hand (:func:`admin_steps`
says exactly how), or ``leadsync setup --account ID --create`` creates them through the
Metadata API (``salesforce_setup``). The second needs "Customize Application" and "Modify
Metadata Through Metadata API Functions", which an integration user should hold only for the
time of the setup, and a field created that way stays invisible to the user until a
permission set grants field-level access (writes then fail with ``INVALID_FIELD``); that is
why ``--create`` also creates and assigns the permission set :data:`PERMISSION_SET`.

Either way, every run checks the three fields through describe first: a missing, mistyped or
read-only field stops it with one message naming the fields, their types, the permission set
and how ``--create`` could do it (:func:`create_hint`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from leadsync.connectors.salesforce.records import ScoreFields
from leadsync.errors import CrmAuthError, CrmError

__all__ = [
    "METADATA_PERMISSIONS",
    "PERMISSION_SET",
    "admin_steps",
    "check_score_fields",
    "create_hint",
]

PERMISSION_SET = "Leadsync_Integration"
_TYPES = {
    "score": ({"double", "int", "currency", "percent"}, "Number(18, 2)"),
    "tier": ({"string", "picklist"}, "Text(40) or Picklist"),
    "reasons": ({"textarea", "string"}, "Long Text Area(32768)"),
}


def admin_steps(sobject: str, fields: ScoreFields, tiers: Sequence[str]) -> str:
    """What a Salesforce admin does once so leadsync can write scores on ``sobject``."""
    return (
        f"In Setup → Object Manager → {sobject} → Fields & Relationships, create: "
        f"{fields.score} (Number(18, 2), label 'Lead Score'), "
        f"{fields.tier} (Text(40), or a Picklist with the values {', '.join(tiers)}), "
        f"{fields.reasons} (Long Text Area(32768)). Then create a permission set "
        f"{PERMISSION_SET!r} with Read and Edit access to these fields (and Read on {sobject}, "
        "Task create/edit for MQL tasks, 'API Enabled'), and assign it to the integration "
        "user leadsync logs in as."
    )


#: The permissions ``setup --create`` needs (Salesforce's names, as Setup shows them).
METADATA_PERMISSIONS = (
    "'Customize Application' and 'Modify Metadata Through Metadata API Functions'"
)


def create_hint(account_id: str) -> str:
    """How leadsync can create the fields and the permission set itself."""
    return (
        f"Or let leadsync do it: give the integration user {METADATA_PERMISSIONS} (for the "
        f"time of the setup) and run `leadsync setup --account {account_id} --create`."
    )


def check_score_fields(
    describe: Mapping[str, Any],
    sobject: str,
    fields: ScoreFields,
    tiers: Sequence[str],
    hint: str = "",
) -> None:
    """Raise a ``CrmError`` (``CrmAuthError`` for a permission) unless all three fields work.

    ``hint`` (e.g. :func:`create_hint`) ends the messages ``setup --create`` can fix: a
    missing field and a read-only one.
    """
    by_name = {str(f.get("name", "")).lower(): f for f in describe.get("fields", [])}
    missing: list[str] = []
    wrong: list[str] = []
    read_only: list[str] = []
    for role, name in (("score", fields.score), ("tier", fields.tier),
                       ("reasons", fields.reasons)):  # fmt: skip
        spec = by_name.get(name.lower())
        if spec is None:
            missing.append(name)
            continue
        kinds, shown = _TYPES[role]
        if spec.get("type") not in kinds:
            wrong.append(f"{name} is {spec.get('type')}, expected {shown}")
        elif not spec.get("updateable", False):
            read_only.append(name)
        elif role == "tier" and spec.get("type") == "picklist" and spec.get("restrictedPicklist"):
            values = {str(v.get("value")) for v in spec.get("picklistValues", [])}
            absent = [t for t in tiers if t not in values]
            if absent:
                wrong.append(f"{name} is a restricted picklist without {', '.join(absent)}")
    steps = admin_steps(sobject, fields, tiers)
    tail = f" {hint}" if hint else ""
    if missing:
        raise CrmError(
            f"Salesforce: {sobject} has no field {', '.join(missing)} (or the integration user "
            f"cannot see it). {steps}{tail}"
        )
    if wrong:
        raise CrmError(f"Salesforce: on {sobject}, {'; '.join(wrong)}. {steps}")
    if read_only:
        raise CrmAuthError(
            f"Salesforce: the integration user cannot edit {', '.join(read_only)} on {sobject}. "
            f"Grant Edit access to them in the permission set {PERMISSION_SET!r} (Setup → "
            "Permission Sets → Object Settings → "
            f"{sobject} → Field Permissions) and assign it to the integration user.{tail}"
        )
