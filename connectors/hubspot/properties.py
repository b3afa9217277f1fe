"""leadsync's score properties on HubSpot contacts: checked, created when missing, and
their tier options kept in step with the model (``leadsync setup``, ``leadsync check``,
the first run)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leadsync.config.accounts import Account
from leadsync.connectors.hubspot.http import HubSpotHttp, Response
from leadsync.connectors.hubspot.paths import ApiPaths
from leadsync.errors import CrmAuthError, CrmError, CrmPermissionError
from leadsync.scoring.lead import FEEDBACK

__all__ = ["GROUP", "ScoreProperties"]

GROUP = {"name": "lead_scoring", "label": "Lead scoring", "displayOrder": -1}
SCHEMA_WRITE = "crm.schemas.contacts.write"
SCHEMA_READ = "crm.schemas.contacts.read"


class ScoreProperties:
    """The "Lead scoring" group and leadsync's six contact properties of one account."""

    def __init__(self, http: HubSpotHttp, account: Account, paths: ApiPaths) -> None:
        self.http = http
        self.account = account
        self.paths = paths
        self.what = f"HubSpot account {account.id!r}"

    def ensure_score_fields(self, tiers: Sequence[str]) -> list[str]:
        """The "Lead scoring" group and six properties (the score, its tier, reasons, model
        and time, and sales' feedback on an MQL): one batch read, then, for what is
        missing, the group and one batch create.

        Cost: 1 call when everything is in place (every backfill and run pays it), 3 on
        a fresh portal (read, group create, batch create). A create is retried after a
        lost answer, and the retry then meets a CONFLICT (the first attempt did create
        it, or another process did meanwhile): a conflict is success once a batch read
        shows the property with the type leadsync writes. A property of another type is
        refused with what to do, found either way.
        """
        options, wanted = self._wanted(tiers)
        f = self.account.fields
        created: list[str] = []
        try:
            found = self._read([s["name"] for s in wanted])
            missing = [s for s in wanted if s["name"] not in found]
            if missing:
                if not self._group_shown(found):
                    self.http.request(
                        "properties.groups.create", "POST", self.paths.groups("contacts"),
                        body=GROUP, safe=True, accept=(409,),  # it exists: the call's goal
                    )  # fmt: skip
                found |= self._create(missing)
                created = [s["name"] for s in missing]
            for spec in wanted:
                self._check_type(found[spec["name"]], spec)
                if spec["name"] == f.tier:
                    self._update_options(found[spec["name"]], options)
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

    def _read(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The definitions of these contact properties that exist, by name: one batch
        read (HubSpot answers 207 with an error item for names it does not know)."""
        response = self.http.request(
            "properties.batch_read", "POST", self.paths.properties_batch("contacts", "read"),
            body={"archived": False, "inputs": [{"name": n} for n in names]}, safe=True,
        )  # fmt: skip
        return {
            str(d["name"]): d
            for d in response.body.get("results") or []
            if isinstance(d, dict) and d.get("name") in names
        }

    def _create(self, specs: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Create these properties in one batch; the definitions of all of them, by name.

        Names HubSpot reports as taken (a CONFLICT item in a 207, or a 409 for the whole
        batch) are read back in one more batch read.
        """
        inputs = [{**s, "groupName": GROUP["name"], "description": s.get("description")
                   or "Set by leadsync."} for s in specs]  # fmt: skip
        made = self.http.request(
            "properties.batch_create", "POST",
            self.paths.properties_batch("contacts", "create"),
            body={"inputs": inputs}, safe=True, accept=(409,),
        )  # fmt: skip
        found = {str(d["name"]): d for d in made.body.get("results") or [] if isinstance(d, dict)}
        failed = [e for e in made.body.get("errors") or [] if isinstance(e, dict)]
        other = [e for e in failed if e.get("category") != "CONFLICT"]
        if other:
            raise CrmError(
                f"{self.what}: HubSpot did not create leadsync's score properties: "
                + "; ".join(str(e.get("message") or e.get("category")) for e in other)
            )
        taken = [s["name"] for s in specs if s["name"] not in found]
        if taken:
            again = self._read(taken)
            for name in taken:
                if name not in again:
                    raise CrmError(
                        f"{self.what}: HubSpot answered that the property {name} exists "
                        "(CONFLICT) but does not show it; run again in a minute."
                    )
            found |= again
        return found

    @staticmethod
    def _group_shown(found: dict[str, dict[str, Any]]) -> bool:
        """Whether a property read shows leadsync's group exists (one of them is in it)."""
        return any(d.get("groupName") == GROUP["name"] for d in found.values())

    def _group(self) -> Response:
        """leadsync's property group, as HubSpot answers for it (404: not there yet)."""
        return self.http.request(
            "properties.groups.get", "GET", self.paths.groups("contacts", GROUP["name"]),
            safe=True, accept=(404,),
        )  # fmt: skip

    def score_field_problems(self, tiers: Sequence[str]) -> list[str]:
        """What :meth:`ensure_score_fields` would have to create or cannot fix, changing
        nothing (``leadsync setup`` without ``--create``, ``leadsync check``).

        Cost: 1 batch read when a property shows the group exists, else 2 (the group's GET).
        """
        problems: list[str] = []
        missing: list[str] = []
        try:
            wanted = self._wanted(tiers)[1]
            found = self._read([s["name"] for s in wanted])
            if not self._group_shown(found) and self._group().status == 404:
                missing.append("the property group 'Lead scoring'")
            for spec in wanted:
                if spec["name"] not in found:
                    missing.append(f"the contact property {spec['name']}")
                    continue
                try:
                    self._check_type(found[spec["name"]], spec)
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

    def exists(self, name: str) -> bool:
        """Whether the portal has the contact property ``name`` (one batch read)."""
        return name in self._read([name])

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
