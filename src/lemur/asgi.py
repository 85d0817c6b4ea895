"""ASGI entry point for uvicorn workers: ``uvicorn --factory lemur.asgi:create``.

Each worker process builds its own container from the environment; initialisation
(migrations, keys, admin) is done once by ``lemur init`` / ``lemur serve`` beforehand.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from lemur.app import create_app
from lemur.config import Settings
from lemur.container import build_container
from lemur.logs import configure_logging


class _NoQueryStrings(logging.Filter):
    """Drop query strings from uvicorn's access log: a client that puts a secret in a URL
    by mistake must not have it written to the log as well. uvicorn logs
    ``(client, method, path with query, http version, status)``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], args[3], args[4])
        return True


def create() -> FastAPI:
    settings = Settings()
    # Again in each worker (``lemur serve`` also hands uvicorn the file): JSON lines also
    # when uvicorn was started without --log-config.
    configure_logging(settings.log_format, settings.log_level)
    logging.getLogger("uvicorn.access").addFilter(_NoQueryStrings())
    return create_app(build_container(settings, init=False))
