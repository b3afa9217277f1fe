"""The chaos benchmark's CRMs: a HubSpot or Salesforce sandbox with one account, served by
the benchmark's own process. Each gives the ``leadsync`` processes their environment and
accounts-file line, makes activity between runs and touches records while one goes, can
hold a leadsync task create (the ``--worst-stall`` gate), and reads itself back for the
oracle through its API."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chaos_faults import CountingFaults
from hubspot import HubSpot
from readback import Held, engine_results, hubspot_held, hubspot_tasks, salesforce_held

from leadsync.config.accounts import Account
from leadsync.config.templates import resolve_model
from leadsync.connectors.base import Connector
from leadsync.connectors.hubspot.connector import HubSpotConnector
from leadsync.connectors.ratelimit import RateLimiter
from leadsync.connectors.retry import RetryPolicy
from leadsync.connectors.salesforce.connector import SalesforceConnector
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox
from leadsync.scoring.engine import ScoreResult

MODEL = resolve_model("b2b-saas")
ACCOUNT = "chaos"
FAST = RetryPolicy(max_attempts=10, base_s=0.01, cap_s=0.05, window_s=0.05, max_total_s=60)
MARKER = re.compile(r"\[(leadsync:[^\[\]\s]+)\]")
#: A HubSpot task create, legacy (``/crm/v3/objects/tasks``) or dated
#: (``/crm/objects/2026-03/tasks``).
TASKS_PATH = re.compile(r"/objects/(?:\d{4}-\d{2}/)?tasks\b")
TITLES = ("Chief Executive Officer", "Intern", "VP Sales", "Analyst", "Director of IT")


class Crm:
    """A sandbox CRM with one account: its environment for ``leadsync`` processes, its
    activity, and the oracle's reads (through the API, with faults cleared)."""

    faults: CountingFaults
    env: dict[str, str]
    gate: Callable[[], None] | None = None
    """Called (in the sandbox's thread) before a leadsync task create is served."""

    def _task_create(self) -> None:
        gate = self.gate
        if gate is not None:
            gate()

    def account_line(self) -> str:
        raise NotImplementedError

    def _fields(self) -> dict[str, Any]:
        """The account as the accounts file gives it (for :meth:`account`)."""
        raise NotImplementedError

    def account(self) -> Account:
        return Account.model_validate(self._fields())

    def connector(self) -> Connector:
        raise NotImplementedError

    def requests(self) -> int:
        """Requests the sandbox has answered (or dropped) so far."""
        raise NotImplementedError

    def activity(self, rng: random.Random) -> None:
        """Changes between runs, through the API (faults must be cleared)."""
        raise NotImplementedError

    def touch(self, rng: random.Random) -> None:
        """A change while a run goes: in-process, so no injected fault can refuse it."""
        raise NotImplementedError

    def held(self) -> Held:
        """Record id → (score, tier, reasons) as the CRM holds them."""
        raise NotImplementedError

    def tasks(self) -> list[tuple[str, str]]:
        """(crossing key, record id) of every leadsync task in the CRM."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def engine(self) -> dict[str, ScoreResult]:
        """The engine's result for every record as the CRM holds it now."""
        return engine_results(self.connector(), MODEL)


class Hub(Crm):
    def __init__(self, records: int, seed: int, n: int) -> None:
        self.faults = CountingFaults(seed=seed)
        self.sandbox = HubSpotSandbox(
            contacts=records, seed=seed, faults=self.faults, window_s=1.0, search_per_second=20
        ).start()
        self.var = f"CHAOS_HUBSPOT_{n}"
        os.environ[self.var] = self.sandbox.token
        self.env = {self.var: self.sandbox.token}
        self.client = HubSpot(access_token=self.sandbox.token, host=self.sandbox.url)
        serve = self.sandbox.handle

        def handle(method: str, target: str, headers: Any, raw: bytes) -> Any:
            if method == "POST" and TASKS_PATH.search(target) and b"[leadsync:" in raw:
                self._task_create()
            return serve(method, target, headers, raw)

        self.sandbox.handle = handle  # type: ignore[method-assign]

    def _fields(self) -> dict[str, Any]:
        return {"id": ACCOUNT, "crm": "hubspot", "credentials": {"token": self.var},
                "host": self.sandbox.url}  # fmt: skip

    def account_line(self) -> str:
        return (
            f"  - {{id: {ACCOUNT}, crm: hubspot, credentials: {{token: {self.var}}}, "
            f"host: '{self.sandbox.url}', schedule: {{interval: 2s}}}}"
        )

    def connector(self) -> HubSpotConnector:
        limiter = RateLimiter.for_hubspot(10**6, window_s=0.2, search_per_s=10_000)
        return HubSpotConnector(self.account(), limiter=limiter, policy=FAST)

    def requests(self) -> int:
        return self.sandbox.counters.total()

    def activity(self, rng: random.Random) -> None:
        ids = [str(i) for i in range(1, self.sandbox.store.contact_count + 1)]
        edits = [(rng.sample(ids, 12), "jobtitle", rng.choice(TITLES)),
                 (rng.sample(ids, 2), "lead_score_tier", "mql"),
                 (rng.sample(ids, 2), "lead_score_reasons", "typed over by a rep")]  # fmt: skip
        for chosen, name, value in edits:
            inputs = [{"id": i, "properties": {name: value}} for i in chosen]
            self.client.crm.contacts.batch_api.update({"inputs": inputs})
        self.sandbox.touch(8, seed=rng.randrange(10**6))

    def touch(self, rng: random.Random) -> None:
        self.sandbox.touch(rng.randint(1, 4), seed=rng.randrange(10**6))

    def held(self) -> Held:
        return hubspot_held(self.client)

    def tasks(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for body, contacts in hubspot_tasks(self.client):
            marker = MARKER.search(body)
            if marker is not None:
                found.extend((marker.group(1), contact) for contact in contacts)
        return found

    def stop(self) -> None:
        self.sandbox.stop()


class Org(Crm):
    def __init__(self, records: int, seed: int, n: int) -> None:
        self.faults = CountingFaults(seed=seed)
        self.box = SalesforceSandbox(leads=records, seed=seed, faults=self.faults).start()
        self.var = f"CHAOS_SF_{n}"
        os.environ[self.var] = self.box.client_secret
        self.env = {self.var: self.box.client_secret, "REQUESTS_CA_BUNDLE": self.box.ca_path,
                    "CURL_CA_BUNDLE": self.box.ca_path}  # fmt: skip
        users = [r for r in self.box.store.rows("User") if r.get("IsActive")]
        self.robin = [str(r["Id"]) for r in users if "integration" not in str(r["Username"])][:2]
        self.sf = self.box.client(self.box.sessions.new_access_token())
        self.campaign = self.sf.Campaign.create(
            {"Name": "Book a demo", "Type": "Web", "Description": "demo_request"}
        )["id"]
        dispatch = self.box.dispatch_api

        def dispatch_api(call: Any, version: str) -> Any:
            if call.method == "POST" and b"[leadsync:" in call.body:
                self._task_create()
            return dispatch(call, version)

        self.box.dispatch_api = dispatch_api  # type: ignore[method-assign]

    def _fields(self) -> dict[str, Any]:
        return {"id": ACCOUNT, "crm": "salesforce",
                "credentials": {"consumer_key": self.box.client_id, "consumer_secret": self.var,
                                "instance_url": self.box.instance_url},
                "tasks": {"round_robin": self.robin}}  # fmt: skip

    def account_line(self) -> str:
        return (
            f"  - {{id: {ACCOUNT}, crm: salesforce, credentials: {{consumer_key: "
            f"{self.box.client_id}, consumer_secret: {self.var}, instance_url: "
            f"'{self.box.instance_url}'}}, tasks: {{round_robin: [{', '.join(self.robin)}]}}, "
            "schedule: {interval: 2s}}"
        )

    def connector(self) -> SalesforceConnector:
        return SalesforceConnector(
            self.account(), session=self.box.session(), policy=FAST, sleep=lambda _: None,
            poll_delays=(0.0,),
        )  # fmt: skip

    def requests(self) -> int:
        return self.box.counters.total()

    def _ids(self) -> list[str]:
        return sorted(r["Id"] for r in self.box.store.rows("Lead") if not r.get("IsConverted"))

    def activity(self, rng: random.Random) -> None:
        ids = self._ids()
        title = rng.choice(TITLES)
        for rid in rng.sample(ids, 8):
            self.sf.Lead.update(rid, {"Title": title})
        for rid in rng.sample(ids, 2):
            self.sf.Lead.update(rid, {"Lead_Score_Tier__c": "mql"})
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        for n, rid in enumerate(rng.sample(ids, 6)):
            if n % 3 == 0:
                try:
                    self.sf.CampaignMember.create(
                        {"CampaignId": self.campaign, "LeadId": rid, "Status": "Responded"}
                    )
                except Exception:  # already a member: Salesforce refuses a second one
                    continue
            elif n % 3 == 1:
                self.sf.Event.create({"WhoId": rid, "Subject": "Intro call",
                                      "StartDateTime": now, "DurationInMinutes": 30})  # fmt: skip
            else:
                self.sf.Task.create({"WhoId": rid, "Subject": "Call", "TaskSubtype": "Call",
                                     "Status": "Completed"})  # fmt: skip

    def touch(self, rng: random.Random) -> None:
        store = self.box.store
        for rid in rng.sample(self._ids(), rng.randint(1, 3)):  # a rep edits a title
            record, _ = store.locate("Lead", rid)
            if record is not None:
                store.apply(record, "Lead", {"Title": rng.choice(TITLES)})
        store.touch("Lead", rng.randint(0, 2))

    def held(self) -> Held:
        return salesforce_held(self.sf)

    def tasks(self) -> list[tuple[str, str]]:
        rows = self.sf.query_all("SELECT WhoId, Description FROM Task")["records"]
        found = []
        for r in rows:
            marker = MARKER.search(str(r.get("Description") or ""))
            if marker is not None:
                found.append((marker.group(1), str(r["WhoId"])))
        return found

    def stop(self) -> None:
        self.box.stop()
