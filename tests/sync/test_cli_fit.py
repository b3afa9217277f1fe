"""``leadsync model fit``, run as a user runs it, on leads the sandbox generator made."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from leadsync.connectors.sandbox.data import generate
from leadsync.connectors.sandbox.leads import lead_jsons
from leadsync.scoring.loader import load_model

LEADSYNC = [str(Path(sys.executable).with_name("leadsync"))]
AS_OF = "2026-11-01T00:00:00Z"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LEADSYNC, *args], capture_output=True, text=True, timeout=120)


def write(path: Path, leads: list[dict]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in leads), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def history() -> list[dict]:
    return list(lead_jsons(generate(3000, seed=5)))


@pytest.fixture(scope="module")
def history_file(history: list[dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("fit") / "history.jsonl", history)


@pytest.fixture(scope="module")
def held_out_file(history: list[dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The leads the fit holds out — one in five by the CRC-32 of the id, as documented."""
    chosen = [x for x in history if zlib.crc32(x["id"].encode()) % 5 == 0]
    return write(tmp_path_factory.mktemp("fit") / "held-out.jsonl", chosen)


def fit(history_file: Path, out: Path, *extra: str) -> dict:
    done = run("model", "fit", "-l", str(history_file), "-o", str(out), "--as-of", AS_OF,
               "-f", "json", *extra)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def backtest(model: Path | str, leads: Path) -> dict:
    done = run(
        "model", "backtest", "-m", str(model), "-l", str(leads), "--as-of", AS_OF, "-f", "json"
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_fit_writes_a_model_that_checks_shows_and_reports_the_engines_held_out_auc(
    history: list[dict], history_file: Path, held_out_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "fitted.yaml"
    report = fit(history_file, out)

    assert run("model", "check", str(out)).returncode == 0
    shown = run("model", "show", str(out))
    assert shown.returncode == 0 and "MQL at" in shown.stdout
    spec = load_model(out)
    assert 1 <= len(spec.rules) == report["rules"] <= 20
    assert all(rule.label for rule in spec.rules)
    assert spec.mql_threshold == report["mql_threshold"]
    # The figure reported is `model backtest` of the file written, on the held-out leads.
    again = backtest(out, held_out_file)
    assert report["held_out"]["auc"] == again["auc"]
    assert report["held_out"]["leads"] == again["leads"]
    header = out.read_text(encoding="utf-8").split("name:")[0]
    assert "Fitted by `leadsync model fit`" in header and "history.jsonl" in header
    assert f"{again['auc']:.3f} on the held-out leads" in header
    assert report["held_out"]["auc"] > backtest("b2b-saas", held_out_file)["auc"]
    known = sum(x["outcome"]["converted"] is not None for x in history)
    assert report["training"]["leads"] + report["held_out"]["leads"] == known


def test_fit_from_a_start_model_keeps_its_rules_and_labels_and_reports_it_too(
    history_file: Path, held_out_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "refit.yaml"
    report = fit(history_file, out, "--start", "b2b-saas", "--max-rules", "14")
    start, spec = (
        load_model(Path(__file__).parents[2] / "config/templates/b2b-saas.yaml"),
        load_model(out),
    )
    assert [(r.id, r.label) for r in spec.rules[: len(start.rules)]] == [
        (r.id, r.label) for r in start.rules
    ]
    assert len(spec.rules) <= 14
    assert spec.ref == "b2b-saas@1.0-fit"
    assert report["start"]["held_out"]["auc"] == backtest("b2b-saas", held_out_file)["auc"]
    assert report["held_out"]["auc"] > report["start"]["held_out"]["auc"]
    assert "The start model b2b-saas@1.0:" in out.read_text(encoding="utf-8")


def test_a_start_model_with_buckets_and_weights_is_refitted_case_by_case(
    history_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "sme.yaml"
    fit(history_file, out, "--start", "weighted-sme", "--max-rules", "4")
    spec = load_model(out)
    assert [r.id for r in spec.rules] == [r.id for r in load_model(
        Path(__file__).parents[2] / "config/templates/weighted-sme.yaml").rules]  # fmt: skip
    assert not spec.groups and spec.clamp is None
    assert "group caps, weights and clamp are left out" in out.read_text(encoding="utf-8")


def test_the_mql_threshold_follows_the_target(history_file: Path, tmp_path: Path) -> None:
    by_rate = fit(history_file, tmp_path / "rate.yaml", "--mql-rate", "0.05")
    assert by_rate["training"]["mql"]["mqls"] <= 0.05 * by_rate["training"]["leads"]
    by_precision = fit(history_file, tmp_path / "precision.yaml", "--mql-precision", "0.5")
    assert by_precision["training"]["mql"]["precision"] >= 0.5
    assert [t["name"] for t in by_precision["tiers"]][-1] == "mql"
    out = tmp_path / "unreachable.yaml"
    done = run("model", "fit", "-l", str(history_file), "-o", str(out), "--mql-precision", "0.99")
    assert done.returncode == 1 and "converting at 99%" in done.stderr and not out.exists()


def test_a_leaking_property_is_refused_by_name_and_can_be_left_out(
    history: list[dict], tmp_path: Path
) -> None:
    leaky = [
        {
            **x,
            "properties": {
                **x["properties"],
                "deal_stage": "won" if x["outcome"]["converted"] else "open",
            },
        }
        for x in history
    ]
    path = write(tmp_path / "leaky.jsonl", leaky)
    out = tmp_path / "leaky.yaml"
    done = run("model", "fit", "-l", str(path), "-o", str(out), "--as-of", AS_OF)
    assert done.returncode == 1
    assert "'deal_stage'" in done.stderr and "outcome in disguise" in done.stderr
    assert "--exclude deal_stage" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()
    fit(path, out, "--exclude", "deal_stage")
    assert "deal_stage" not in out.read_text(encoding="utf-8")


def test_an_outcome_spread_over_two_properties_is_no_silently_perfect_model(
    history: list[dict], tmp_path: Path
) -> None:
    def split(x: dict) -> dict:
        won, half = x["outcome"]["converted"], zlib.crc32(x["id"].encode()) % 2
        marks = {"via_partner": "yes" if won and half else "no",
                 "via_event": "yes" if won and not half else "no"}  # fmt: skip
        return {**x, "properties": {**x["properties"], **marks}}

    path = write(tmp_path / "split.jsonl", [split(x) for x in history])
    done = run("model", "fit", "-l", str(path), "-o", str(tmp_path / "m.yaml"), "--as-of", AS_OF)
    assert done.returncode == 1 and "separate converted leads perfectly" in done.stderr
    assert not (tmp_path / "m.yaml").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda xs: xs[:200], "too little data"),
        (lambda xs: [{**x, "outcome": {"converted": False}} for x in xs], "constant outcome"),
        (lambda xs: [{**x, "outcome": None} for x in xs], "a fit needs outcomes"),
    ],
)
def test_data_a_fit_cannot_learn_from_is_one_clear_line(
    history: list[dict], tmp_path: Path, change, message: str
) -> None:
    path = write(tmp_path / "bad.jsonl", change(history))
    done = run("model", "fit", "-l", str(path), "-o", str(tmp_path / "m.yaml"))
    assert done.returncode == 1
    assert message in done.stderr and "bad.jsonl" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_outcomes_nothing_predicts_give_a_warning_not_a_confident_model(
    history: list[dict], tmp_path: Path
) -> None:
    coin = [{**x, "outcome": {"converted": zlib.crc32(x["id"].encode() + b"coin") % 5 == 0}}
            for x in history]  # fmt: skip
    path = write(tmp_path / "coin.jsonl", coin)
    done = run("model", "fit", "-l", str(path), "-o", str(tmp_path / "m.yaml"), "--as-of", AS_OF)
    assert done.returncode == 0
    assert "warning: the held-out AUC (0." in done.stderr and "near chance" in done.stderr
    assert "Traceback" not in done.stderr


def test_fit_reads_csv_with_an_outcome_column(history: list[dict], tmp_path: Path) -> None:
    lines = ["Key,Job Title,Employees,Industry,Won"]
    for x in history:
        if x["outcome"]["converted"] is None:
            continue
        p = x["properties"]
        title = (p.get("title") or "").replace(",", " ")
        lines.append(f"{x['id']},{title},{p.get('company_size') or ''},{p.get('industry') or ''},"
                     f"{'yes' if x['outcome']['converted'] else 'no'}")  # fmt: skip
    path = tmp_path / "export.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "csv.yaml"
    report = fit(path, out, "--id-column", "Key", "--outcome-column", "Won")
    read = {n for rule in load_model(out).rules for n in _properties(rule)}
    assert read and read <= {"Job Title", "Employees", "Industry"}
    assert report["held_out"]["auc"] > 0.6


def _properties(rule) -> set[str]:
    data = rule.model_dump()
    if "when" in data:
        return set(data["when"]["properties"])
    return {b["property"] for b in data.get("buckets", []) if b.get("property")}


def test_a_malformed_line_is_named_or_skipped_once(history_file: Path, tmp_path: Path) -> None:
    lines = history_file.read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path / "broken.jsonl"
    path.write_text(
        "".join([*lines[:9], '{"id": "x", "events": [{"type": "call"}]}\n', *lines[9:]])
    )
    out = tmp_path / "m.yaml"
    stopped = run("model", "fit", "-l", str(path), "-o", str(out))
    assert stopped.returncode == 1 and not out.exists()
    assert (
        stopped.stderr.startswith("error: ")
        and "broken.jsonl:10 (lead x): events[0]" in stopped.stderr
    )
    skipped = run(
        "model", "fit", "-l", str(path), "-o", str(out), "--skip-invalid", "--as-of", AS_OF
    )
    assert skipped.returncode == 0, skipped.stderr
    assert (
        skipped.stderr.count("broken.jsonl:10") == 1
        and "1 invalid line(s) skipped" in skipped.stderr
    )


def test_options_that_cannot_work_are_refused(history_file: Path, tmp_path: Path) -> None:
    both = run("model", "fit", "-l", str(history_file), "-o", str(tmp_path / "m.yaml"),
               "--mql-rate", "0.1", "--mql-precision", "0.5")  # fmt: skip
    assert both.returncode == 2 and "not both" in both.stderr
    stdin = run("model", "fit", "-l", "-", "-o", str(tmp_path / "m.yaml"))
    assert stdin.returncode == 2 and "not stdin" in stdin.stderr
