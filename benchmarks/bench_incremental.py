"""No change goes unscored: incremental runs under a stream of changes, then an oracle.

Run:  python benchmarks/bench_incremental.py [--records 2000] [--rounds 8] [--seed 1]
      [--crm hubspot salesforce] [--db sqlite postgresql] [--backfill-probe 10000]

For each CRM and state database: a backfill, then ``--rounds`` incremental runs while a
seeded stream changes the sandbox CRM through its own API — property edits, new activity
(HubSpot rollups; Salesforce campaign responses, meetings and closed calls that do not
touch the person's record), human edits of leadsync's own fields, edits that land
between leadsync's read and its write (from a hook on the connector's write), and
refused writes (the sandbox's per-record failures). Then the stream stops, one more
incremental run goes, and the oracle reads the CRM back: every record's score, tier and
reasons must be what the engine gives its current data (what ``leadsync score`` would
print for it), with exactly one MQL task per MQL lead.

Printed per CRM and database: stale records, MQL leads without a task, leads with more
than one task, and the worst incremental run's calls against the least its records
need. HubSpot's least is what the page and batch limits allow for the records each
endpoint moved (``ApiUsage.minimum``). Salesforce's counts what the API's shape forces:
one query per lead object and per activity object (nothing says which changed), the
engagement of the records scored (one query per activity object and 2,000 records), a
write and a stamp read per 200 scores, a create per 200 tasks, and the login. With
``--backfill-probe N``: the calls of the first incremental run after an N-record HubSpot
backfill with no change in between.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from hubspot import HubSpot
from pgschema import throwaway_schema
from readback import Held, engine_results, hubspot_held, hubspot_tasks, salesforce_held

from leadsync.config.accounts import Account
from leadsync.config.templates import resolve_model
from leadsync.connectors.base import ApiUsage, BatchResult, Connector, ScoreWrite
from leadsync.connectors.hubspot.connector import BATCH_LIMITS as HUBSPOT_LIMITS
from leadsync.connectors.hubspot.connector import HubSpotConnector
from leadsync.connectors.ratelimit import RateLimiter
from leadsync.connectors.retry import RetryPolicy
from leadsync.connectors.salesforce.activity import sources_for
from leadsync.connectors.salesforce.connector import SalesforceConnector
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox
from leadsync.sync.pipeline import Sync
from leadsync.sync.state import StateStore

MODEL = resolve_model("b2b-saas")
FAST = RetryPolicy(max_attempts=10, base_s=0.01, cap_s=0.05, window_s=0.05, max_total_s=60)
POSTGRES = os.environ.get(
    "LEADSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TITLES = ("Chief Executive Officer", "Intern", "VP Sales", "Analyst", "Director of IT")


class Crm:
    """A sandbox CRM, an account on it, its state, and the stream of changes."""

    def least(self, counts: Counter[str], usage: ApiUsage) -> int:
        """The fewest calls an incremental run that moved these records can make."""
        raise NotImplementedError

    def __init__(self, account: Account, store: StateStore, rng: random.Random) -> None:
        self.account, self.store, self.rng = account, store, rng

    def connector(self) -> Connector:
        raise NotImplementedError

    def run(self, mode: str, before_write: Callable[[Sequence[ScoreWrite]], None] | None = None):
        connector = self.connector()
        if before_write is not None:
            send = connector.write_scores

            def write_scores(writes: Sequence[ScoreWrite]) -> BatchResult:
                before_write(writes)
                return send(writes)

            connector.write_scores = write_scores  # type: ignore[method-assign]
        try:
            report = Sync(self.account, connector, self.store, MODEL).run(mode)  # type: ignore[arg-type]
            return report, connector.usage()
        finally:
            connector.close()

    def ids(self) -> list[str]:
        raise NotImplementedError

    def edit(self, ids: Sequence[str], field: str, value: str) -> None:
        raise NotImplementedError

    def activity(self, ids: Sequence[str]) -> None:
        raise NotImplementedError

    def refuse_writes(self, rate: float) -> None:
        raise NotImplementedError

    def held(self) -> Held:
        raise NotImplementedError

    def task_leads(self) -> Counter[str]:
        raise NotImplementedError

    # -- the stream ----------------------------------------------------------------------
    def stream(self, round_no: int) -> Callable[[Sequence[ScoreWrite]], None]:
        """Changes before a run, and a hook that changes records in the middle of it."""
        ids = self.ids()
        pick = lambda n: self.rng.sample(ids, min(n, len(ids)))  # noqa: E731
        self.edit(pick(15), self.title_field, self.rng.choice(TITLES))
        self.activity(pick(10))
        self.edit(pick(3), self.reasons_field, "typed over by a rep")
        self.edit(pick(2), self.tier_field, "mql")
        self.refuse_writes(0.05 if round_no % 3 == 1 else 0.0)
        raced = False

        def during(writes: Sequence[ScoreWrite]) -> None:
            nonlocal raced
            if not raced and writes:
                raced = True
                written = [w.lead_id for w in writes]
                self.edit(self.rng.sample(written, min(5, len(written))), self.title_field,
                          self.rng.choice(TITLES))  # fmt: skip

        return during

    def oracle(self) -> dict[str, int]:
        expected = engine_results(self.connector(), MODEL)
        held, tasks = self.held(), self.task_leads()
        stale = sum(
            1
            for rid, r in expected.items()
            if held[rid][:2] != (r.score, r.tier) or r.explanation() not in (held[rid][2] or "")
        )
        mqls = {rid for rid, r in expected.items() if r.is_mql}
        return {
            "records": len(expected),
            "stale": stale,
            "missing_tasks": len(mqls - set(tasks)),
            "duplicate_tasks": sum(1 for n in tasks.values() if n > 1),
        }


class Hub(Crm):
    title_field, reasons_field, tier_field = "jobtitle", "lead_score_reasons", "lead_score_tier"

    def __init__(self, records: int, store: StateStore, rng: random.Random, n: int) -> None:
        self.sandbox = HubSpotSandbox(
            contacts=records, seed=rng.randrange(1000), search_per_second=10_000,
            ten_second_limit=10**6,
        ).start()  # fmt: skip
        os.environ[f"BENCH_HUBSPOT_{n}"] = self.sandbox.token
        account = Account.model_validate(
            {"id": f"hub{n}", "crm": "hubspot", "credentials": {"token": f"BENCH_HUBSPOT_{n}"},
             "host": self.sandbox.url}
        )  # fmt: skip
        super().__init__(account, store, rng)
        self.client = HubSpot(access_token=self.sandbox.token, host=self.sandbox.url)

    def least(self, counts: Counter[str], usage: ApiUsage) -> int:
        return usage.minimum(HUBSPOT_LIMITS)

    def connector(self) -> HubSpotConnector:
        limiter = RateLimiter.for_hubspot(10**6, window_s=0.2, search_per_s=10_000)
        return HubSpotConnector(self.account, limiter=limiter, policy=FAST)

    def ids(self) -> list[str]:
        return [str(i) for i in range(1, self.sandbox.store.contact_count + 1)]

    def edit(self, ids: Sequence[str], field: str, value: str) -> None:
        inputs = [{"id": i, "properties": {field: value}} for i in ids]
        for start in range(0, len(inputs), 100):
            self.client.crm.contacts.batch_api.update({"inputs": inputs[start : start + 100]})

    def activity(self, ids: Sequence[str]) -> None:
        self.sandbox.touch(len(ids), seed=self.rng.randrange(10**6))

    def refuse_writes(self, rate: float) -> None:
        self.sandbox.faults.update(partial_failure_rate=rate)

    def held(self) -> Held:
        return hubspot_held(self.client)

    def task_leads(self) -> Counter[str]:
        return Counter(c for _, contacts in hubspot_tasks(self.client) for c in contacts)

    def stop(self) -> None:
        self.sandbox.stop()


class Org(Crm):
    title_field = "Title"
    reasons_field, tier_field = "Lead_Score_Reasons__c", "Lead_Score_Tier__c"

    def __init__(self, records: int, store: StateStore, rng: random.Random, n: int) -> None:
        self.box = SalesforceSandbox(leads=records, seed=rng.randrange(1000)).start()
        os.environ[f"BENCH_SF_{n}"] = self.box.client_secret
        users = [r for r in self.box.store.rows("User") if r.get("IsActive")]
        robin = [str(r["Id"]) for r in users if "integration" not in str(r["Username"])][:2]
        account = Account.model_validate(
            {"id": f"org{n}", "crm": "salesforce",
             "credentials": {"consumer_key": self.box.client_id,
                             "consumer_secret": f"BENCH_SF_{n}",
                             "instance_url": self.box.instance_url},
             "tasks": {"round_robin": robin}}
        )  # fmt: skip
        super().__init__(account, store, rng)
        self.sf = self.box.client(self.box.sessions.new_access_token())
        self.campaign = self.sf.Campaign.create(
            {"Name": "Book a demo", "Type": "Web", "Description": "demo_request"}
        )["id"]

    def least(self, counts: Counter[str], usage: ApiUsage) -> int:
        sources = len(sources_for("Lead", []))
        scored, writes, tasks = counts["leads"], counts["writes"], counts["tasks"]
        return (
            1 + sources + sources * math.ceil(scored / 2000) + 2 * math.ceil(writes / 200)
            + sum(math.ceil(n / 200) for n in self.resent.values()) + math.ceil(tasks / 200) + 1
        )  # fmt: skip

    def connector(self) -> SalesforceConnector:
        """A run's connector; ``resent`` counts, per method, the records of score writes and
        task creates it sent again (the org refused them with ``UNABLE_TO_LOCK_ROW``):
        sending them again is a need too."""
        connector = SalesforceConnector(
            self.account, session=self.box.session(), policy=FAST, sleep=lambda _: None,
            poll_delays=(0.0,),
        )  # fmt: skip
        self.resent, sent = Counter[str](), Counter[tuple[str, str]]()
        send = connector.api.collection

        def collection(method: str, records: Sequence[Any], *, safe: bool) -> list[Any]:
            for record in records:  # a score write by its record, a task by its key marker
                key = (method, str(record.get("Id") or record.get("Description")))
                sent[key] += 1
                self.resent[method] += sent[key] > 1
            return send(method, records, safe=safe)

        connector.api.collection = collection  # type: ignore[method-assign]
        return connector

    def ids(self) -> list[str]:
        return sorted(r["Id"] for r in self.box.store.rows("Lead") if not r.get("IsConverted"))

    def edit(self, ids: Sequence[str], field: str, value: str) -> None:
        for rid in ids:
            self.sf.Lead.update(rid, {field: value})

    def activity(self, ids: Sequence[str]) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        for n, rid in enumerate(ids):
            kind = n % 3
            if kind == 0:
                try:
                    self.sf.CampaignMember.create(
                        {"CampaignId": self.campaign, "LeadId": rid, "Status": "Responded"}
                    )
                except Exception:  # already a member: Salesforce refuses a second one
                    continue
            elif kind == 1:
                self.sf.Event.create({"WhoId": rid, "Subject": "Intro call",
                                      "StartDateTime": now, "DurationInMinutes": 30})  # fmt: skip
            else:
                self.sf.Task.create({"WhoId": rid, "Subject": "Call", "TaskSubtype": "Call",
                                     "Status": "Completed"})  # fmt: skip

    def refuse_writes(self, rate: float) -> None:
        if rate:
            self.box.faults.update(partial_failure_rate=rate)
        else:
            self.box.faults.clear()

    def held(self) -> Held:
        return salesforce_held(self.sf)

    def task_leads(self) -> Counter[str]:
        rows = self.sf.query_all("SELECT WhoId, Description FROM Task")["records"]
        return Counter(r["WhoId"] for r in rows if "[leadsync:" in str(r.get("Description")))

    def stop(self) -> None:
        self.box.stop()


def state_url(db: str, n: int) -> tuple[str, Callable[[], None]]:
    if db == "sqlite":
        folder = tempfile.mkdtemp(prefix="leadsync-bench-")
        return f"sqlite:///{folder}/state.db", lambda: None
    return throwaway_schema(POSTGRES, f"bench_incremental_{os.getpid()}_{n}")


def scenario(kind: str, db: str, records: int, rounds: int, seed: int, n: int) -> dict[str, Any]:
    url, drop = state_url(db, n)
    store = StateStore(url)
    rng = random.Random(seed)
    crm: Hub | Org = (Hub if kind == "hubspot" else Org)(records, store, rng, n)
    try:
        crm.run("backfill")
        ratios: list[float] = []
        for round_no in range(rounds):
            during = crm.stream(round_no)
            report, usage = crm.run("incremental", before_write=during)
            ratios.append(usage.total / max(crm.least(report.counts, usage), 1))
        crm.refuse_writes(0.0)
        report, usage = crm.run("incremental")
        ratios.append(usage.total / max(crm.least(report.counts, usage), 1))
        return {**crm.oracle(), "runs": rounds + 2, "worst_ratio": max(ratios)}
    finally:
        crm.stop()
        store.close()
        drop()


def backfill_probe(records: int) -> int:
    """Calls of the first incremental run after an N-contact HubSpot backfill, no change."""
    url, drop = state_url("sqlite", 999)
    store = StateStore(url)
    hub = Hub(records, store, random.Random(0), 999)
    try:
        hub.run("backfill")
        _, usage = hub.run("incremental")
        return usage.total
    finally:
        hub.stop()
        store.close()
        drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--crm", nargs="+", default=["hubspot", "salesforce"])
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--backfill-probe", type=int, default=0)
    args = parser.parse_args(argv)
    print("| CRM | state | records | runs | stale | MQLs without a task | duplicate tasks "
          "| worst calls ÷ least |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    bad = False
    for n, (kind, db) in enumerate((k, d) for k in args.crm for d in args.db):
        r = scenario(kind, db, args.records, args.rounds, args.seed + n, n)
        bad |= bool(r["stale"] or r["missing_tasks"] or r["duplicate_tasks"])
        print(f"| {kind} | {db} | {r['records']} | {r['runs']} | {r['stale']} | "
              f"{r['missing_tasks']} | {r['duplicate_tasks']} | {r['worst_ratio']:.2f} |",
              flush=True)  # fmt: skip
    if args.backfill_probe:
        calls = backfill_probe(args.backfill_probe)
        print(f"\nfirst incremental after a {args.backfill_probe:,}-contact HubSpot backfill, "
              f"no change: {calls} calls")  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
