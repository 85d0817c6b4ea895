"""HTTP request metrics and the request's log context, as one pure ASGI middleware.

For every HTTP request it

- takes the request id (the caller's ``X-Request-ID`` if short and safe, else a new one),
  returns it as ``X-Request-ID``, and makes it the log context (lemur.logs);
- observes ``lemur_http_request_duration_seconds{method, route, status}``: ``route`` is the
  route template the router matched (``/api/v1/certificates/{certificate_id}``), never the
  raw path, and ``unmatched`` when no route matched (including requests refused before
  routing, e.g. 431); ``method`` is one of the HTTP methods the API knows, else ``other``;
  so the number of series is bounded whatever clients send;
- in JSON log mode, writes the access line (logger ``lemur.access``) in place of uvicorn's.

The histogram lives in this process's registry: with ``lemur serve --workers N`` each
worker counts its own requests (Prometheus sums them when it scrapes each worker, or a
scrape through the load balancer sees one worker's share; docs/operations.md).
"""

from __future__ import annotations

import logging
import time

from prometheus_client import CollectorRegistry, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lemur.logs import (
    REQUEST_ID_HEADER,
    RequestContext,
    begin_request,
    end_request,
    request_id_from,
)

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
access_log = logging.getLogger("lemur.access")


def request_duration(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "lemur_http_request_duration_seconds",
        "Time to answer an HTTP request, by method, route template and status code "
        "(this server process only).",
        labelnames=("method", "route", "status"),
        registry=registry,
    )


def route_template(scope: Scope) -> str:
    """The template of the route the router matched in ``scope`` (Starlette records it)."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) and template else UNMATCHED


class ObserveRequests:
    def __init__(self, app: ASGIApp, *, histogram: Histogram, access_lines: bool) -> None:
        self.app = app
        self.histogram = histogram
        self.access_lines = access_lines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        method = scope["method"] if scope["method"] in METHODS else "other"
        context = RequestContext(request_id=request_id_from(incoming), method=method)
        header = (REQUEST_ID_HEADER.lower().encode(), context.request_id.encode())
        status = 500

        async def observing_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                context.route = route_template(scope)
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        token = begin_request(context)
        try:
            await self.app(scope, receive, observing_send)
        finally:
            elapsed = time.perf_counter() - started
            context.route = route_template(scope)
            self.histogram.labels(method, context.route, str(status)).observe(elapsed)
            if self.access_lines:
                client = scope.get("client")
                access_log.info(
                    "%s %s %d",
                    method,
                    context.route,
                    status,
                    extra={
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                        "client": client[0] if client else None,
                    },
                )
            end_request(token)
