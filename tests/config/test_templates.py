"""Finding models by name: shipped templates, the user's model folders, paths."""

from __future__ import annotations

import json

import pytest

from leadsync.config.settings import Settings
from leadsync.config.templates import example_leads, resolve_model, template_names, user_models
from leadsync.errors import ModelError
from leadsync.scoring.lead import parse_lead

MODEL = "name: {name}\nversion: 3\nrules: [{{id: a, on: call, points: 5}}]\ntiers: [{{name: x}}]\nmql_threshold: 5\n"


def test_the_four_templates_ship_and_validate():
    assert template_names() == ["b2b-saas", "b2c-ecommerce", "lifecycle-phases", "weighted-sme"]
    for name in template_names():
        assert resolve_model(name).name == name


def test_user_folders_come_before_templates(tmp_path, monkeypatch):
    (tmp_path / "b2b-saas.yaml").write_text(MODEL.format(name="ours"))
    monkeypatch.setenv("LEADSYNC_MODELS_PATH", f'["{tmp_path}"]')
    assert user_models() == {"b2b-saas": tmp_path / "b2b-saas.yaml"}
    assert resolve_model("b2b-saas").name == "ours"
    assert resolve_model("b2b-saas", Settings(models_path=[])).name == "b2b-saas"


def test_paths_and_unknown_names(tmp_path):
    path = tmp_path / "mine.yml"
    path.write_text(MODEL.format(name="mine"))
    assert resolve_model(str(path)).ref == "mine@3"
    with pytest.raises(ModelError, match="no such file"):
        resolve_model(str(tmp_path / "absent.yaml"))
    with pytest.raises(ModelError, match="no model of that name"):
        resolve_model("b2b-sas")


def test_example_leads_are_valid():
    lines = example_leads().read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 10
    for number, line in enumerate(lines, 1):
        parse_lead(json.loads(line), f"leads.jsonl:{number}")
