"""Process settings: every bad ``LEADSYNC_*`` value is one :class:`ConfigError` naming
the variable (or the .env file), the value and what is accepted; never pydantic's dump."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leadsync.config.settings import Settings
from leadsync.errors import ConfigError


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No LEADSYNC_* of the caller's and no .env of the current folder count."""
    for name in list(os.environ):
        if name.upper().startswith("LEADSYNC_"):
            monkeypatch.delenv(name)
    (tmp_path / "no-secrets").mkdir()
    monkeypatch.setenv("LEADSYNC_SECRETS_DIR", str(tmp_path / "no-secrets"))
    monkeypatch.chdir(tmp_path)


def refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        Settings()
    message = str(caught.value)
    assert "\n" not in message and "pydantic" not in message, message
    return message


@pytest.mark.parametrize(
    ("name", "value", "accepted"),
    [
        ("LEADSYNC_LOG_FORMAT", "xml", "auto, json or text"),
        ("LEADSYNC_LOG_LEVEL", "verbose", "debug, info, warning, error or critical"),
        ("LEADSYNC_MODELS_PATH", "[1,2", "a JSON list of folders"),
        ("LEADSYNC_MODELS_PATH", '{"a": 1}', "a JSON list of folders"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable_value_and_what_is_accepted(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, accepted: str
) -> None:
    message = refused(monkeypatch, name, value)
    assert message.startswith(f"{name}={value!r}: "), message
    assert accepted in message


def test_a_bad_value_in_the_env_file_names_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("LEADSYNC_LOG_FORMAT=xml\n")
    with pytest.raises(ConfigError) as caught:
        Settings()
    assert str(caught.value).startswith(".env: LEADSYNC_LOG_FORMAT='xml': "), caught.value


def test_the_log_level_is_case_blind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSYNC_LOG_LEVEL", "debug")
    assert Settings().log_level == "DEBUG"


@pytest.mark.parametrize(
    ("value", "folders"),
    [
        ("./models", [Path("models")]),
        (f"./models{os.pathsep}/srv/more", [Path("models"), Path("/srv/more")]),
        ('["./models", "/srv/more"]', [Path("models"), Path("/srv/more")]),
        ("", []),
    ],
)
def test_the_models_path_is_a_folder_a_list_of_them_or_json(
    monkeypatch: pytest.MonkeyPatch, value: str, folders: list[Path]
) -> None:
    monkeypatch.setenv("LEADSYNC_MODELS_PATH", value)
    assert Settings().models_path == folders


@pytest.mark.parametrize("value", ["", "  "])
def test_an_empty_database_url_is_unset(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("LEADSYNC_DATABASE_URL", value)
    monkeypatch.setenv("LEADSYNC_STATE_PATH", "/srv/state.db")
    assert Settings().state_url() == "sqlite:////srv/state.db"


@pytest.mark.parametrize(
    ("value", "why"), [("forever", "not a duration like 90s"), ("0s", "must be longer than 0s")]
)
def test_a_bad_lease_is_said_like_every_other_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, why: str
) -> None:
    monkeypatch.setenv("LEADSYNC_LEASE", value)
    with pytest.raises(ConfigError) as caught:
        Settings().lease_time()
    assert str(caught.value).startswith(f"LEADSYNC_LEASE={value!r}: {why}"), caught.value


def test_a_refused_database_setting_is_named_but_never_shown() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings(database_password=["pg-s3cret"])
    assert str(caught.value).startswith("LEADSYNC_DATABASE_PASSWORD='***': "), caught.value
    assert "pg-s3cret" not in str(caught.value)


def test_a_bad_value_in_a_secrets_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "no-secrets" / "leadsync_log_format").write_text("xml")
    with pytest.raises(ConfigError) as caught:
        Settings()
    expected = f"{tmp_path / 'no-secrets' / 'leadsync_log_format'}: LEADSYNC_LOG_FORMAT='xml': "
    assert str(caught.value).startswith(expected), caught.value
