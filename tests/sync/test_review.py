"""``leadsync review`` as a user runs it, on the HubSpot sandbox, and its HTML report in a
real headless browser (Debian's chromium)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from matplotlib.image import imread
from polling import LEADSYNC

from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox
from leadsync.sync.reviewreport import _COLOURS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
#: Where the browser test keeps its screenshot for people to look at (CI artifact).
ARTIFACTS = Path(
    os.environ.get("LEADSYNC_TEST_ARTIFACTS", Path(__file__).parents[2] / ".artifacts")
)


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("review")
    with HubSpotSandbox(contacts=800, seed=6, ten_second_limit=10**6,
                        search_per_second=1000) as box:  # fmt: skip
        (folder / "accounts.yaml").write_text(
            "accounts:\n"
            f"  - {{id: acme, crm: hubspot, credentials: {{token: REVIEW_TOKEN}}, host: '{box.url}'}}\n"
        )
        env = {**os.environ, "REVIEW_TOKEN": box.token,
               "LEADSYNC_STATE_PATH": str(folder / "state.db"),
               "LEADSYNC_ACCOUNTS_FILE": str(folder / "accounts.yaml")}  # fmt: skip

        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            done = subprocess.run([LEADSYNC, *args], env=env, capture_output=True, text=True,
                                  timeout=300)  # fmt: skip
            assert done.returncode == 0, done.stderr
            return done

        cli("backfill", "--account", "acme")
        mqls = [
            str(key + 1)
            for key in range(box.store.contact_count)
            if (box.store.contact_props(key).get("lead_score_tier") or "") == "mql"
        ]
        rejected = mqls[: len(mqls) // 2]
        for contact in mqls:  # reps say what they made of each MQL, on the record
            said = "rejected_not_a_buyer" if contact in rejected else "accepted"
            box.store.write_contact(int(contact) - 1, {"lead_score_feedback": said})
        done = list(box.store.tasks.values())[:3]
        for task in done:  # reps close some MQL tasks
            task.properties["hs_task_status"] = "COMPLETED"
        as_json = json.loads(cli("review", "--account", "acme", "--format", "json").stdout)
        as_json["_rejected"] = rejected
        as_json["_tasks"] = len(box.store.tasks)
        cli("review", "--account", "acme", "--format", "html", "--out", str(folder / "r.html"))
        table = cli(
            "review", "--account", "acme", "--suggest", str(folder / "suggested.yaml")
        ).stdout
        yield as_json, folder / "r.html", table


def test_every_figure_says_how_many_leads_it_rests_on(reviewed) -> None:
    report, _, table = reviewed
    assert report["leads"] == 800 and report["converted"] >= 30
    assert report["mql_to_sql"]["leads"] > 0
    bands = {b["name"]: b for b in report["bands"]}
    assert set(bands) == {"cold", "warm", "mql"}
    assert sum(b["leads"] for b in bands.values()) == report["with_outcome"]
    for band in bands.values():
        rate = band["close_rate"]
        assert (rate["rate"] is None) == (rate["leads"] < 30)
    assert report["low_score_winners"] and all(
        w["tier"] != "mql" for w in report["low_score_winners"]
    )
    assert report["tiers_over_time"]  # the backfill's month, from the score history
    assert [d["decile"] for d in report["deciles"]] == list(range(1, 11))
    assert "MQL → SQL" in table and "won with a low score" in table


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_the_html_report_renders_offline_in_a_browser(reviewed, tmp_path: Path) -> None:
    _, page, _ = reviewed
    text = page.read_text()
    assert text.count("<svg") == 5 and "<script" not in text and "<link" not in text
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "review.png"
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1600",
         "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert ":CONSOLE(" not in done.stderr  # no console message, error or otherwise
    pixels = imread(shot)[:, :, :3]
    for colour in _COLOURS[:4]:  # each chart was drawn: its colours are on the screenshot
        rgb = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        close = (abs(pixels - rgb) < 0.02).all(axis=2)
        assert close.sum() > 500, f"no {colour} bars on the screenshot"


def test_the_demo_ends_with_the_sandbox_accounts_review(tmp_path: Path) -> None:
    from rich.console import Console

    from leadsync.sync.demo import run_demo

    path = tmp_path / "review.html"
    run_demo(contacts=300, console=Console(file=open(os.devnull, "w")), review_path=path)  # noqa: SIM115
    text = path.read_text()
    assert text.count("<svg") == 5 and "MQL → SQL" in text


def test_the_mqls_sales_rejected_and_what_they_share(reviewed) -> None:
    report, _, table = reviewed
    rejected = report["_rejected"]
    assert rejected and report["rejected"]["hits"] == len(rejected)
    assert {w["id"] for w in report["rejected_mqls"]} <= set(rejected)
    assert all(w["feedback"] == "rejected_not_a_buyer" for w in report["rejected_mqls"])
    assert report["rejected_share"] and report["rejected_by_rule"]
    assert "MQLs sales rejected" in table
    tasks = report["tasks_by_tier"]
    assert sum(c.get("done", 0) for c in tasks.values()) == 3
    assert sum(sum(c.values()) for c in tasks.values()) == report["_tasks"]
    assert "MQL tasks:" in table


def test_suggestions_are_a_model_file_to_check_never_adopted(reviewed) -> None:
    report, page, table = reviewed
    suggested = page.with_name("suggested.yaml")
    from leadsync.config.templates import resolve_model

    model = resolve_model(str(suggested))  # an ordinary model file: it loads and validates
    threshold = report["suggested_threshold"]
    assert model.ref == "b2b-saas@1.0-review" and model.mql_threshold == threshold["score"]
    header = suggested.read_text().split("name:", 1)[0]
    assert header.startswith("# Suggested by `leadsync review` for account acme")
    assert f"mql_threshold 71 → {threshold['score']}" in header
    for rule in (r for r in report["rules"] if r["disagrees"]):
        assert f"{rule['rule']}: " in header
        assert (
            next(x for x in model.rules if x.id == rule["rule"]).points == rule["suggested_points"]
        )
    assert "suggested MQL threshold" in table


def test_the_help_says_what_the_review_produces() -> None:
    """A user reads the help, not our method's notes: what the review is and gives."""
    done = subprocess.run([LEADSYNC, "review", "--help"], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "our method" not in done.stdout
    assert "A quarterly review of the model" in done.stdout


def _review_missing(folder: Path, accounts: str, env: dict[str, str]) -> list[str]:
    """``leadsync review --format json``'s missing lines, run as a user runs it."""
    (folder / "accounts.yaml").write_text(accounts)
    env = {**os.environ, **env, "LEADSYNC_STATE_PATH": str(folder / "state.db"),
           "LEADSYNC_ACCOUNTS_FILE": str(folder / "accounts.yaml")}  # fmt: skip
    done = subprocess.run([LEADSYNC, "review", "--account", "acme", "--format", "json"],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["missing"]


def test_no_feedback_says_whether_the_field_is_missing_or_just_empty(tmp_path: Path) -> None:
    """Before ``setup --create`` the field is missing (the hint: create it); after it the
    field is there and only sales' feedback is missing (the hint: ask them to set it)."""
    with HubSpotSandbox(contacts=60, seed=3) as box:
        accounts = (
            "accounts:\n"
            f"  - {{id: acme, crm: hubspot, credentials: {{token: TOK}}, host: '{box.url}'}}\n"
        )
        (before,) = [m for m in _review_missing(tmp_path, accounts, {"TOK": box.token})
                     if "feedback" in m]  # fmt: skip
        assert "`leadsync setup --create` adds the field" in before
        env = {**os.environ, "TOK": box.token, "LEADSYNC_STATE_PATH": str(tmp_path / "state.db")}
        subprocess.run([LEADSYNC, "setup", "--account", "acme", "--create", "--accounts",
                        str(tmp_path / "accounts.yaml")], env=env, check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        (after,) = [m for m in _review_missing(tmp_path, accounts, {"TOK": box.token})
                    if "feedback" in m]  # fmt: skip
    assert "setup --create" not in after
    assert after.startswith("no sales feedback yet: the field lead_score_feedback exists")

    with SalesforceSandbox(leads=40, seed=2, outcomes=True, opportunities=True) as sf:
        accounts = (
            "accounts:\n"
            f"  - {{id: acme, crm: salesforce, salesforce: {{ca_file: '{sf.ca_path}'}}, "
            f"credentials: {{consumer_key: {sf.client_id}, consumer_secret: SF_SECRET, "
            f"instance_url: '{sf.instance_url}'}}}}\n"
        )
        missing = _review_missing(tmp_path, accounts, {"SF_SECRET": sf.client_secret})
    (said,) = [m for m in missing if "feedback" in m]
    assert said.startswith("no sales feedback yet: the field Lead_Score_Feedback__c exists")
