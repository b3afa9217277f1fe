"""``leadsync demo``: the activity it simulates moves scores on either CRM."""

from __future__ import annotations

import io
import re
from pathlib import Path

from rich.console import Console

from leadsync.sync.demo import run_demo


def test_the_salesforce_demo_activity_changes_scores(tmp_path: Path) -> None:
    printed = io.StringIO()
    steps = run_demo(
        crm="salesforce",
        contacts=200,
        changed=20,
        console=Console(file=printed, width=200),
        review_path=tmp_path / "review.html",
    )
    backfill, incremental = steps[0].report.counts, steps[1].report.counts
    converted = re.search(r"200 leads, (\d+) of them converted", printed.getvalue())
    assert converted, printed.getvalue()  # why fewer records than the sandbox holds are scored
    assert backfill["leads"] == 200 - int(converted.group(1))
    assert incremental["leads"] >= 20
    assert incremental["writes"] == 20  # each demo request is worth points: a new score each
    assert "new activity on 20 records (a demo request each)" in printed.getvalue()
