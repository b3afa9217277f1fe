"""Helpers for the Salesforce connector tests: a sandbox, an account on it, a connector.

The connector talks to the sandbox over real HTTPS through simple-salesforce; only the
pacing is shrunk (no-op sleeps for retries and Bulk polls) so faults cost milliseconds.
Credentials are passed the way users pass them: environment variables named in the
account (set with ``monkeypatch``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from leadsync.config.accounts import Account
from leadsync.connectors.base import LeadPage, OwnWrite, OwnWrites, ScoreWrite
from leadsync.connectors.retry import RetryPolicy
from leadsync.connectors.salesforce.connector import SalesforceConnector
from leadsync.connectors.sandbox.salesforce.server import SalesforceSandbox

FAST = RetryPolicy(base_s=0.001, cap_s=0.01, max_total_s=20)
_numbers = itertools.count()


def no_sleep(_: float) -> None:
    """Retries and Bulk polls wait on the sandbox's state, never on the clock."""


def account(
    box: SalesforceSandbox,
    monkeypatch: pytest.MonkeyPatch,
    *,
    mode: str = "session",
    key_file: Path | None = None,
    **extra: Any,
) -> Account:
    """An account on ``box`` logging in with ``mode``; secrets go through env variables."""
    n = next(_numbers)
    credentials: dict[str, Any]
    if mode == "session":
        monkeypatch.setenv(f"SF_SID_{n}", box.session_id)
        credentials = {"session_id": f"SF_SID_{n}", "instance_url": box.instance_url}
    elif mode == "client_credentials":
        monkeypatch.setenv(f"SF_SECRET_{n}", box.client_secret)
        credentials = {"consumer_key": box.client_id, "consumer_secret": f"SF_SECRET_{n}",
                       "instance_url": box.instance_url}  # fmt: skip
    elif mode == "refresh_token":
        monkeypatch.setenv(f"SF_REFRESH_{n}", box.refresh_token)
        credentials = {"consumer_key": box.client_id, "refresh_token": f"SF_REFRESH_{n}",
                       "instance_url": box.instance_url}  # fmt: skip
    elif mode == "jwt":
        assert key_file is not None
        credentials = {"consumer_key": box.client_id, "username": "integration@example.com",
                       "private_key": {"file": str(key_file)},
                       "instance_url": box.instance_url}  # fmt: skip
    else:
        raise ValueError(mode)
    data = {"id": f"sf{n}", "crm": "salesforce", "credentials": credentials, **extra}
    return Account.model_validate(data)


def connector(box: SalesforceSandbox, acct: Account, **kw: Any) -> SalesforceConnector:
    """A connector on ``box`` with fast retries and polls (its session trusts the CA)."""
    kw.setdefault("policy", FAST)
    kw.setdefault("sleep", no_sleep)
    kw.setdefault("poll_delays", (0.0,))
    return SalesforceConnector(acct, session=box.session(), **kw)


@dataclass
class Org:
    """A running sandbox, an account on it, and a connector."""

    box: SalesforceSandbox
    account: Account
    sf: SalesforceConnector

    def calls(self, prefix: str = "") -> int:
        """Requests the sandbox answered for endpoints starting with ``prefix``."""
        snap = self.box.counters.snapshot()
        return sum(sum(by.values()) for ep, by in snap.items() if ep.startswith(prefix))

    def by_endpoint(self) -> dict[str, int]:
        return {ep: sum(by.values()) for ep, by in self.box.counters.snapshot().items()}


OrgFactory = Callable[..., Org]


def write(lead_id: str, score: int = 42, tier: str = "warm", sobject: str = "Lead") -> ScoreWrite:
    return ScoreWrite(lead_id, sobject, Decimal(score), tier, f"+{score} test", "b2b-saas@1.0",
                      datetime.now(UTC))  # fmt: skip


def lead_ids(box: SalesforceSandbox, sobject: str = "Lead") -> list[str]:
    """Live, unconverted record ids straight from the sandbox store (no API call)."""
    return [r["Id"] for r in box.store.rows(sobject) if not r.get("IsConverted")]


class Orgs:
    """Opens orgs for one test and closes them all at its end."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.opened: list[Org] = []

    def __call__(
        self,
        *,
        leads: int = 60,
        contacts: int = 0,
        seed: int = 7,
        mode: str = "session",
        key_file: Path | None = None,
        sandbox: dict[str, Any] | None = None,
        connector_kw: dict[str, Any] | None = None,
        **account_fields: Any,
    ) -> Org:
        box = SalesforceSandbox(leads=leads, contacts=contacts, seed=seed, **(sandbox or {}))
        box.start()
        acct = account(box, self.monkeypatch, mode=mode, key_file=key_file, **account_fields)
        org = Org(box, acct, connector(box, acct, **(connector_kw or {})))
        self.opened.append(org)
        return org

    def close(self) -> None:
        for org in self.opened:
            org.sf.close()
            org.box.stop()


def read_all(pages: Iterable[LeadPage]) -> list[LeadPage]:
    """Every page with its leads in a list: a Bulk page streams them only while it is read."""
    return [LeadPage(list(p.leads), p.cursor, p.skipped) for p in pages]


def own_writes(sf: SalesforceConnector, done: dict[str, str]) -> OwnWrites:
    """What the pipeline would store for writes made directly: each stamp ``done`` holds
    and each record's inputs as read now (one read of the records, engagement included)."""
    inputs = {c.lead.id: c.inputs for c in sf.read_leads(list(done))}
    return lambda asked: {i: OwnWrite(done[i], inputs[i]) for i in asked if i in done}
