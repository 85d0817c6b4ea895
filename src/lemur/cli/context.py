"""Opening this server's settings and container from the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pydantic import ValidationError

from lemur.config import Settings
from lemur.container import Container, InitReport, build_container
from lemur.errors import ConfigurationError


def load_settings() -> Settings:
    """Settings from the environment and the configuration file; a bad value is a
    configuration error (exit 7) that names the setting, not a traceback."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = "_".join(str(part) for part in error["loc"]) or "settings"
            problems.append(f"LEMUR_{name.upper()}: {error['msg']}")
        first = str(exc.errors()[0]["loc"][0]) if exc.errors() and exc.errors()[0]["loc"] else None
        raise ConfigurationError(
            "invalid configuration: " + "; ".join(problems), code="config_invalid", field=first
        ) from exc


@contextmanager
def local_container(*, init: bool = False, report: InitReport | None = None) -> Iterator[Container]:
    container = build_container(load_settings(), init=init, report=report)
    try:
        yield container
    finally:
        container.close()
