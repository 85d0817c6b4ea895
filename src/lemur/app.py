"""create_app(container): the ASGI application, with routers, error handlers and limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread
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
from lemur.deployments.api import router as deployments_router
from lemur.health.api import router as health_router
from lemur.jobs.api import router as jobs_router
from lemur.jobs.embedded import EmbeddedRunner
from lemur.jobs.schedule import build_schedule, runnable_schedule
from lemur.metrics.api import install_metrics
from lemur.notifications.api import router as notifications_router
from lemur.orders.api import challenges as acme_challenge_router
from lemur.orders.api import router as requests_router
from lemur.renewal.api import router as renewal_router
from lemur.statistics.api import router as statistics_router
from lemur.ui.api import page_router
from lemur.ui.errors import SecurityHeaders, install_page_errors
from lemur.web.errors import install_error_handlers
from lemur.web.limits import BodySizeLimit, HeaderLimit, InputGuard
from lemur.web.openapi import document_errors, install_docs, install_security_scheme
from lemur.web.proxies import ForwardedFor

OPENAPI_URL = "/api/v1/openapi.json"
DOCS_URL = "/api/v1/docs"


def start_embedded_runner(container: Container) -> EmbeddedRunner:
    """The job runner and scheduler of this server process (lemur.jobs.embedded)."""
    settings = container.settings
    runner = EmbeddedRunner(
        container,
        container.job_kinds,
        runnable_schedule(build_schedule(settings.schedule), container.job_kinds),
        poll_interval=settings.job_poll_seconds,
    )
    runner.start()
    return runner


def create_app(container: Container, *, run_jobs: bool | None = None) -> FastAPI:
    """The application. ``run_jobs`` (default: the ``run_jobs`` setting) starts the
    embedded job runner with the application and stops it at shutdown."""
    if run_jobs is None:
        run_jobs = container.settings.run_jobs

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Handlers run in a thread pool. With many threads, the one holding a database
        # write lock keeps losing the GIL to threads that only queue for that lock; a pool
        # about the size of the connection pool keeps the lock holder running.
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = container.settings.worker_threads
        metrics.start_listener()
        runner = start_embedded_runner(container) if run_jobs else None
        try:
            yield
        finally:
            if runner is not None:
                runner.stop()
            metrics.stop_listener()

    app = FastAPI(
        lifespan=lifespan,
        title="Lemur",
        version=__version__,
        description="Certificate orchestration: issue, import, track, deploy and renew certificates.",
        openapi_url=OPENAPI_URL,
        docs_url=None,  # served from local files by install_docs
        redoc_url=None,
    )
    app.state.container = container
    install_error_handlers(app)
    install_page_errors(app)
    # Outermost last: headers are checked first, then the body size, then its text.
    app.add_middleware(InputGuard)
    app.add_middleware(BodySizeLimit, max_bytes=container.settings.max_body_bytes)
    app.add_middleware(
        HeaderLimit,
        max_bytes=container.settings.max_header_bytes,
        max_count=container.settings.max_header_count,
    )
    # Outermost, so that everything inside sees the client's address, not the proxy's.
    app.add_middleware(ForwardedFor, trusted=container.settings.trusted_proxy_networks)
    app.add_middleware(SecurityHeaders)
    # Outside everything: request id and log context, the HTTP histogram; and GET /metrics.
    metrics = install_metrics(app, container)
    for router in (
        health_router,
        accounts_router,
        audit_router,
        authorities_router,
        certificates_router,
        catalog_router,
        deployments_router,
        jobs_router,
        notifications_router,
        revocation_router,
        renewal_router,
        requests_router,
        statistics_router,
    ):
        document_errors(router)
        app.include_router(router)
    app.include_router(acme_challenge_router)
    app.include_router(page_router())
    install_security_scheme(app)
    install_docs(app, docs_url=DOCS_URL, openapi_url=OPENAPI_URL)
    app.mount(
        "/static", StaticFiles(directory=Path(__file__).parent / "ui" / "static"), name="static"
    )
    return app
