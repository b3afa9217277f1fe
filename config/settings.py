"""Process settings, read from ``LEADSYNC_*`` environment variables, a ``.env`` file and
a secrets folder (one file per setting, named like its variable: Docker and Kubernetes
secrets)."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

from leadsync.errors import ConfigError

#: Where secrets are mounted by default (Docker secrets, a Kubernetes secret volume).
DEFAULT_SECRETS_DIR = Path("/run/secrets")


def secrets_dir() -> Path | None:
    """``LEADSYNC_SECRETS_DIR`` if set, else ``/run/secrets`` if it exists, else none."""
    named = os.environ.get("LEADSYNC_SECRETS_DIR")
    if named:
        return Path(named).expanduser()
    return DEFAULT_SECRETS_DIR if DEFAULT_SECRETS_DIR.is_dir() else None


class Settings(BaseSettings):
    """What the ``leadsync`` process reads from its environment.

    Each setting comes from, in order: the ``LEADSYNC_*`` variable, the ``.env`` file, then
    a file named like the variable (``leadsync_database_url``, any case) in the secrets
    folder (``LEADSYNC_SECRETS_DIR``, default ``/run/secrets``).
    """

    model_config = SettingsConfigDict(
        env_prefix="LEADSYNC_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        env_ignore_empty=True,  # LEADSYNC_DATABASE_URL= is unset, not an empty URL
    )

    models_path: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description=(
            "Folders searched for models named on the command line (NAME finds NAME.yaml), "
            "before the shipped templates: one folder, several separated by ':' (';' on "
            "Windows), or a JSON list: LEADSYNC_MODELS_PATH='[\"./models\"]'."
        ),
    )
    accounts_file: Path = Field(
        default=Path("accounts.yaml"), description="The accounts file (see docs/accounts.md)."
    )
    state_path: Path = Field(
        default=Path("~/.local/share/leadsync/state.db"),
        description="The SQLite state database, unless database_url is set.",
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="A SQLAlchemy URL for the state, e.g. postgresql+psycopg://user:pw@host/db.",
    )
    database_password: SecretStr | None = Field(
        default=None,
        description=(
            "The password of database_url when the URL has none: keeps the URL free of "
            "secrets (e.g. in a leadsync_database_password secrets file)."
        ),
    )
    lease: str = Field(
        default="60s",
        description=(
            "The lease time of backfill, sync and forget (the daemon's is --lease): how long "
            "an account stays held by one of them whose process died without releasing it, "
            "on PostgreSQL (on SQLite a dead process's lease is free at once)."
        ),
    )
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="JSON lines when not on a terminal, unless set."
    )
    log_level: str = Field(default="INFO", description="The lowest level logged (any case).")

    def __init__(self, **values: Any) -> None:
        """The settings, or one :class:`ConfigError` naming the variable (or the file) at
        fault, its value and what is accepted: never pydantic's dump."""
        try:
            super().__init__(**values)
        except ValidationError as error:
            raise ConfigError(_describe(error)) from None
        except SettingsError as error:  # a source could not be read at all
            cause = f" ({error.__cause__})" if error.__cause__ else ""
            raise ConfigError(f"{error}{cause}") from None

    @field_validator("models_path", mode="before")
    @classmethod
    def _folders(cls, value: Any) -> Any:
        """A JSON list, or folders separated by ``os.pathsep`` (one folder is the most
        natural thing to write)."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith(("[", "{", '"')):
            try:
                found = json.loads(text)
            except ValueError:
                raise ValueError("not valid JSON") from None
            if not isinstance(found, list):
                raise ValueError("JSON but not a list")
            return found
        return [Path(part) for part in text.split(os.pathsep) if part.strip()]

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        """A level name :mod:`logging` knows, upper-cased: checked here, for every
        command, not when the first log line is configured."""
        level = value.strip().upper()
        if level not in LEVELS:
            raise ValueError("unknown level")
        return level

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The usual sources, with the secrets folder looked up when settings are read
        (not when this module is imported), so ``LEADSYNC_SECRETS_DIR`` always counts."""
        folder = secrets_dir()
        if folder is not None and not folder.is_dir():  # pydantic would only warn
            raise ConfigError(
                f"LEADSYNC_SECRETS_DIR={os.environ.get('LEADSYNC_SECRETS_DIR')!r}: no such "
                "folder; point it at the folder where secrets are mounted (one file per "
                "setting), or unset it"
            )
        secrets = SecretsSettingsSource(settings_cls, secrets_dir=folder) if folder else None
        return tuple(
            source
            for source in (init_settings, env_settings, dotenv_settings, secrets)
            if source is not None
        )

    def state_url(self) -> str:
        """The state database's URL: ``database_url`` (with ``database_password`` filled
        in where the URL has none), else the SQLite file at ``state_path``."""
        url = self.database_url.get_secret_value().strip() if self.database_url else ""
        if url:  # an empty URL (e.g. an empty secrets file) is no URL: the SQLite file
            if self.database_password is None:
                return url
            from sqlalchemy import make_url  # only here: settings load on every command

            try:
                parsed = make_url(url)
            except Exception:  # the state store says what is wrong with the URL
                return url
            if parsed.password is not None:
                return url
            password = self.database_password.get_secret_value()
            return parsed.set(password=password).render_as_string(hide_password=False)
        return f"sqlite:///{self.state_path.expanduser()}"

    def lease_time(self) -> timedelta:
        """``lease`` as a duration, or a :class:`ConfigError` naming the variable."""
        from leadsync.config.accounts import parse_duration

        name = "LEADSYNC_LEASE"
        try:
            value = parse_duration(self.lease)
        except ValueError as error:
            raise ConfigError(f"{_where(name)}{name}={self.lease!r}: not {error}") from None
        if value <= timedelta(0):
            raise ConfigError(f"{_where(name)}{name}={self.lease!r}: must be longer than 0s")
        return value


#: Settings whose value may hold a credential: named in a message, never shown.
SECRET_FIELDS = frozenset({"database_url", "database_password"})

#: The levels ``LEADSYNC_LOG_LEVEL`` accepts.
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: What each setting accepts, said when a value is refused.
ACCEPTED: dict[str, str] = {
    "models_path": (
        f"use a folder, folders separated by {os.pathsep!r}, or a JSON list of folders "
        "such as '[\"./models\"]'"
    ),
    "log_format": "use auto, json or text",
    "log_level": "use debug, info, warning, error or critical",
    "accounts_file": "use the path of the accounts file",
    "state_path": "use the path of the SQLite state database",
}


def _describe(error: ValidationError) -> str:
    """The first refused value as ``LEADSYNC_NAME='value': why; what is accepted``, with
    where it was set when that was not the environment (the .env file, a secrets file)."""
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    name = f"LEADSYNC_{field.upper()}"
    value = first.get("input")
    shown = value if isinstance(value, str) else json.dumps(value, default=str)
    if field in SECRET_FIELDS:  # a URL or password is never echoed, even a broken one
        shown = "***"
    why = "unknown value" if first["type"] == "literal_error" else first["msg"]
    why = why.removeprefix("Value error, ")
    accepted = ACCEPTED.get(field, "")
    what = f"{name}={shown!r}" if len(first["loc"]) < 2 else f"{name}[{first['loc'][1]}]={shown}"
    return f"{_where(name)}{what}: {why}" + (f"; {accepted}" if accepted else "")


def _where(name: str) -> str:
    """``''`` when the variable is set in the environment (or nowhere: a value given in
    code), else the file that set it: the .env file or the secrets file."""
    if any(key.upper() == name for key in os.environ):
        return ""
    env_file = Path(".env")
    try:
        if any(
            line.split("=", 1)[0].strip().upper().removeprefix("EXPORT ").strip() == name
            for line in env_file.read_text("utf-8").splitlines()
        ):
            return f"{env_file}: "
    except OSError:
        pass
    folder = secrets_dir()
    try:
        found = [f for f in folder.iterdir() if f.name.lower() == name.lower()] if folder else []
    except OSError:
        found = []
    return f"{found[0]}: " if found else ""
