"""Process settings, read from ``LEADSYNC_*`` environment variables and a ``.env`` file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """What the ``leadsync`` process reads from its environment."""

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
    log_format: Literal["auto", "json", "text"] = Field(
        default="auto", description="JSON lines when not on a terminal, unless set."
    )
    log_level: str = "INFO"

    def state_url(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{self.state_path.expanduser()}"
