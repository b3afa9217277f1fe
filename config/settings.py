"""Process settings, read from ``LEADSYNC_*`` environment variables and a ``.env`` file."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
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
