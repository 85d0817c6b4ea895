"""``GET /metrics``: Prometheus text format, on the main port or on a separate address.

By default the main port serves it to a bearer API token (or a browser session) of an admin
or security user; a read-scoped token is enough (``Action.METRICS_READ``). With
``LEMUR_METRICS_ADDRESS=host:port`` it is served without authentication on that address
only, and the main port answers 404 for it. The separate listener is bound when the app
starts; under ``lemur serve --workers N`` one worker gets the port and the others log that
it is taken and go on: the database metrics it shows are complete, the HTTP histogram is
that one worker's (docs/operations.md).
"""

from __future__ import annotations

import errno
import logging
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from lemur.authz import Action
from lemur.container import Container
from lemur.faults import describe
from lemur.metrics.address import parse_address
from lemur.metrics.collector import DatabaseCollector
from lemur.metrics.http import ObserveRequests, request_duration
from lemur.web.api import require
from lemur.web.openapi import document_errors

log = logging.getLogger("lemur.metrics")
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # text/plain; version=0.0.4; charset=utf-8

router = APIRouter(tags=["metrics"])


@dataclass
class Metrics:
    """One app's metrics: its registry (HTTP histogram + database collector) and, when
    configured, the separate listener."""

    registry: CollectorRegistry
    histogram: Histogram
    address: tuple[str, int] | None = None
    listener: ThreadingHTTPServer | None = field(default=None, repr=False)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def start_listener(self) -> None:
        """Bind the separate address, if configured; a port already taken (by a sibling
        worker) is logged, not fatal."""
        if self.address is None:
            return
        try:
            server = ThreadingHTTPServer(self.address, _handler(self))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            log.info(
                "metrics address %s:%d is already served (by another worker of this server); "
                "this worker's HTTP request metrics are not on it",
                *self.address,
            )
            return
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="lemur-metrics", daemon=True).start()
        self.listener = server
        log.info("serving /metrics without authentication on %s:%d", *self.address)

    def stop_listener(self) -> None:
        if self.listener is not None:
            self.listener.shutdown()
            self.listener.server_close()
            self.listener = None


def _handler(metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class MetricsHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] != "/metrics":
                self._answer(404, b"not found: only /metrics is served here\n", "text/plain")
                return
            try:
                body = metrics.render()
            except Exception as exc:  # the database is down: say so, keep serving
                log.warning("metrics scrape failed: %s", describe(exc))
                self._answer(503, b"database unavailable\n", "text/plain")
                return
            self._answer(200, body, CONTENT_TYPE)

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # scrapes are not worth a log line each

    return MetricsHandler


@router.get(
    "/metrics",
    summary="Metrics in Prometheus text format",
    description=(
        "Certificates by status, by authority and expiring within 7/30/90 days; jobs by state "
        "and kind, job run time and queue lag; notifications by channel; HTTP request "
        "durations by route (of the server process that answers). For an admin or security "
        "user's API token (read scope is enough). Not served here when LEMUR_METRICS_ADDRESS "
        "is set."
    ),
    response_class=Response,
    responses={
        200: {
            "description": "The metrics (Prometheus text exposition format 0.0.4).",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
    dependencies=[Depends(require(Action.METRICS_READ))],
)
def metrics(request: Request) -> Response:
    state: Metrics = request.app.state.metrics
    return Response(state.render(), media_type=CONTENT_TYPE)


def install_metrics(app: FastAPI, container: Container) -> Metrics:
    """The metrics of ``app``: its registry, the request middleware and (unless a separate
    address is configured) the /metrics route. The app's lifespan starts the listener."""
    registry = CollectorRegistry(auto_describe=False)
    histogram = request_duration(registry)
    registry.register(DatabaseCollector(container.db, container.clock))
    settings = container.settings
    address = parse_address(settings.metrics_address) if settings.metrics_address else None
    state = Metrics(registry, histogram, address)
    app.state.metrics = state
    app.add_middleware(
        ObserveRequests, histogram=histogram, access_lines=settings.log_format == "json"
    )
    if address is None:
        document_errors(router)
        app.include_router(router)
    return state
