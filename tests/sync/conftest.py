"""Fixtures for the pipeline tests: a HubSpot portal and a Salesforce org, each with an
account and a state database (every test runs on SQLite and PostgreSQL); and for the
daemon's tests, a daemon setup on a SQLite state file."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from crm_support import Hub, Org
from daemon_support import Setup
from sf_support import account as sf_account

from leadsync.config.accounts import Account
from leadsync.connectors.sandbox.hubspot.server import HubSpotSandbox
from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox
from leadsync.sync.state import StateStore

_numbers = itertools.count()


@pytest.fixture
def hub(state_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Hub]:
    sandbox = HubSpotSandbox(
        contacts=200, seed=11, search_per_second=10_000, ten_second_limit=10**6
    ).start()
    env = f"LEADSYNC_TEST_INCREMENTAL_TOKEN_{next(_numbers)}"
    monkeypatch.setenv(env, sandbox.token)
    account = Account.model_validate(
        {"id": "acme", "crm": "hubspot", "credentials": {"token": env}, "host": sandbox.url}
    )
    store = StateStore(state_url)
    yield Hub(sandbox, account, store)
    store.close()
    sandbox.stop()


@pytest.fixture
def org(state_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Org]:
    box = SalesforceSandbox(leads=200, seed=11).start()
    users = [r for r in box.store.rows("User") if r.get("IsActive")]
    robin = [str(r["Id"]) for r in users if "integration" not in str(r["Username"])][:2]
    acct = sf_account(box, monkeypatch, mode="client_credentials", tasks={"round_robin": robin})
    store = StateStore(state_url)
    yield Org(box, acct, store)
    store.close()
    box.stop()


@pytest.fixture
def sqlite_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Setup, StateStore]]:
    """A daemon setup whose state is a SQLite file, and that file's store."""
    path = tmp_path / "state.db"
    setup = Setup(tmp_path, monkeypatch, {"LEADSYNC_STATE_PATH": str(path)})
    store = StateStore(f"sqlite:///{path}")
    yield setup, store
    setup.close()
    store.close()
