"""Scoring throughput: N synthetic leads with about 25 events each, per shipped model.

Run:  python benchmarks/bench_scoring.py [--leads 50000]

Prints, per model, leads/s for the engine alone (leads already parsed), for decode +
validate + score from JSON text (what ``leadsync score`` does per line, through the
same reader), and for the ``leadsync score --format jsonl`` command itself on a file of
those leads (start-up and writing the scores included), with the command's peak memory.
One core: the engine is single-threaded.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from leadsync.config.templates import resolve_model
from leadsync.scoring.engine import score
from leadsync.scoring.lead import parse_lead
from leadsync.sync.leadfile import jsonl_leads

LEADSYNC = str(Path(sys.executable).with_name("leadsync"))
PEAK_RSS = """
import resource, subprocess, sys
with open(sys.argv[1], "w") as out:
    done = subprocess.run(sys.argv[2:], stdout=out)
print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""

AS_OF = datetime(2026, 11, 23, tzinfo=UTC)
TITLES = ["CEO", "VP Sales", "Director of Marketing", "Engineer", "Student", "Directeur", None]
INDUSTRIES = ["Technology", "E-commerce", "Retail", "Finance", "Healthcare", None]
DOMAINS = ["gmail.com", "acme.io", "yahoo.fr", "northwind.com", "globex.fr"]
PAGES = ["/", "/pricing", "/careers", "/blog/scoring", "/blog/crm", "/product", "/jobs/42", "/docs"]
EVENTS = [
    ("page_view", 10),
    ("email_open", 5),
    ("email_click", 2),
    ("form_submit", 1),
    ("content_download", 1),
    ("webinar_register", 1),
    ("demo_request", 0.3),
    ("meeting", 0.3),
    ("newsletter_subscribe", 0.3),
]


def synthetic_leads(n: int, seed: int = 1) -> list[dict]:
    """Deterministic leads as JSON objects (the canonical format)."""
    rng = random.Random(seed)
    types, weights = zip(*EVENTS, strict=True)
    leads = []
    for i in range(n):
        events = []
        for event_type in rng.choices(types, weights, k=rng.randint(20, 30)):
            at = AS_OF - timedelta(days=rng.random() * 365)
            item = {"type": event_type, "at": at.isoformat()}
            if event_type in ("page_view", "email_click"):
                item["url"] = "https://acme.io" + rng.choice(PAGES)
            if event_type == "form_submit":
                item["form"] = rng.choice(["Request a demo", "Contact us", "Newsletter"])
            if event_type == "content_download":
                item["kind"] = rng.choice(["white_paper", "case_study", "ebook"])
            events.append(item)
        leads.append(
            {
                "id": f"lead-{i}",
                "properties": {
                    "email": f"p{i}@{rng.choice(DOMAINS)}",
                    "title": rng.choice(TITLES),
                    "company_size": rng.choice([5, 60, 300, 800, 5000, None]),
                    "industry": rng.choice(INDUSTRIES),
                    "trading_area": rng.choice(["main", "secondary", "outside"]),
                },
                "events": events,
            }
        )
    return leads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=50_000)
    args = parser.parse_args()
    raw = synthetic_leads(args.leads)
    lines = [json.dumps(item) for item in raw]
    leads = [parse_lead(item) for item in raw]
    # The inputs live for the whole run: keep the cyclic collector from rescanning them,
    # as it would not in ``leadsync score``, which holds one lead at a time.
    gc.freeze()
    events = sum(len(lead.events) for lead in leads) / len(leads)
    print(f"{len(leads)} leads, {events:.1f} events per lead on average")
    for name in ("b2b-saas", "weighted-sme"):
        model = resolve_model(name)
        start = time.perf_counter()
        for lead in leads:
            score(lead, model, AS_OF)
        engine = len(leads) / (time.perf_counter() - start)
        start = time.perf_counter()
        for lead in jsonl_leads(lines, "bench", None):
            score(lead, model, AS_OF)
        end_to_end = len(lines) / (time.perf_counter() - start)
        command, peak = _command(lines, name)
        print(
            f"{name:14} engine {engine:9,.0f} leads/s   read+score {end_to_end:9,.0f} leads/s   "
            f"leadsync score {command:9,.0f} leads/s (peak {peak:,.0f} MiB)"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"this process's peak memory {peak:,.0f} MiB (the {len(leads)} leads held included)")


def _command(lines: list[str], model: str) -> tuple[float, float]:
    """``leadsync score --format jsonl`` on ``lines`` as a file: leads/s and peak MiB."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "leads.jsonl"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        args = [LEADSYNC, "score", "-m", model, "-l", str(path), "-f", "jsonl"]
        args += ["--as-of", AS_OF.isoformat()]
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", PEAK_RSS, str(Path(folder) / "scores.jsonl"), *args],
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - start
    code, peak = done.stdout.split()
    if code != "0":
        raise SystemExit(done.stderr)
    return len(lines) / wall, int(peak) / 1024


if __name__ == "__main__":
    main()
