"""A backtest on every core gives the report one process gives, errors at the right line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leadsync.config.templates import resolve_model
from leadsync.connectors.sandbox.data import generate
from leadsync.connectors.sandbox.leads import lead_jsons
from leadsync.errors import LeadError
from leadsync.scoring.backtest import Backtest
from leadsync.scoring.engine import compiled
from leadsync.sync import fileranges, labpool
from leadsync.sync.leadfile import read_leads

NOW = datetime(2026, 11, 1, tzinfo=UTC).timestamp()


@pytest.fixture
def leads_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "leads.jsonl"
    path.write_text("".join(json.dumps(lead) + "\n" for lead in lead_jsons(generate(600, seed=4))))
    monkeypatch.setattr(fileranges, "CHUNK", 64 << 10)  # several ranges, some lines cut by them
    return path


def test_the_report_is_the_one_process_report(leads_file: Path) -> None:
    model = resolve_model("b2b-saas")
    one = Backtest(model, lowest=5)
    engine = compiled(model)
    for lead in read_leads(leads_file):
        one.add(engine.score(lead, NOW), lead.outcome.converted if lead.outcome else None)
    many = Backtest(model, lowest=5)
    labpool.backtest_file(leads_file, many, NOW, None)
    assert len(list(fileranges.ranges(leads_file))) > 3
    assert many.report() == one.report()


def test_a_bad_line_in_a_later_range_is_named_by_its_number(leads_file: Path) -> None:
    lines = leads_file.read_text().splitlines(keepends=True)
    lines[500] = '{"id": "x", "events": [{"type": "page_view"}]}\n'
    leads_file.write_text("".join(lines))
    model = resolve_model("b2b-saas")
    with pytest.raises(LeadError, match=rf"{leads_file}:501 \(lead x\): events\[0\]\.at"):
        labpool.backtest_file(leads_file, Backtest(model), NOW, None)
    skipped: list[LeadError] = []
    lab = Backtest(model)
    labpool.backtest_file(leads_file, lab, NOW, skipped.append)
    assert [str(e).split(" ")[0] for e in skipped] == [f"{leads_file}:501"]
    assert lab.report().leads + lab.report().without_outcome == 599
