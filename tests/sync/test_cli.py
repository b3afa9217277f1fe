"""The ``leadsync`` console script, run as a user runs it: a subprocess."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from builders import event

from leadsync.sync.output import mql_note

LEADSYNC = [str(Path(sys.executable).with_name("leadsync"))]
AS_OF = "2026-11-23T12:00:00Z"


def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None):
    return subprocess.run(
        [*LEADSYNC, *args], input=stdin, capture_output=True, text=True, timeout=60, env=env
    )


def write_leads(path: Path, *leads: dict) -> Path:
    path.write_text("".join(json.dumps(lead) + "\n" for lead in leads), encoding="utf-8")
    return path


JANE = {
    "id": "jane",
    "properties": {
        "title": "CEO",
        "company_size": 120,
        "industry": "Technology",
        "email": "jane@gmail.com",
    },
    "events": [
        event("demo_request", 3),
        event("page_view", 5, url="https://acme.io/pricing"),
        event("page_view", 2, url="https://acme.io/pricing"),
        event("page_view", 4, url="https://acme.io/careers"),
    ],
}
BOB = {"id": "bob", "properties": {"title": "Student"}}


def test_jsonl_is_one_object_per_lead_in_input_order(tmp_path):
    leads = write_leads(tmp_path / "leads.jsonl", JANE, BOB)
    done = run(
        "score", "--model", "b2b-saas", "--leads", str(leads), "--as-of", AS_OF, "--format", "jsonl"
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["jane", "bob"]
    assert rows[0]["score"] == 55 and rows[0]["tier"] == "warm" and rows[0]["mql"] is False
    assert {"rule": "pricing-visit", "points": 20, "count": 1} in rows[0]["reasons"]
    assert sum(r["points"] for r in rows[0]["reasons"]) == 55
    assert rows[1] == {"id": "bob", "score": 0, "tier": "cold", "mql": False, "reasons": []}


def test_csv_and_stdin(tmp_path):
    text = json.dumps(JANE) + "\n\n" + json.dumps(BOB) + "\n"
    done = run("score", "-m", "b2b-saas", "--leads", "-", "--as-of", AS_OF, "-f", "csv", stdin=text)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert rows[0]["id"] == "jane" and rows[0]["score"] == "55" and rows[0]["mql"] == "false"
    assert rows[0]["reasons"].startswith("+50 demo request · +20 executive title")


def test_table_sorts_by_score_and_counts_tiers(tmp_path):
    leads = write_leads(tmp_path / "leads.jsonl", BOB, JANE)
    done = run("score", "-m", "b2b-saas", "-l", str(leads), "--as-of", AS_OF, "--top", "1")
    assert done.returncode == 0, done.stderr
    assert "jane" in done.stdout and "bob" not in done.stdout
    # The tier named mql is the MQL count: it is said once, not again as "· MQL 0".
    assert "2 leads scored: mql 0 · warm 1 · cold 1\n" in done.stdout


def test_the_mql_count_is_said_once_and_unambiguously():
    assert mql_note({"cold": 3, "mql": 2}, 2) == ""  # the mql tier says it
    assert mql_note({"cold": 3, "MQL": 2}, 2) == ""
    assert mql_note({"cold": 3, "hot": 2}, 2) == " · MQL 2"  # no tier says it
    # a tier named mql that does not start at the threshold: both, each labelled
    assert mql_note({"cold": 3, "mql": 1}, 2) == " · 2 at or above the MQL threshold"


def test_default_is_the_shipped_example_leads():
    done = run("score", "--model", "b2b-saas", "--format", "jsonl", "--as-of", AS_OF)
    assert done.returncode == 0, done.stderr
    assert "example leads" in done.stderr
    assert len(done.stdout.splitlines()) >= 10


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "leads.jsonl:2: not valid JSON"),
        (
            '{"id": "c1", "properties": {"ti',  # 31 characters, cut short
            "leads.jsonl:2: not valid JSON (the line ends at column 32 inside a value",
        ),
        ('{"id": "c1"} x', "leads.jsonl:2: not valid JSON (Extra data at column 14)"),
        (
            '{"id": "c1\u0001"}',
            "leads.jsonl:2: not valid JSON (Invalid control character at column 11)",
        ),
        (json.dumps({"properties": {}}), "leads.jsonl:2: the lead has no id"),
        (
            json.dumps({"id": "x", "events": [{"type": "tweet", "at": "2026-01-01T00:00:00Z"}]}),
            "leads.jsonl:2 (lead x): events[0].type: unknown event type 'tweet'",
        ),
        (
            json.dumps({"id": "x", "events": [{"type": "call", "at": "2026-01-01T09:00:00"}]}),
            "leads.jsonl:2 (lead x): events[0].at: '2026-01-01T09:00:00' has no timezone",
        ),
    ],
)
def test_bad_lines_stop_the_run_with_the_line_named(tmp_path, line, message):
    path = tmp_path / "leads.jsonl"
    path.write_text(json.dumps(BOB) + "\n" + line + "\n" + json.dumps(JANE) + "\n")
    done = run("score", "-m", "b2b-saas", "-l", str(path), "-f", "jsonl", "--as-of", AS_OF)
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_skip_invalid_reports_and_carries_on(tmp_path):
    path = tmp_path / "leads.jsonl"
    path.write_text(json.dumps(BOB) + "\n{oops\n" + json.dumps(JANE) + "\n")
    done = run(
        "score",
        "-m",
        "b2b-saas",
        "-l",
        str(path),
        "-f",
        "jsonl",
        "--as-of",
        AS_OF,
        "--skip-invalid",
    )
    assert done.returncode == 0
    assert [json.loads(x)["id"] for x in done.stdout.splitlines()] == ["bob", "jane"]
    assert "skipped " in done.stderr and "leads.jsonl:2: not valid JSON" in done.stderr
    assert "1 invalid line(s) skipped." in done.stderr


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["-m", "no-such-model"], "no-such-model: no model of that name (known: b2b-saas", 1),
        (["-m", "b2b-saas", "-l", "missing.jsonl"], "missing.jsonl: cannot read the file", 1),
        (["-m", "b2b-saas", "--as-of", "2026-01-01T00:00:00"], "has no timezone", 2),
        (["-m", "b2b-saas", "--as-of", "soon"], "is not an ISO 8601 date", 2),
    ],
)
def test_user_mistakes_are_messages_not_tracebacks(args, message, code):
    done = run("score", *args)
    assert done.returncode == code
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_model_check_exit_codes(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(
        "name: g\nversion: 1\nrules: [{id: a, on: call, points: 5}]\ntiers: [{name: x}]\nmql_threshold: 5\n"
    )
    bad = tmp_path / "b2b.yaml"
    bad.write_text(
        "name: b\nversion: 1\nrules:\n  - {id: a, on: call, points: lots}\ntiers: [{name: x}]\nmql_threshold: 5\n"
    )
    ok = run("model", "check", str(good))
    assert ok.returncode == 0 and "valid (g@1, 1 rules)" in ok.stdout
    failed = run("model", "check", str(good), str(bad))
    assert failed.returncode == 1
    assert "b2b.yaml: rules[0].points: must be a number (line 4)" in failed.stderr


def test_model_show_and_list(tmp_path):
    shown = run("model", "show", "weighted-sme")
    assert shown.returncode == 0, shown.stderr
    for text in ("weighted-sme@1.0", "weight 35 %", "count of page_view", "MQL at 15"):
        assert text in shown.stdout
    mine = tmp_path / "models"
    mine.mkdir()
    (mine / "ours.yaml").write_text(
        "name: ours\nversion: 2\nrules: [{id: a, on: call, points: 5}]\ntiers: [{name: x}]\nmql_threshold: 5\n"
    )
    listed = run(
        "model", "list", env={**os.environ, "LEADSYNC_MODELS_PATH": json.dumps([str(mine)])}
    )
    assert listed.returncode == 0, listed.stderr
    for name in ("ours", "b2b-saas", "b2c-ecommerce", "lifecycle-phases", "weighted-sme"):
        assert name in listed.stdout
    by_name = run(
        "score",
        "-m",
        "ours",
        "-f",
        "jsonl",
        env={**os.environ, "LEADSYNC_MODELS_PATH": json.dumps([str(mine)])},
    )
    assert by_name.returncode == 0, by_name.stderr


def test_help_everywhere():
    for args in (
        ["--help"],
        ["score", "--help"],
        ["model", "--help"],
        ["model", "check", "--help"],
        ["backfill", "--help"],
        ["sandbox", "--help"],
    ):
        done = run(*args)
        assert done.returncode == 0 and "Usage" in done.stdout
        assert "<bool>" not in done.stdout  # a flag takes no value
        assert "..." not in done.stdout.partition("Commands:")[2]  # no summary cut short
    listed = run("--help").stdout
    assert "sales cycle by initial score band, who won with a low score, tiers over" in " ".join(
        listed.split()
    )
    flags = run("backfill", "--help").stdout
    assert "--dry-run  " in flags and "--account <str>" in flags


def test_version():
    from importlib.metadata import version

    done = run("--version")
    assert done.returncode == 0 and done.stdout == f"leadsync {version('leadsync')}\n"


def test_piped_tables_print_whole_values(tmp_path):
    reasons = {"title": "CEO", "company_size": 120, "industry": "Technology"}
    lead = {"id": "a-rather-long-lead-identifier-" + "x" * 60, "properties": reasons}
    leads = write_leads(tmp_path / "leads.jsonl", lead, JANE)
    done = run("score", "-m", "b2b-saas", "-l", str(leads), "--as-of", AS_OF)
    assert done.returncode == 0, done.stderr
    assert lead["id"] in done.stdout  # not folded or cut at 80 columns
    assert "+20 executive title · +15 company of 50-500 employees · +10 target industry" in (
        done.stdout
    )
    assert "…" not in done.stdout


def test_score_reads_a_crm_csv_export_through_a_map(tmp_path):
    path = tmp_path / "contacts.csv"
    path.write_text(
        "Record ID,Job Title,Number of Employees,Industry,Email\n"
        "101,CEO,120,Technology,jane@acme.io\n"
        "102,Student,,,bob@gmail.com\n",
        encoding="utf-8",
    )
    done = run(
        "score",
        "-m",
        "b2b-saas",
        "-l",
        str(path),
        "--map",
        "hubspot",
        "-f",
        "jsonl",
        "--as-of",
        AS_OF,
    )
    assert done.returncode == 0, done.stderr
    rows = {r["id"]: r for r in map(json.loads, done.stdout.splitlines())}
    assert rows["101"]["score"] > 0 and {r["rule"] for r in rows["101"]["reasons"]} >= {
        "exec-title",
        "company-size",
    }
    assert rows["102"]["score"] <= 0
    unmapped = run("score", "-m", "b2b-saas", "-l", str(path), "-f", "jsonl", "--as-of", AS_OF)
    assert unmapped.returncode == 1 and "contacts.csv:1: no column 'id'" in unmapped.stderr
    assert "Traceback" not in unmapped.stderr
