"""Writing scores: JSON Lines and CSV stream one lead at a time; the table is for people."""

from __future__ import annotations

import csv
import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TextIO

import msgspec
from rich.console import Console
from rich.table import Table

from leadsync.scoring.engine import ScoreResult, format_points
from leadsync.scoring.model import ScoringModel

TIER_STYLES = ("blue", "yellow", "green", "bold magenta", "bold red")


def number(value: Decimal) -> int | float:
    """A score as JSON: a whole number when it is one."""
    return int(value) if value == value.to_integral_value() else float(value)


def as_json(result: ScoreResult) -> dict[str, object]:
    return {
        "id": result.lead_id,
        "score": number(result.score),
        "tier": result.tier,
        "mql": result.is_mql,
        "reasons": [
            {"rule": r.rule, "points": number(r.points), "count": r.count} for r in result.reasons
        ],
    }


def write_jsonl(results: Iterable[ScoreResult], out: TextIO) -> int:
    """One JSON object a line, encoded by msgspec: a third of the standard library's cost."""
    encode = msgspec.json.Encoder().encode
    count = 0
    for result in results:
        out.write(encode(as_json(result)).decode() + "\n")
        count += 1
    return count


#: The first line of the CSV format.
CSV_HEADER = "id,score,tier,mql,reasons\n"


def write_csv(results: Iterable[ScoreResult], out: TextIO, *, header: bool = True) -> int:
    """One row a lead, after the :data:`CSV_HEADER` line unless ``header`` is false."""
    writer = csv.writer(out, lineterminator="\n")
    if header:
        out.write(CSV_HEADER)
    count = 0
    for result in results:
        writer.writerow(
            [
                result.lead_id,
                format_points(result.score, signed=False),
                result.tier,
                "true" if result.is_mql else "false",
                result.explanation(),
            ]
        )
        count += 1
    return count


def write_table(
    results: Iterable[ScoreResult], model: ScoringModel, console: Console, top: int
) -> int:
    """The ``top`` highest scores and a count per tier; memory stays at ``top`` rows."""
    best: list[tuple[Decimal, int, ScoreResult]] = []
    tiers: Counter[str] = Counter()
    mqls = count = 0
    for result in results:
        count += 1
        tiers[result.tier] += 1
        mqls += result.is_mql
        entry = (result.score, -count, result)
        if len(best) < top:
            heapq.heappush(best, entry)
        elif entry > best[0]:
            heapq.heapreplace(best, entry)
    styles = {t.name: TIER_STYLES[i % len(TIER_STYLES)] for i, t in enumerate(model.tiers)}
    shown = sorted(best, reverse=True)
    table = Table(
        title=f"{model.ref}: top {len(shown)} of {count} leads" if count > len(shown) else model.ref
    )
    table.add_column("lead")
    table.add_column("score", justify="right")
    table.add_column("tier")
    table.add_column("MQL", justify="center")
    table.add_column("why")
    for _, _, result in shown:
        style = styles.get(result.tier, "")
        table.add_row(
            result.lead_id,
            format_points(result.score, signed=False),
            f"[{style}]{result.tier}[/]",
            "✔" if result.is_mql else "",
            result.explanation(),
        )
    console.print(table)
    summary = " · ".join(
        f"[{styles[t.name]}]{t.name}[/] {tiers.get(t.name, 0)}" for t in reversed(model.tiers)
    )
    counts = {t.name: tiers.get(t.name, 0) for t in model.tiers}
    console.print(f"{count} leads scored: {summary}{mql_note(counts, mqls)}")
    return count


def mql_note(tiers: Mapping[str, int], mqls: int) -> str:
    """The MQL count to end a tier summary with, said once: nothing when a tier named
    ``mql`` already counts exactly the MQLs, a label naming the threshold when a tier
    named ``mql`` counts something else (two different "mql" figures side by side would
    read as a contradiction), else `` · MQL n``."""
    named = [count for name, count in tiers.items() if name.lower() == "mql"]
    if not named:
        return f" · MQL {mqls}"
    if named == [mqls]:
        return ""
    return f" · {mqls} at or above the MQL threshold"
