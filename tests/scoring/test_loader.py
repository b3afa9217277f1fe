"""Model validation: every fault names the file, the path inside it and the line."""

from __future__ import annotations

import pytest

from leadsync.errors import ModelError
from leadsync.scoring.loader import load_model, parse_model

VALID_END = "tiers: [{name: cold}, {name: hot, min: 10}]\nmql_threshold: 10\n"


def problems(text: str, source: str = "b2b.yaml") -> list[str]:
    with pytest.raises(ModelError) as caught:
        parse_model(text, source)
    return caught.value.problems


def test_wrong_type_names_file_path_and_line():
    text = "name: b2b\nversion: 1\nrules:\n" + "".join(
        f"  - {{id: r{i}, when: {{title: ceo}}, points: 1}}\n" for i in range(3)
    )
    text += "  - id: r3\n    when: {title: ceo}\n    points: lots\n" + VALID_END
    with pytest.raises(ModelError) as caught:
        parse_model(text, "b2b.yaml")
    assert str(caught.value) == "b2b.yaml: rules[3].points: must be a number (line 9)"


def test_every_fault_is_listed():
    found = problems(
        """name: x
version: 1
rules:
  - {id: a, on: {type: page_vue}, points: 1}
  - {id: b, on: page_view, points: 1, max_cont: 2}
  - {id: c, points: 4}
  - {id: d, when: {x: 1}, on: page_view, points: 1}
  - {id: e, when: {size: {between: [5, 1]}}, points: 1}
  - {id: f, when: {}, points: 1}
  - {id: "bad id", when: {a: 1}, points: 1}
"""
        + VALID_END
    )
    assert found[0].startswith("rules[0].on.type: unknown event type 'page_vue'")
    assert found[1] == "rules[1].max_cont: unknown key (did you mean 'max_count'?) (line 5)"
    assert found[2].startswith("rules[2]: a rule needs one of 'when', 'on', 'buckets'")
    assert found[3].startswith("rules[3].when: a rule has exactly one of")
    assert found[4] == "rules[4].when.size: between: the low bound is above the high bound (line 8)"
    assert found[5].startswith("rules[5].when: a condition needs at least one property")
    assert found[6].startswith("rules[6].id: must start with a letter or digit")
    assert len(found) == 7


def test_duplicate_rule_ids_and_unknown_groups():
    found = problems(
        "name: x\nversion: 1\nrules:\n  - {id: a, when: {t: 1}, points: 1}\n"
        "  - {id: a, group: sizes, when: {t: 1}, points: 1}\n" + VALID_END
    )
    assert found == [
        "rules[1].id: duplicate rule id 'a' (rules[0] has it) (line 5)",
        "rules[1].group: unknown group 'sizes' (declare it under 'groups'; known: engagement, fit) (line 5)",
    ]


@pytest.mark.parametrize(
    ("tiers", "message"),
    [
        (
            "[{name: a, min: 0}, {name: b, min: 10}]",
            "tiers[0].min: the lowest tier takes every score",
        ),
        (
            "[{name: a}, {name: b, min: 10}, {name: c, min: 10}]",
            "tiers[2].min: 10 overlaps the tier before it",
        ),
        ("[{name: a}, {name: b, min: 30}, {name: c, min: 20}]", "tiers[2].min: 20 overlaps"),
        ("[{name: a}, {name: b}]", "tiers[1].min: required"),
        ("[{name: a}, {name: a, min: 3}]", "tiers[1].name: duplicate tier name 'a'"),
        ("[]", "tiers: must not be empty"),
    ],
)
def test_tiers_must_be_ordered_without_gaps_or_overlaps(tiers, message):
    found = problems(
        f"name: x\nversion: 1\nrules: [{{id: a, when: {{t: 1}}, points: 1}}]\ntiers: {tiers}\nmql_threshold: 1\n"
    )
    assert any(p.startswith(message) for p in found), found


def test_yaml_faults():
    assert problems("name: [")[0].startswith("not valid YAML")
    assert problems("")[0] == "the file is empty"
    assert problems("- a\n- b\n") == ["a model must be a mapping (name, version, rules, tiers…)"]
    assert problems("name: a\nname: b\n")[0] == "name: duplicate key (line 2)"
    assert problems("name: x\nversion: 1\nrulez: []\n" + VALID_END) == [
        "rules: required (line 1)",
        "rulez: unknown key (did you mean 'rules'?) (line 3)",
    ]


def test_on_and_no_stay_text_in_yaml():
    spec = parse_model(
        "name: x\nversion: 1\nrules:\n  - id: a\n    when: {country: NO}\n    points: 1\n"
        + VALID_END
    )
    assert spec.rules[0].when.properties["country"].equals == "NO"


def test_load_model_reports_unreadable_files(tmp_path):
    with pytest.raises(ModelError, match="cannot read the file"):
        load_model(tmp_path / "absent.yaml")
