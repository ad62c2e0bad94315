"""One validated settings object for the whole process (env prefix ``SHAREFAB_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_KEY = "sharefab-development-secret-change-me"


def _default_database_url() -> str:
    return f"sqlite:///{Path('var') / 'sharefab.db'}"


class Settings(BaseSettings):
    """Process configuration. Every field can be set as ``SHAREFAB_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SHAREFAB_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = Field(default_factory=_default_database_url)
    secret_key: str = DEV_SECRET_KEY
    access_token_minutes: int = Field(default=60, ge=1, le=60 * 24 * 30)
    #: How long a server process trusts a user it verified, without reading it again (see
    #: :mod:`sharefab.api.user_cache`): a deactivation or role change made elsewhere takes
    #: effect within this time. 0: read the user on every request.
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    attachment_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    platform_fee_bps: int = Field(default=300, ge=0, le=10_000)
    #: Whether webhooks may target loopback, private, link-local, ... addresses (see
    #: :mod:`sharefab.services.webhook_targets`). Unset: allowed in development and test (a
    #: receiver on the developer's machine), refused in production.
    webhook_allow_private: bool | None = None
    #: Where independent solves run (:mod:`sharefab.scheduling.executors`): ``inline`` in
    #: this process, one after the other; ``ray`` side by side on Ray (needs the ``ray``
    #: extra).
    executor: str = "inline"
    #: Ray cluster to connect to (``ray://host:10001`` or ``host:6379``); unset: a local Ray.
    ray_address: str | None = None
    #: CPUs of the local Ray (unset: all of the machine's).
    ray_num_cpus: int | None = Field(default=None, ge=1)

    @field_validator("executor")
    @classmethod
    def _known_executor(cls, value: str) -> str:
        if value not in ("inline", "ray"):
            raise ValueError(f"SHAREFAB_EXECUTOR must be 'inline' or 'ray', got {value!r}")
        return value

    @property
    def webhook_private_targets_allowed(self) -> bool:
        """``webhook_allow_private``, or its default for the environment."""
        if self.webhook_allow_private is not None:
            return self.webhook_allow_private
        return self.env != "production"

    @model_validator(mode="after")
    def _refuse_dev_secret_in_production(self) -> Settings:
        if self.env == "production" and self.secret_key == DEV_SECRET_KEY:
            raise ValueError(
                "SHAREFAB_SECRET_KEY must be set to a private value when SHAREFAB_ENV=production"
            )
        if self.env == "production" and len(self.secret_key) < 32:
            raise ValueError("SHAREFAB_SECRET_KEY must be at least 32 characters in production")
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own ``Settings`` and inject them)."""
    return Settings()
