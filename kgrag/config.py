"""All configuration in one place: ``Settings`` read from ``KGRAG_*`` variables and ``.env``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """kgrag's settings; every field can be set as ``KGRAG_<FIELD>`` in the environment.

    Library code receives a ``Settings`` (or plain values from it) as an argument; nothing reads
    a global.
    """

    model_config = SettingsConfigDict(env_prefix="KGRAG_", env_file=".env", extra="ignore")

    store: Path = Field(Path("kg/store/default"), description="KG store folder used by default")
    index: Path = Field(Path("indexes/default"), description="vector index folder used by default")
    default_sources: tuple[str, ...] = Field(
        ("cmekg", "hpo", "mondo", "icd10cm"), description="sources of the default store"
    )
    log_level: str = Field("WARNING", description="logging level of the CLI and service")


def get_settings() -> Settings:
    return Settings()
