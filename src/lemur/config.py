"""Settings: read once at start-up and passed down; never imported as a global.

Sources, highest priority first: keyword arguments (tests), ``LEMUR_*`` environment
variables, a TOML file (``LEMUR_CONFIG_FILE``, or ``lemur.toml`` in the data directory),
defaults. The file is data, never executable code.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url

from lemur.bounds import MAX_TOKEN_LIFETIME_DAYS
from lemur.errors import ConfigurationError, LemurError
from lemur.metrics.address import parse_address

DEFAULT_DATA_DIR = Path("lemur-data")


class TomlFileSource(PydanticBaseSettingsSource):
    """Values from a TOML file; a missing default file is fine, a missing named one is not."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None, required: bool) -> None:
        super().__init__(settings_cls)
        self._values: dict[str, Any] = {}
        if path is None:
            return
        if not path.exists():
            if required:
                raise ConfigurationError(
                    f"configuration file {path} does not exist (named by LEMUR_CONFIG_FILE)",
                    code="config_file_missing",
                )
            return
        try:
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(
                f"configuration file {path} is not valid TOML: {exc}", code="config_file_invalid"
            ) from exc
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read configuration file {path}: {exc.strerror}",
                code="config_file_unreadable",
            ) from exc
        # Settings live at the top level or in a [lemur] table (then nothing else may).
        if isinstance(data.get("lemur"), dict):
            values: dict[str, Any] = data["lemur"]
            stray = {k for k in data if k != "lemur"}
        else:
            values, stray = data, set()
        # Refused here rather than by extra="forbid", so that the message names the file
        # and never echoes the value (which may be a key or a password).
        unknown = sorted(stray | {k for k in values if k not in settings_cls.model_fields})
        if unknown:
            raise ConfigurationError(
                f"unknown setting(s) {', '.join(repr(k) for k in unknown)} in configuration "
                f"file {path}; known settings: {', '.join(settings_cls.model_fields)}",
                code="config_unknown_setting",
                field=unknown[0],
            )
        self._values = values

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._values)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LEMUR_", extra="forbid", frozen=True)

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Where the SQLite database and keys live")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default: SQLite file lemur.db in the data directory",
        repr=False,  # it may carry a password; masked() shows it safely
    )
    encryption_keys: SecretStr | None = Field(
        None,
        description="Comma-separated Fernet keys, primary first; default: the key file",
    )
    session_secret: SecretStr | None = Field(
        None, description="Secret for CSRF tokens; default: the data-directory secret file"
    )
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    base_url: str | None = Field(
        None, description="Public URL of this Lemur, used in certificates (CRL/OCSP/AIA)"
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest accepted request body")
    max_header_bytes: int = Field(
        16_384, ge=1024, le=1_048_576, description="Largest total size of request headers"
    )
    max_header_count: int = Field(100, ge=10, le=1000, description="Most request header fields")
    session_lifetime_minutes: int = Field(480, ge=5)
    secure_cookies: bool = Field(
        False, description="Mark cookies Secure (set when served over TLS)"
    )
    login_max_failures_per_account: int = Field(5, ge=1)
    login_max_failures_per_address: int = Field(20, ge=1)
    login_failure_window_seconds: int = Field(900, ge=60)
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses or networks (CIDR) of reverse proxies whose "
        "X-Forwarded-For header is believed; default none",
    )
    token_max_lifetime_days: int = Field(365, ge=1, le=MAX_TOKEN_LIFETIME_DAYS)
    statistics_max_age_seconds: int = Field(
        30,
        ge=0,
        le=3600,
        description="How long a process reuses the dashboard's certificate figures of one "
        "scope (GET /api/v1/statistics); 0 computes them for every request",
    )
    log_level: str = "info"
    log_format: Literal["text", "json"] = Field(
        "text", description="text, or json: one JSON object per log line (docs/operations.md)"
    )
    metrics_address: str | None = Field(
        None,
        description="HOST:PORT to serve /metrics on without authentication (then only there); "
        "default: on the main port, for admin and security API tokens",
    )
    worker_threads: int = Field(
        4, ge=1, le=200, description="Request-handling threads per server process"
    )
    run_jobs: bool = Field(
        True,
        description="Run the embedded job runner and scheduler in `lemur serve` "
        "(`lemur serve --no-jobs` turns it off, for Celery workers)",
    )
    broker_url: str | None = Field(
        None,
        description="Celery broker for `lemur worker` and `lemur scheduler`, e.g. "
        "redis://127.0.0.1:6379/0",
        repr=False,  # it may carry a password
    )
    broker_queue: str = Field(
        "lemur",
        pattern=r"^[A-Za-z0-9_.:-]{1,100}$",
        description="The Celery queue `lemur worker` consumes and `lemur scheduler` sends to "
        "(installations sharing one broker use different queues)",
    )
    schedule: dict[str, str] = Field(
        default_factory=dict,
        description="Schedule overrides: entry name -> 'off', an interval ('1h') or "
        "'daily@HH:MM' (UTC); see docs/operations.md",
    )
    job_poll_seconds: float = Field(
        1.0, ge=0.05, le=60, description="How often an idle job runner looks for due jobs"
    )
    deployment_verify_seconds: float = Field(
        10.0,
        ge=0.1,
        le=300,
        description="After a deployment, how long each endpoint may take to serve the new "
        "certificate (a reloading server) before verification fails and Lemur rolls back",
    )
    job_retention_days: int = Field(
        30,
        ge=1,
        le=3650,
        description="Finished jobs (succeeded, failed, cancelled) older than this are deleted "
        "by the hourly clean-up",
    )
    test_clock_file: Path | None = Field(
        None,
        description="Tests only (needs LEMUR_ALLOW_TEST_CLOCK=1): a file holding the number "
        "of seconds the clock runs ahead of real time",
    )
    create_local_ca: bool = Field(
        True, description="At init, create a Local Root CA and a Local Issuing CA if none exist"
    )
    default_authority: str | None = Field(
        None,
        description="Name of the authority the request form preselects; default: the only "
        "authority that can sign, or the only one that is no other's parent",
    )
    outbound_allowed_networks: str = Field(
        "",
        description="Comma-separated networks (CIDR) plugins may connect to (webhooks, Slack, "
        "SMTP, SES); default all but the built-in denied ranges (see lemur/outbound.py)",
    )
    outbound_denied_networks: str = Field(
        "",
        description="Comma-separated networks (CIDR) plugins may never connect to, on top of "
        "link-local (cloud metadata), multicast and unspecified addresses",
    )
    outbound_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Connect and read timeout of outbound plugin calls"
    )
    outbound_max_response_bytes: int = Field(
        1_048_576, ge=1024, description="Largest response body read from an outbound call"
    )

    @field_validator("outbound_allowed_networks", "outbound_denied_networks")
    @classmethod
    def _outbound_networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: dict[str, str]) -> dict[str, str]:
        from lemur.jobs.schedule import build_schedule

        try:
            build_schedule(value)
        except LemurError as exc:
            raise ValueError(exc.message) from None
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return parse_networks(self.trusted_proxies)

    @field_validator("metrics_address")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            parse_address(value)
        return value

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        named = os.environ.get("LEMUR_CONFIG_FILE")
        if named:
            toml = TomlFileSource(settings_cls, Path(named), required=True)
        else:
            data_dir = Path(os.environ.get("LEMUR_DATA_DIR", str(DEFAULT_DATA_DIR)))
            toml = TomlFileSource(settings_cls, data_dir / "lemur.toml", required=False)
        return (init_settings, env_settings, toml)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'lemur.db'}"

    @property
    def effective_base_url(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def key_file(self) -> Path:
        return self.data_dir / "keyring"

    @property
    def secret_file(self) -> Path:
        return self.data_dir / "session-secret"

    def masked(self) -> dict[str, str | int | float | bool | None]:
        """The effective configuration, secrets masked (for ``lemur config show``): numbers
        and switches keep their JSON types, paths become strings, unset values are None."""
        out: dict[str, str | int | float | bool | None] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out[name] = "********" if value.get_secret_value() else None
            elif value is None or isinstance(value, bool | int | float | str):
                out[name] = value
            else:
                out[name] = str(value)
        out["database_url"] = _mask_url_password(self.effective_database_url)
        out["base_url"] = self.effective_base_url
        out["broker_url"] = _mask_url_password(self.broker_url) if self.broker_url else None
        out["schedule"] = ", ".join(f"{k}={v}" for k, v in sorted(self.schedule.items())) or None
        return out


def parse_networks(value: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``"10.0.0.0/8, 192.0.2.7"`` as networks (an address is a network of one)."""
    networks = []
    for item in value.split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"'{item.strip()}' is not an IP address or network (CIDR such as 10.0.0.0/8)"
                ) from None
    return tuple(networks)


def _mask_url_password(url: str) -> str:
    parsed = make_url(url)
    if parsed.password:
        return parsed.render_as_string(hide_password=True)
    return url
