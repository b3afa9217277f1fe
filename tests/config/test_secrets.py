"""Secrets as the accounts file references them: checked before use, never echoed."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from leadsync.config.accounts import Account
from leadsync.config.accountsfile import load_accounts
from leadsync.config.secret_refs import SecretRef
from leadsync.errors import ConfigError

SECRET = "pat-na1-0f1e2d3c-4b5a"


def refused(ref: SecretRef, what: str = "HubSpot account 'acme': credentials.token") -> str:
    with pytest.raises(ConfigError) as caught:
        ref.resolve(what)
    return str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        f"{SECRET}\nX-Injected: 1",
        f"{SECRET}\n",
        f" {SECRET}",
        f"{SECRET}\t",
        f"{SECRET}\r",
        f"{SECRET[:8]}\x1b[2J{SECRET[8:]}",
    ],
)
def test_a_variable_with_control_characters_or_spaces_is_refused_unechoed(monkeypatch, value):
    monkeypatch.setenv("HUBSPOT_TOKEN_ACME", value)
    message = refused(SecretRef(env="HUBSPOT_TOKEN_ACME"))
    assert message.startswith("HubSpot account 'acme': credentials.token: ")
    assert "the environment variable HUBSPOT_TOKEN_ACME" in message
    assert SECRET[:8] not in message and SECRET[8:] not in message
    assert "\n" not in message


def test_a_file_may_end_with_one_line_break_but_not_more(tmp_path):
    path = tmp_path / "token"
    path.write_text(SECRET + "\n")
    path.chmod(0o600)
    assert SecretRef(file=path).resolve("acme").get_secret_value() == SECRET
    path.write_text(SECRET + "\n\n")
    message = refused(SecretRef(file=path))
    assert f"the secrets file {path}" in message and "whitespace" in message
    assert SECRET not in message
    path.write_text(SECRET + "\r\n")  # a Windows editor's line end
    assert SECRET not in refused(SecretRef(file=path))


def test_a_file_of_several_lines_is_refused_without_its_content():
    """``{file: /etc/passwd}``: read, but refused, and not a character of it printed."""
    message = refused(SecretRef(file=Path("/etc/passwd")))
    assert "line break" in message and "/etc/passwd" in message
    assert "root" not in message


def test_a_pem_key_may_hold_line_breaks(tmp_path):
    path = tmp_path / "key.pem"
    pem = "-----BEGIN PRIVATE KEY-----\nMIIB\nabcd\n-----END PRIVATE KEY-----"
    path.write_text(pem + "\n")
    path.chmod(0o600)
    assert SecretRef(file=path).resolve("k", multiline=True).get_secret_value() == pem
    path.write_text(pem.replace("abcd", "ab\x07cd"))
    with pytest.raises(ConfigError, match="control character"):
        SecretRef(file=path).resolve("k", multiline=True)


def test_what_is_not_a_regular_file_is_refused(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    assert "is a folder, not a regular file" in refused(SecretRef(file=folder))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # reading it would block forever
    assert "a device, pipe or socket, not a regular file" in refused(SecretRef(file=fifo))
    assert "not a regular file" in refused(SecretRef(file=Path("/dev/zero")))


def test_a_huge_or_binary_file_is_refused_unechoed(tmp_path):
    big = tmp_path / "big"
    big.write_text("x" * 70_000)
    assert "too large" in refused(SecretRef(file=big))
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe" + SECRET.encode())
    message = refused(SecretRef(file=binary))
    assert "not UTF-8" in message and SECRET not in message and "0xff" not in message


def test_a_world_readable_file_warns_once(tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("LEADSYNC_SECRETS_DIR", str(tmp_path / "elsewhere"))
    path = tmp_path / "token"
    path.write_text(SECRET)
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        SecretRef(file=path).resolve("HubSpot account 'acme': credentials.token")
        SecretRef(file=path).resolve("HubSpot account 'acme': credentials.token")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "can be read by every user" in warnings[0] and f"chmod 600 {path}" in warnings[0]
    assert SECRET not in caplog.text


def test_no_warning_in_the_secrets_folder_or_for_a_private_file(tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("LEADSYNC_SECRETS_DIR", str(tmp_path / "mounted"))
    (tmp_path / "mounted").mkdir()
    mounted = tmp_path / "mounted" / "token"  # a Docker secret is 0444
    mounted.write_text(SECRET)
    mounted.chmod(0o444)
    private = tmp_path / "private"
    private.write_text(SECRET)
    private.chmod(0o600)
    with caplog.at_level(logging.WARNING):
        SecretRef(file=mounted).resolve("acme")
        SecretRef(file=private).resolve("acme")
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_relative_files_are_relative_to_the_accounts_file(tmp_path, monkeypatch):
    config = tmp_path / "config"
    (config / "secrets").mkdir(parents=True)
    (config / "secrets" / "acme").write_text(SECRET)
    (config / "secrets" / "acme").chmod(0o600)
    (config / "accounts.yaml").write_text(
        "accounts:\n  - {id: acme, crm: hubspot, credentials: {token: {file: secrets/acme}}}\n"
    )
    monkeypatch.chdir(tmp_path)  # not the accounts file's folder
    acme = load_accounts("config/accounts.yaml").get("acme")
    ref = acme.hubspot_credentials().token
    assert ref.file == (config / "secrets" / "acme").absolute()
    assert ref.resolve("acme").get_secret_value() == SECRET


# -- item 14: no credentials over plain HTTP -----------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "https://api.hubapi.com",
        "http://127.0.0.1:8080",
        "http://127.1.2.3",
        "http://localhost:9000/",
        "http://[::1]:8443",
    ],
)
def test_https_or_loopback_addresses_are_accepted(host):
    account = Account.model_validate(
        {"id": "acme", "crm": "hubspot", "credentials": {"token": "T"}, "host": host}
    )
    assert account.host == host


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        (
            "{id: acme, crm: hubspot, credentials: {token: T}, host: 'http://api.hubapi.com'}",
            "host",
        ),
        (
            "{id: acme, crm: salesforce, host: 'http://login.salesforce.com', credentials: "
            "{consumer_key: K, refresh_token: R}}",
            "host",
        ),
        (
            "{id: acme, crm: salesforce, credentials: {consumer_key: K, consumer_secret: S, "
            "instance_url: 'http://acme.my.salesforce.com'}}",
            "credentials: instance_url",
        ),
        ("{id: acme, crm: hubspot, credentials: {token: T}, host: 'http://10.0.0.8'}", "host"),
        ("{id: acme, crm: hubspot, credentials: {token: T}, host: 'api.hubapi.com'}", "host"),
    ],
)
def test_plain_http_elsewhere_is_refused_naming_account_and_field(tmp_path, entry, field):
    path = tmp_path / "accounts.yaml"
    path.write_text(f"accounts:\n  - {entry}\n")
    with pytest.raises(ConfigError) as caught:
        load_accounts(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:2: account 'acme': {field}: ")
    assert "https://" in message and "Traceback" not in message
