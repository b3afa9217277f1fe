"""Chaos: leadsync runs cut off, refused, killed and stalled; then an oracle reads the CRM.

Run:  python benchmarks/bench_chaos.py [--seed 1] [--records 300] [--rounds 6]
      [--crm hubspot salesforce] [--db sqlite postgresql] [--minutes 15] [--worst-stall]

For each CRM (the HubSpot and Salesforce sandboxes, served by this process on 127.0.0.1)
and each state database (a SQLite file, a PostgreSQL schema), one account goes through a
seeded sequence of ``leadsync`` processes, each under its own faults (the sandboxes'
:class:`~leadsync.connectors.sandbox.faults.Faults`), with activity in the CRM before
each run and records touched while it runs:

1. ``leadsync backfill`` SIGKILLed after a random number of requests, then resumed
   under 5xx answers, dropped connections and lost answers;
2. ``--rounds`` ``leadsync sync`` runs, each with one fault profile in turn: bursts of
   429 and 503, lost answers (``lost_writes`` and ``lost_answer_rate``), refused batch
   items (``partial_failure_rate``), 5xx with dropped connections, a SIGKILL at a random
   request;
3. ``leadsync daemon`` replicas under faults and latency: on SQLite one replica,
   SIGKILLed at a random request and restarted; on PostgreSQL two replicas with a 3 s
   lease, the one running the account stalled with SIGSTOP until the other has taken the
   account over and finished a run, then SIGCONT; later the one running the account is
   SIGKILLed and the other takes it over once the lease expires;
4. a fresh state database against the already-scored account: a clean ``sync`` on the
   old one, then ``leadsync backfill`` on the new one under faults (lost answers
   included) -- it must create no task for a lead that already has one -- and two more
   faulted ``sync`` runs on it;
5. faults cleared, activity stopped, two clean ``leadsync sync`` runs; then the oracle.

The oracle reads the CRM back through its API and the state database:

- lost writes: records whose score/tier in the CRM is not the one the state says was
  written (a state row not marked for a rewrite);
- wrong scores: records whose score, tier or reasons in the CRM are not what the engine
  gives the record's current data;
- duplicate tasks: leadsync tasks beyond the first of each lead (the tasks' crossing
  keys are read from their marker). Within the default 30-day cooldown a lead crosses
  the MQL threshold at most once, so a second task is a duplicate: the same crossing
  created twice, or a task the fresh state database created again;
- missing tasks: leads that are MQL by the engine without a leadsync task, or whose
  crossing the state records without its task in the CRM;
- overlapping runs: pairs of runs of the account (in the ``runs`` tables of both state
  databases) that were live at once; a SIGKILLed run ends when it was killed; a run
  stopped by its lease's fencing after a stall (``took over its lease``) is counted as
  *fenced* instead (printed per scenario): it could save nothing once its lease was
  taken, and any score it wrote meanwhile is judged by the other columns.

``--worst-stall`` (PostgreSQL) adds a stall aimed at the worst moment: the replica is
stopped the instant its task create reaches the CRM (after its last lease check) and the
request is held until the other replica has taken over and finished a run. A stalled
create is left to a later run for five minutes (``IN_FLIGHT`` in ``sync/tasks.py``), so
it must not duplicate the batch's tasks; a note says when no create came to hold.

Faults injected counts every fault the sandboxes applied (5xx, 429, dropped
connections, lost answers, refused batch items) plus the SIGKILLs, the stall and the
fresh database. Exits 1 when any of the five last columns is not 0.
PostgreSQL: ``LEADSYNC_BENCH_POSTGRES_URL`` (default the local test server).

The parts: ``chaos_faults`` (the counted faults, the rounds' profiles), ``chaos_crms``
(the sandbox CRMs), ``chaos_statedb`` (the state databases), ``chaos_runner`` (the
``leadsync`` processes, their kills and stalls), ``chaos_oracle`` (the read-back and
the row); this file plays the sequence above and prints the table.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from chaos_crms import Crm, Hub, Org
from chaos_faults import PROFILES
from chaos_oracle import oracle
from chaos_runner import Scenario
from chaos_statedb import state_db


def play(chaos: Scenario, rounds: int) -> None:
    """The sequence of the module's steps 1 to 5 (the rounds stop at the deadline)."""
    chaos.write_accounts()
    chaos.dbs.append(state_db(chaos.db_kind, chaos.folder, "first"))
    chaos.cli("backfill", {"error_rate": 0.03, "drop_rate": 0.01, "kill": 1})
    chaos.cli("backfill", {"error_rate": 0.05, "drop_rate": 0.02, "lost_answer_rate": 0.02})
    offset = chaos.rng.randrange(len(PROFILES))
    for n in range(rounds):
        if time.monotonic() > chaos.deadline:
            chaos.notes.append(f"time budget spent: {rounds - n} rounds skipped")
            break
        chaos.crm.activity(chaos.rng)
        chaos.cli("sync", PROFILES[(offset + n) % len(PROFILES)][1])
    if time.monotonic() < chaos.deadline:
        chaos.crm.activity(chaos.rng)
        chaos.daemons()
    # a fresh state database against the scored account
    chaos.cli("sync", {}, touches=False)
    before = chaos.crm.tasks()
    chaos.dbs.append(state_db(chaos.db_kind, chaos.folder, "fresh"))
    chaos.events["fresh state database"] += 1
    chaos.cli("backfill", {"error_rate": 0.03, "lost_writes": 3}, touches=False)
    had = {lead for _, lead in before}
    new = Counter(chaos.crm.tasks()) - Counter(before)
    again = sum(n for (_, lead), n in new.items() if lead in had)
    if again:  # counted by the oracle too: a second task of one lead
        chaos.notes.append(f"the fresh state database created {again} task(s) again")
    for profile in ("lost answers", "5xx and drops"):
        chaos.crm.activity(chaos.rng)
        chaos.cli("sync", dict(PROFILES)[profile])
    # the end: no fault, no activity
    for _ in range(2):
        code = chaos.cli("sync", {}, touches=False)
        if code != 0:
            chaos.notes.append(f"a clean sync ended with exit code {code}")


def scenario(
    kind: str,
    db: str,
    records: int,
    rounds: int,
    seed: int,
    n: int,
    deadline: float,
    root: Path,
    worst_stall: bool = False,
) -> dict[str, Any]:
    """Play one CRM × state database and judge it; sandboxes and databases are dropped."""
    folder = root / f"{kind}-{db}"
    folder.mkdir()
    crm: Crm = (Hub if kind == "hubspot" else Org)(records, seed, n)
    with open(folder / "leadsync.log", "ab") as log:
        chaos = Scenario(crm, db, folder, random.Random(seed), deadline, log)
        chaos.worst_stall = worst_stall
        try:
            play(chaos, rounds)
            return {**oracle(chaos), "notes": chaos.notes}
        finally:
            crm.stop()
            for state in chaos.dbs:
                state.drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6, help="faulted syncs per scenario")
    parser.add_argument("--crm", nargs="+", default=["hubspot", "salesforce"])
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--minutes", type=float, default=15.0, help="time budget of the rounds")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    parser.add_argument(
        "--worst-stall",
        action="store_true",
        help="PostgreSQL: also stall a replica at its task create (see the README)",
    )
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="leadsync-chaos-"))
    combos = [(k, d) for k in args.crm for d in args.db]
    started = time.monotonic()
    print(f"seed {args.seed}, {args.records} records, {args.rounds} faulted syncs per "
          f"scenario; logs in {root}", flush=True)  # fmt: skip
    rows: list[tuple[str, str, dict[str, Any]]] = []
    for n, (kind, db) in enumerate(combos):
        share = args.minutes * 60 * (n + 1) / len(combos)
        result = scenario(kind, db, args.records, args.rounds, args.seed * 100 + n, n,
                          started + share, root, args.worst_stall)  # fmt: skip
        rows.append((kind, db, result))
        print(f"{kind} × {db}: {result['by_kind']}; {result['records']} records, "
              f"{result['mqls']} MQLs, {result['tasks']} tasks, {result['fenced']} runs "
              f"fenced; {time.monotonic() - started:.0f} s", flush=True)  # fmt: skip
        for note in result["notes"]:
            print(f"  note: {note}", flush=True)
    columns = ("lost", "wrong", "duplicates", "missing", "overlaps")
    print()
    print("| CRM | state database | runs | faults injected | lost writes | wrong scores "
          "| duplicate tasks | missing tasks | overlapping runs |")  # fmt: skip
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|")
    for kind, db, r in rows:
        print(f"| {kind} | {db} | {r['runs']} | {r['faults']} | "
              + " | ".join(str(r[c]) for c in columns) + " |")  # fmt: skip
    total = {c: sum(r[c] for _, _, r in rows) for c in ("runs", "faults", *columns)}
    print(f"| **all** | | **{total['runs']}** | **{total['faults']}** | "
          + " | ".join(f"**{total[c]}**" for c in columns) + " |")  # fmt: skip
    print(f"\n{time.monotonic() - started:.0f} s")
    bad = any(total[c] for c in columns)
    if not args.keep_logs and not bad:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
