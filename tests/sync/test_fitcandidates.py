"""Every candidate rule, written in the model language and scored by the engine, gives
each lead exactly the points its columns say: what the fit fits is what the engine scores."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from leadsync.config.templates import resolve_model
from leadsync.connectors.sandbox.data import DEFAULT_AS_OF, generate
from leadsync.connectors.sandbox.leads import lead_jsons
from leadsync.scoring.engine import compiled
from leadsync.scoring.lead import parse_lead
from leadsync.scoring.loader import parse_model
from leadsync.scoring.model import ScoringModel
from leadsync.sync.fitcandidates import (
    CategoryCandidate,
    EventCandidate,
    NumericCandidate,
    StartCandidate,
)
from leadsync.sync.fitfind import find_candidates
from leadsync.sync.fithistory import History, read_history
from leadsync.sync.leadfile import Columns

NOW = DEFAULT_AS_OF.timestamp()


@pytest.fixture(scope="module")
def leads_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("candidates") / "leads.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for lead in lead_jsons(generate(1500, seed=2)):
            out.write(json.dumps(lead) + "\n")
    return path


def _leads(path: Path) -> list:
    leads = [parse_lead(json.loads(line)) for line in path.open(encoding="utf-8")]
    return [x for x in leads if x.outcome and x.outcome.converted is not None]


def _model(rule: dict) -> ScoringModel:
    import yaml

    text = yaml.safe_dump({"name": "probe", "version": "1", "rules": [rule],
                           "tiers": [{"name": "all"}], "mql_threshold": 1000})  # fmt: skip
    return parse_model(text, "probe")


def _engine_scores(spec: ScoringModel, leads: list) -> np.ndarray:
    engine = compiled(spec)
    return np.array([float(engine.score(lead, NOW).score) for lead in leads])


def test_every_kind_of_candidate_scores_as_its_columns_say(leads_file: Path) -> None:
    history = read_history(str(leads_file), NOW, Columns(), None, None)
    leads = _leads(leads_file)
    assert history.rows == len(leads)
    candidates = find_candidates(history, None, frozenset())
    kinds = {type(c) for c in candidates}
    assert {CategoryCandidate, NumericCandidate, EventCandidate} <= kinds
    assert any(isinstance(c, EventCandidate) and c.window for c in candidates)
    assert any(isinstance(c, EventCandidate) and len(c.edges) > 1 for c in candidates)
    assert any(isinstance(c, CategoryCandidate) and c.mode == "domain" for c in candidates)
    assert any(isinstance(c, CategoryCandidate) and c.mode == "bool" for c in candidates)
    rng = np.random.default_rng(7)
    for candidate in candidates:
        points = rng.choice([-9.0, -4.0, 3.0, 5.0, 11.0], size=candidate.width)
        rule = candidate.rule(points)
        assert rule is not None and rule["label"]
        expected = np.asarray(candidate.columns @ points).ravel()
        got = _engine_scores(_model(rule), leads)
        wrong = np.flatnonzero(np.abs(got - expected) > 1e-9)
        assert not len(wrong), (candidate.label, rule, wrong[:5])


@pytest.mark.parametrize("template", ["b2b-saas", "weighted-sme", "b2c-ecommerce"])
def test_a_start_models_rules_refit_score_as_their_columns_say(
    leads_file: Path, template: str
) -> None:
    start = resolve_model(template)
    history = read_history(str(leads_file), NOW, Columns(), start, None)
    leads = _leads(leads_file)
    candidates = find_candidates(history, start, frozenset())[: len(start.rules)]
    assert all(isinstance(c, StartCandidate) for c in candidates)
    for candidate in candidates:
        points = np.arange(1.0, candidate.width + 1) * 3
        rule = candidate.rule(points)
        assert rule is not None and rule["id"] == candidate.id
        expected = np.asarray(candidate.columns @ points).ravel()
        got = _engine_scores(_model(rule), leads)
        assert np.allclose(got, expected, atol=0.006), candidate.label


def test_a_history_keeps_only_leads_with_an_outcome_and_splits_them_by_id() -> None:
    history = History("memory", NOW)
    for i, outcome in enumerate([True, False, None, False]):
        data = {"id": f"l{i}", "properties": {"title": "CEO"},
                "outcome": {"converted": outcome} if outcome is not None else None}  # fmt: skip
        history.add(parse_lead({k: v for k, v in data.items() if v is not None}), None)
    history.finish()
    assert (history.read, history.rows, history.without_outcome) == (4, 3, 1)
    assert history.properties["title"] == ["CEO"] * 3
