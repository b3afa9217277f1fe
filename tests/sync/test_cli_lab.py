"""``leadsync model backtest`` and ``model diff``, run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from builders import event

LEADSYNC = [str(Path(sys.executable).with_name("leadsync"))]
AS_OF = "2026-11-23T12:00:00Z"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LEADSYNC, *args], input=stdin, capture_output=True, text=True, timeout=60
    )


HOT = [event("demo_request", 3), event("page_view", 2, url="https://x.io/pricing")]
LEADS = [
    {
        "id": "a",
        "properties": {"title": "CEO", "company_size": 120},
        "events": HOT,
        "outcome": {"converted": True},
    },
    {
        "id": "b",
        "properties": {"title": "CEO", "company_size": 120},
        "events": HOT,
        "outcome": {"converted": False},
    },
    {
        "id": "c",
        "properties": {"title": "Student"},
        "outcome": {"converted": True, "won_at": "2026-10-01"},
    },
    {"id": "d", "properties": {"title": "Student"}, "outcome": {"converted": False}},
    {"id": "e", "properties": {"title": "Student"}},
    {"id": "f", "events": [event("demo_request", 3)]},
]


def write_jsonl(path: Path) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in LEADS), encoding="utf-8")
    return path


def test_backtest_json_is_one_object_with_the_figures(tmp_path):
    done = run(
        "model",
        "backtest",
        "-m",
        "b2b-saas",
        "-l",
        str(write_jsonl(tmp_path / "l.jsonl")),
        "--as-of",
        AS_OF,
        "-f",
        "json",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["leads"], report["converted"], report["without_outcome"]) == (4, 2, 2)
    assert report["auc"] == 0.5
    mql = next(t for t in report["tiers"] if t["name"] == "mql")
    assert mql == {"name": "mql", "leads": 2, "converted": 1, "rate": 0.5, "lift": 1.0}
    assert report["mql"]["precision"] == 0.5 and report["mql"]["recall"] == 0.5
    assert report["lowest_converted"][0]["id"] == "c"
    assert len(report["deciles"]) == 10


def test_backtest_reads_csv_with_an_outcome_column_and_renders_table_and_html(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(
        "Key,Job Title,Won\nk1,CEO,yes\nk2,Student,no\nk3,CEO,1\nk4,,0\n", encoding="utf-8"
    )
    common = [
        "model",
        "backtest",
        "-m",
        "b2b-saas",
        "-l",
        str(path),
        "--as-of",
        AS_OF,
        "--id-column",
        "Key",
        "--outcome-column",
        "Won",
        "--map",
        "Job Title=title",
    ]
    table = run(*common)
    assert table.returncode == 0, table.stderr
    assert "4 leads with an outcome, 2 converted (50.0%); ROC AUC 1.000" in table.stdout
    page = run(*common, "-f", "html")
    assert page.stdout.startswith("<!doctype html>") and "ROC AUC 1.000" in page.stdout
    assert "<script" not in page.stdout and "http" not in page.stdout
    path.write_text("Key,Won\nk1,yes\nk2,maybe\n", encoding="utf-8")
    bad = run(
        "model",
        "backtest",
        "-m",
        "b2b-saas",
        "-l",
        str(path),
        "--id-column",
        "Key",
        "--outcome-column",
        "Won",
    )
    assert bad.returncode == 1
    assert (
        "leads.csv:3 (lead k2): column 'Won': 'maybe' is not 0/1, yes/no or true/false"
        in bad.stderr
    )
    assert "Traceback" not in bad.stderr


def test_diff_shows_moves_new_mqls_and_both_backtests(tmp_path):
    lower = tmp_path / "lower.yaml"
    template = Path(__file__).parents[2] / "config" / "templates" / "b2b-saas.yaml"
    text = template.read_text(encoding="utf-8")
    assert "mql_threshold: 71" in text and "    min: 71\n" in text
    text = text.replace("mql_threshold: 71", "mql_threshold: 50").replace("min: 71\n", "min: 50\n")
    lower.write_text(text.replace('version: "1.0"', 'version: "1.1"'), encoding="utf-8")
    done = run(
        "model",
        "diff",
        "b2b-saas",
        str(lower),
        "-l",
        str(write_jsonl(tmp_path / "l.jsonl")),
        "--as-of",
        AS_OF,
        "-f",
        "json",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["old"] == "b2b-saas@1.0" and report["new"] == "b2b-saas@1.1"
    assert report["leads"] == 6 and report["changed"] == 0
    assert report["matrix"]["counts"] == [[3, 0, 0], [0, 0, 1], [0, 0, 2]]
    assert report["lost_mqls"]["count"] == 0 and report["new_mqls"]["count"] == 1
    assert report["new_mqls"]["examples"][0]["id"] == "f"
    assert report["backtest"]["old"]["mql"]["mqls"] == 2
    assert report["backtest"]["new"]["mql"]["mqls"] == 2
    table = run(
        "model", "diff", "b2b-saas", str(lower), "-l", str(tmp_path / "l.jsonl"), "--as-of", AS_OF
    )
    assert (
        table.returncode == 0
        and "Tier moves" in table.stdout
        and "Backtests side by side" in table.stdout
    )


def test_generated_leads_backtest_from_stdin():
    generated = run("sandbox", "leads", "--contacts", "400", "--seed", "3")
    assert generated.returncode == 0, generated.stderr
    lines = generated.stdout.splitlines()
    assert len(lines) == 400 and all('"outcome"' in line for line in lines)
    done = run(
        "model",
        "backtest",
        "-m",
        "b2b-saas",
        "-l",
        "-",
        "--as-of",
        "2026-11-01T00:00:00Z",
        "-f",
        "json",
        stdin=generated.stdout,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["leads"] + report["without_outcome"] == 400
    assert 0 < report["converted"] < report["leads"] and report["auc"] > 0.55


def test_a_file_without_outcomes_is_one_message(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("id,title\nk1,CEO\n", encoding="utf-8")
    done = run("model", "backtest", "-m", "b2b-saas", "-l", str(path))
    assert done.returncode == 1 and done.stdout == ""
    assert (
        f"error: {path}: no lead has an outcome (1 read)" in done.stderr
        and "--outcome-column" in done.stderr
    )
