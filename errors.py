"""Every error leadsync raises on purpose, rooted in one class.

    LeadsyncError
    ├── ConfigError      settings or an accounts file is wrong
    ├── ModelError       a scoring model does not validate
    ├── LeadError        an input lead is malformed (bad JSON, naive timestamp…)
    ├── StateError       the state database refused a value leadsync tried to save
    └── CrmError         the CRM refused or failed a call
        ├── CrmAuthError     bad or expired credentials
        │   └── CrmPermissionError  valid credentials without a scope or permission needed
        └── CrmRateLimited   a rate limit or the daily quota (less leadsync's reserve) is spent

Each message is written for the person running leadsync: it names the file, line,
field or record at fault and says what to do. The command line prints it as is,
without a traceback.
"""

from __future__ import annotations


class LeadsyncError(Exception):
    """The root of every error leadsync raises on purpose."""


class ConfigError(LeadsyncError):
    """Settings or an accounts file is invalid."""


class ModelError(LeadsyncError):
    """A scoring model is invalid; ``problems`` lists every fault found, one per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


class LeadError(LeadsyncError):
    """An input lead is malformed; ``where`` names the record (e.g. ``leads.jsonl:12``)."""

    def __init__(self, message: str, where: str | None = None) -> None:
        self.where = where
        self.reason = message
        super().__init__(f"{where}: {message}" if where else message)


class StateError(LeadsyncError):
    """The state database refused a value (too long, malformed); the transaction holding
    it saved nothing, so the run stops there and resumes from its last saved page."""


class CrmError(LeadsyncError):
    """The CRM refused or failed a call, after any retries."""


class CrmAuthError(CrmError):
    """Credentials are bad or expired, or lack a scope or permission leadsync needs."""


class CrmPermissionError(CrmAuthError):
    """The credentials are valid but lack a scope or permission leadsync needs."""


class CrmRateLimited(CrmError):
    """A rate limit or the daily API quota is spent; the run can resume later."""
