"""Opening this server's settings and container from the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pydantic import ValidationError

from lemur.config import Settings
from lemur.errors import ConfigurationError

if TYPE_CHECKING:
    from lemur.container import Container, InitReport


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
    # Imported here: the developer commands read settings (for the default URL) but never
    # open a database, and should not pay for loading everything that does.
    from lemur.container import build_container

    container = build_container(load_settings(), init=init, report=report)
    try:
        yield container
    finally:
        container.close()
