"""The layers import one way: sync → connectors, sync → scoring, config below both."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from leadsync.config.accounts import Account
from leadsync.connectors.base import known_crms, open_connector

ROOT = Path(__file__).resolve().parents[1]

#: What each layer may not import (its own package and ``leadsync.errors`` always may).
FORBIDDEN = {
    "scoring": ("leadsync.sync", "leadsync.connectors", "leadsync.config"),
    "config": ("leadsync.sync", "leadsync.connectors"),
    "connectors": ("leadsync.sync",),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in sorted((ROOT / layer).rglob("*.py"))
        for name in sorted(_imports(path))
        if name.startswith(FORBIDDEN[layer])
    ]
    assert wrong == []


def test_each_crm_is_a_package_found_by_name() -> None:
    assert known_crms() == ["hubspot", "salesforce"]
    account = Account.model_construct(id="x", crm="pipedrive")  # past the accounts schema
    with pytest.raises(LookupError, match=r"'pipedrive' \(known: hubspot, salesforce\)"):
        open_connector(account)


#: Heavy libraries a module must not load before something needs them.
HEAVY = ("sqlalchemy", "hubspot", "simple_salesforce", "zeep", "apscheduler", "matplotlib",
         "sklearn", "scipy", "numpy",
         "leadsync.connectors.hubspot", "leadsync.connectors.salesforce")  # fmt: skip


@pytest.mark.parametrize(
    "module",
    [
        "leadsync.connectors.base",  # a CRM's client: when an account of that CRM is opened
        "leadsync.config.accounts",
        "leadsync.sync.cli",  # the command line: when a command that needs them runs
    ],
)
def test_nothing_heavy_is_imported_before_it_is_needed(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


#: Runs the console script's entry point with the given arguments, then prints which of
#: HEAVY the process loaded.
PROBE = (
    "import sys; sys.argv = ['leadsync', *sys.argv[1:]]\n"
    "from leadsync.sync.cli import main\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
)


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], ["score", "--help"], ["score", "-m", "b2b-saas", "-l", "{lead}"]],
    ids=" ".join,
)
def test_help_version_and_score_load_no_heavy_library(args: list[str], tmp_path: Path) -> None:
    """Start-up: what these commands need is the engine, not a database, a CRM client or
    a scheduler (the CPU time it saves: benchmarks/bench_cli.py)."""
    lead = tmp_path / "one.jsonl"
    lead.write_text('{"id": "c1", "properties": {"title": "CEO"}}\n')
    argv = [a.format(lead=lead) for a in args]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=True
    )
    assert done.stdout  # the command did its work: help, a version or a table
    assert done.stderr.strip().splitlines()[-1] == "[]"
