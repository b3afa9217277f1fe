"""Model diffs: tier moves, new and lost MQLs, and the rules that moved a lead."""

from __future__ import annotations

from decimal import Decimal

from builders import AS_OF, event, lead

from leadsync.scoring.diff import ModelDiff
from leadsync.scoring.engine import score
from leadsync.scoring.loader import parse_model

OLD = """
name: m
version: "1"
rules:
  - {id: title, when: {title: {contains_any: [ceo]}}, points: 20}
  - {id: demo, on: {type: demo_request}, points: 50, max_count: 1}
tiers: [{name: cold}, {name: mql, min: 60}]
mql_threshold: 60
"""
NEW = (
    OLD.replace("points: 50", "points: 30")
    .replace('version: "1"', 'version: "2"')
    .replace("points: 20}", "points: 40}")
)


def test_a_diff_names_every_move_and_its_rules():
    old, new = parse_model(OLD, "old.yaml"), parse_model(NEW, "new.yaml")
    leads = [
        lead("ceo-demo", [event("demo_request")], title="CEO"),  # 70 mql → 70 mql
        lead("demo", [event("demo_request")]),  # 50 cold → 30 cold
        lead("ceo", title="CEO"),  # 20 cold → 40 cold
        lead("nobody"),
    ]
    changes = ModelDiff(old, new, top=2)
    for item in leads:
        changes.add(score(item, old, AS_OF), score(item, new, AS_OF))
    report = changes.report()
    assert report.leads == 4 and report.changed == 2  # ceo-demo: +20 -20, unchanged
    assert report.matrix == ((3, 0), (0, 1))
    assert report.new_mqls == report.lost_mqls == 0
    assert [m.lead_id for m in report.top_moves] == ["demo", "ceo"]
    [demo_rule] = report.top_moves[0].rules
    assert (demo_rule.rule, demo_rule.old, demo_rule.new) == ("demo", Decimal(50), Decimal(30))
    assert [r.rule for r in report.top_moves[1].rules] == ["title"]


def test_new_and_lost_mqls():
    old = parse_model(OLD, "old.yaml")
    lower = parse_model(
        OLD.replace("min: 60}", "min: 15}").replace("mql_threshold: 60", "mql_threshold: 15"),
        "lower.yaml",
    )
    changes = ModelDiff(old, lower)
    for item in [lead("ceo", title="CEO"), lead("x")]:
        changes.add(score(item, old, AS_OF), score(item, lower, AS_OF))
    back = ModelDiff(lower, old)
    back.add(
        score(lead("ceo", title="CEO"), lower, AS_OF), score(lead("ceo", title="CEO"), old, AS_OF)
    )
    assert changes.report().new_mqls == 1 and changes.report().new_mql_examples[0].lead_id == "ceo"
    assert changes.report().new_mql_examples[0].rules == ()
    assert back.report().lost_mqls == 1
