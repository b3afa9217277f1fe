"""``leadsync score`` on every core writes the bytes one process writes, stops where it does."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leadsync.config.templates import resolve_model
from leadsync.connectors.sandbox.data import generate
from leadsync.connectors.sandbox.leads import lead_jsons
from leadsync.errors import LeadError
from leadsync.scoring.engine import score
from leadsync.sync import fileranges, output, scorepool
from leadsync.sync.leadfile import read_leads

MOMENT = datetime(2026, 11, 1, tzinfo=UTC)
MODEL = resolve_model("b2b-saas")


@pytest.fixture
def leads_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "leads.jsonl"
    path.write_text("".join(json.dumps(lead) + "\n" for lead in lead_jsons(generate(600, seed=4))))
    monkeypatch.setattr(fileranges, "CHUNK", 64 << 10)  # several ranges, lines cut by them
    return path


def _one_process(path: Path, fmt: str, skipped: list[LeadError] | None = None) -> str:
    out = io.StringIO()
    results = (
        score(lead, MODEL, MOMENT)
        for lead in read_leads(path, skipped.append if skipped is not None else None)
    )
    (output.write_csv if fmt == "csv" else output.write_jsonl)(results, out)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_the_output_is_the_one_process_output(leads_file: Path, fmt: str) -> None:
    out, told = io.StringIO(), []
    count = scorepool.score_file(leads_file, MODEL, MOMENT, fmt, out, progress=told.append)
    assert len(list(fileranges.ranges(leads_file))) > 3
    assert out.getvalue() == _one_process(leads_file, fmt)
    assert count == 600
    assert sum(told) == leads_file.stat().st_size


def test_a_bad_line_stops_the_output_right_before_it_or_is_skipped(leads_file: Path) -> None:
    lines = leads_file.read_text().splitlines(keepends=True)
    lines[500] = '{"id": "x", "events": [{"type": "page_view"}]}\n'
    leads_file.write_text("".join(lines))
    out = io.StringIO()
    with pytest.raises(LeadError, match=rf"{leads_file}:501 \(lead x\): events\[0\]\.at"):
        scorepool.score_file(leads_file, MODEL, MOMENT, "jsonl", out)
    assert out.getvalue().count("\n") == 500
    assert out.getvalue() == "".join(_one_process(leads_file, "jsonl", []).splitlines(True)[:500])

    skipped: list[LeadError] = []
    out = io.StringIO()
    assert scorepool.score_file(leads_file, MODEL, MOMENT, "jsonl", out, skipped.append) == 599
    assert [str(e).split(" ")[0] for e in skipped] == [f"{leads_file}:501"]
    assert out.getvalue() == _one_process(leads_file, "jsonl", [])
