"""ASGI entry point for uvicorn workers: ``uvicorn --factory lemur.asgi:create``.

Each worker process builds its own container from the environment; initialisation
(migrations, keys, admin) is done once by ``lemur init`` / ``lemur serve`` beforehand.
"""

from __future__ import annotations

from fastapi import FastAPI

from lemur.app import create_app
from lemur.config import Settings
from lemur.container import build_container


def create() -> FastAPI:
    return create_app(build_container(Settings(), init=False))
