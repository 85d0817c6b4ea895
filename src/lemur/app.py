"""create_app(container): the ASGI application, with routers, error handlers and limits."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from lemur import __version__
from lemur.accounts.api import router as accounts_router
from lemur.audit.api import router as audit_router
from lemur.authorities.api import public as revocation_router
from lemur.authorities.api import router as authorities_router
from lemur.catalog.api import router as catalog_router
from lemur.certificates.api import router as certificates_router
from lemur.container import Container
from lemur.health.api import router as health_router
from lemur.ui.api import router as ui_router
from lemur.web.errors import install_error_handlers
from lemur.web.limits import BodySizeLimit


def create_app(container: Container) -> FastAPI:
    app = FastAPI(
        title="Lemur",
        version=__version__,
        description="Certificate orchestration: issue, import, track, deploy and renew certificates.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    app.state.container = container
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=container.settings.max_body_bytes)
    for router in (
        health_router,
        accounts_router,
        audit_router,
        authorities_router,
        certificates_router,
        catalog_router,
        revocation_router,
        ui_router,
    ):
        app.include_router(router)
    app.mount(
        "/static", StaticFiles(directory=Path(__file__).parent / "ui" / "static"), name="static"
    )
    return app
