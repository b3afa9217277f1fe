"""Process settings, read from ``LEADSYNC_*`` environment variables, a ``.env`` file and
a secrets folder (one file per setting, named like its variable: Docker and Kubernetes
secrets)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
)

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
        env_prefix="LEADSYNC_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    models_path: list[Path] = Field(
        default_factory=list,
        description=(
            "Folders searched for models named on the command line (NAME finds NAME.yaml), "
            "before the shipped templates. As JSON: LEADSYNC_MODELS_PATH='[\"./models\"]'."
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
    log_level: str = "INFO"

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
        secrets = SecretsSettingsSource(settings_cls, secrets_dir=folder) if folder else None
        return tuple(
            source
            for source in (init_settings, env_settings, dotenv_settings, secrets)
            if source is not None
        )

    def state_url(self) -> str:
        """The state database's URL: ``database_url`` (with ``database_password`` filled
        in where the URL has none), else the SQLite file at ``state_path``."""
        if self.database_url is not None:
            url = self.database_url.get_secret_value()
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

        try:
            value = parse_duration(self.lease)
        except ValueError as error:
            raise ConfigError(f"LEADSYNC_LEASE: {self.lease!r} is not {error}") from None
        if value <= timedelta(0):
            raise ConfigError(f"LEADSYNC_LEASE: {self.lease!r} must be longer than 0s")
        return value
