"""Opening this server's container from the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from lemur.config import Settings
from lemur.container import Container, InitReport, build_container


@contextmanager
def local_container(*, init: bool = False, report: InitReport | None = None) -> Iterator[Container]:
    container = build_container(Settings(), init=init, report=report)
    try:
        yield container
    finally:
        container.close()
