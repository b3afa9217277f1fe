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


def test_a_crm_client_is_imported_only_when_an_account_needs_it() -> None:
    code = (
        "import sys, leadsync.connectors.base, leadsync.config.accounts;"
        "print(sorted(m for m in ('hubspot', 'simple_salesforce', 'leadsync.connectors.hubspot',"
        " 'leadsync.connectors.salesforce', 'apscheduler') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_command_line_loads_no_database_or_crm_client_until_a_command_needs_it() -> None:
    code = (
        "import sys, leadsync.sync.cli;"
        "print(sorted(m for m in ('sqlalchemy', 'hubspot', 'simple_salesforce', 'zeep',"
        " 'apscheduler') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
