"""The accounts file: validation messages name the account and field; secrets stay secret."""

from __future__ import annotations

from datetime import timedelta

import pytest

from leadsync.config.accountsfile import load_accounts
from leadsync.errors import ConfigError

GOOD = """
accounts:
  - id: acme
    crm: hubspot
    credentials: {token: HUBSPOT_TOKEN_ACME}
    model: b2b-saas
    mapping: {industry: industry_custom}
    tasks: {due_in: 2h, round_robin: ["101", "102"], cooldown: 14d}
    schedule: {interval: 15m, jitter: 30s}
  - id: globex
    crm: hubspot
    credentials:
      client_id: abc
      client_secret: {file: /run/secrets/globex}
      refresh_token: GLOBEX_REFRESH
"""


def write(tmp_path, text):
    path = tmp_path / "accounts.yaml"
    path.write_text(text)
    return path


def test_a_valid_file(tmp_path, monkeypatch):
    accounts = load_accounts(write(tmp_path, GOOD))
    acme = accounts.get("acme")
    assert acme.tasks.due_in == timedelta(hours=2)
    assert acme.schedule.interval == timedelta(minutes=15)
    monkeypatch.setenv("HUBSPOT_TOKEN_ACME", "pat-na1-secret")
    token = acme.hubspot_credentials().token.resolve("acme")
    assert token.get_secret_value() == "pat-na1-secret"
    assert "secret" not in repr(token) and "secret" not in str(token)
    with pytest.raises(ConfigError, match=r"no account 'nope'.*known: acme, globex"):
        accounts.get("nope")


def test_missing_env_var_says_which(tmp_path, monkeypatch):
    monkeypatch.delenv("HUBSPOT_TOKEN_ACME", raising=False)
    acme = load_accounts(write(tmp_path, GOOD)).get("acme")
    with pytest.raises(ConfigError, match="the environment variable HUBSPOT_TOKEN_ACME is not set"):
        acme.hubspot_credentials().token.resolve("account acme")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "accounts:\n  - {id: acme, crm: zoho, credentials: {token: T}}",
            "account 'acme': crm: Input should be 'hubspot' or 'salesforce'",
        ),
        (
            "accounts:\n  - {id: acme, crm: hubspot, credentials: {token: T}, modle: x}",
            "account 'acme': modle: unknown key (did you mean 'model'?)",
        ),
        (
            "accounts:\n  - {id: acme, crm: hubspot, credentials: {token: T}, tasks: {due_inn: 1d}}",
            "account 'acme': tasks.due_inn: unknown key (did you mean 'due_in'?)",
        ),
        (
            "accounts:\n  - {id: acme, crm: hubspot, credentials: {token: T}, zzz: 1}",
            "account 'acme': zzz: unknown key",
        ),
        (
            "accounts:\n  - {id: acme, crm: salesforce, credentials: {session_id: S, instance_url: 'https://x.my.salesforce.com'}, salesforce: {ca_file: nowhere.pem}}",
            "account 'acme': salesforce.ca_file: no file",
        ),
        (
            "accounts:\n  - {id: acme, crm: hubspot, credentials: {token: T}, tasks: {due_in: soon}}",
            "account 'acme': tasks.due_in: a duration like 90s, 15m, 2h, 1d or 2w",
        ),
        (
            "accounts:\n  - {id: acme, crm: hubspot, credentials: {token: T}, tasks: {subject: 'MQL {nom}'}}",
            "unknown placeholder {nom}",
        ),
        (
            "accounts:\n  - {id: acme, crm: hubspot, credentials: {}}",
            "account 'acme': credentials: give 'token'",
        ),
        (
            "accounts:\n  - {id: a, crm: hubspot, credentials: {token: T}}\n  - {id: a, crm: hubspot, credentials: {token: T}}",
            "two accounts have the id 'a'",
        ),
        (
            "accounts:\n  - {crm: hubspot, credentials: {token: T}}",
            "accounts[0]: id: Field required",
        ),
        ("[]", "an accounts file is a mapping"),
        (
            "accounts:\n  - {id: acme, crm: hubspot, credentials: {token: T}, api_version: v3}",
            "account 'acme': api_version: 'v3' is not a HubSpot API version: use a date version "
            "such as 2026-03 or 2026-09",
        ),
        (
            "accounts:\n  - {id: acme, crm: hubspot, credentials: {token: T}, api_version: 2025-09}",
            "account 'acme': api_version: '2025-09' is not a HubSpot API version",
        ),
        (
            "accounts:\n  - {id: sf, crm: salesforce, credentials: {session_id: S, "
            "instance_url: 'https://x.my.salesforce.com'}, api_version: legacy}",
            "account 'sf': api_version: HubSpot only",
        ),
    ],
)
def test_errors_name_account_and_field(tmp_path, text, message):
    with pytest.raises(ConfigError) as caught:
        load_accounts(write(tmp_path, text))
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(tmp_path / "accounts.yaml"))


def test_an_inline_token_is_refused_without_being_echoed(tmp_path):
    text = "accounts:\n  - {id: acme, crm: hubspot, credentials: {token: pat-na1-1234-abcd}}"
    with pytest.raises(ConfigError) as caught:
        load_accounts(write(tmp_path, text))
    assert "never write the secret itself" in str(caught.value)
    assert "pat-na1" not in str(caught.value)


@pytest.mark.parametrize(("given", "kept"), [(None, "2026-03"), ("2026-09", "2026-09"),
                                             ("legacy", "legacy")])  # fmt: skip
def test_the_hubspot_api_version_defaults_to_2026_03(tmp_path, given, kept):
    extra = f", api_version: '{given}'" if given else ""
    text = f"accounts:\n  - {{id: acme, crm: hubspot, credentials: {{token: T}}{extra}}}"
    assert load_accounts(write(tmp_path, text)).get("acme").api_version == kept


@pytest.mark.parametrize(
    ("crm", "credentials", "example"),
    [
        ("hubspot", "{token: pat-na1-1234-abcd}", "e.g. HUBSPOT_TOKEN_ACME"),
        (
            "salesforce",
            "{consumer_key: k, consumer_secret: s3cr3t-value!, instance_url: 'https://x.my.salesforce.com'}",
            "e.g. SALESFORCE_CONSUMER_SECRET_ACME",
        ),
    ],
)
def test_the_inline_secret_hint_names_a_variable_for_that_crm_and_field(
    tmp_path, crm, credentials, example
):
    text = f"accounts:\n  - {{id: acme, crm: {crm}, credentials: {credentials}}}"
    with pytest.raises(ConfigError) as caught:
        load_accounts(write(tmp_path, text))
    assert example in str(caught.value)
    assert "pat-na1" not in str(caught.value) and "s3cr3t" not in str(caught.value)


def test_a_ca_file_is_relative_to_the_accounts_file(tmp_path):
    (tmp_path / "sandbox-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    text = (
        "accounts:\n  - {id: acme, crm: salesforce, salesforce: {ca_file: sandbox-ca.pem}, "
        "credentials: {session_id: S, instance_url: 'https://x.my.salesforce.com'}}"
    )
    account = load_accounts(write(tmp_path, text)).get("acme")
    assert account.salesforce.ca_file == tmp_path / "sandbox-ca.pem"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("12w", 12 * 7 * 86400)],
)
def test_a_duration_is_seconds_minutes_hours_days_or_weeks(text: str, seconds: int) -> None:
    from leadsync.config.accounts import parse_duration

    assert parse_duration(text).total_seconds() == seconds


def test_a_bad_duration_says_every_unit_accepted() -> None:
    from leadsync.config.accounts import parse_duration

    with pytest.raises(ValueError, match="a duration like 90s, 15m, 2h, 1d or 2w"):
        parse_duration("soon")
