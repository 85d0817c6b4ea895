"""Log format: text (default) or one JSON object per line (``LEMUR_LOG_FORMAT=json``).

A JSON line has ``time`` (ISO 8601, UTC), ``level``, ``logger`` and ``message``; inside a
request also ``request_id``, ``method``, ``route`` (the route template, never the raw path)
and, once the caller is authenticated, ``principal`` (the actor name of the audit log, e.g.
``user:alice``). The access line (logger ``lemur.access``, one per request) adds ``status``,
``duration_ms`` and ``client``. An exception is one field, ``exception``: the traceback
without local variables, and without the messages of database errors (which can quote row
values; lemur.web.errors.safe_traceback).

The request's context is one mutable object in a context variable, set by the request
middleware (lemur.metrics.http) and completed by authentication (``set_principal``): code
that runs in another thread or task of the same request sees the same object.

This module is imported by uvicorn's supervisor process (``--log-config``) as well: it
imports nothing heavy at module level.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# The extra fields a record may carry into the JSON line: the access line's, and what
# ``lemur serve`` initialised.
EXTRA_FIELDS = ("status", "duration_ms", "client", "init")


@dataclass
class RequestContext:
    request_id: str
    method: str
    route: str | None = None
    principal: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("lemur_request", default=None)


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID if it is short and harmless, else a new random id."""
    if header is not None and _SAFE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def begin_request(context: RequestContext) -> object:
    """Make ``context`` the current request's; returns the token for :func:`end_request`."""
    return _current.set(context)


def end_request(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


def current_request() -> RequestContext | None:
    return _current.get()


def set_principal(actor_name: str) -> None:
    """Name the authenticated caller of the current request (no-op outside a request)."""
    context = _current.get()
    if context is not None:
        context.principal = actor_name


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _current.get()
        if context is not None:
            out["request_id"] = context.request_id
            out["method"] = context.method
            if context.route is not None:
                out["route"] = context.route
            if context.principal is not None:
                out["principal"] = context.principal
        for name in EXTRA_FIELDS:
            if name in record.__dict__:
                out[name] = record.__dict__[name]
        if record.exc_info and record.exc_info[1] is not None:
            from lemur.web.errors import safe_traceback  # only when there is one

            out["exception"] = safe_traceback(record.exc_info[1])
        if record.stack_info:
            out["stack"] = record.stack_info
        return json.dumps(out, ensure_ascii=False, default=str)


# The JSON logging configuration of a server process (logging.config.dictConfig): every
# logger, uvicorn's included, through one stderr handler. A file, because uvicorn's
# supervisor process reads it too (``lemur serve`` passes it as ``--log-config``).
LOG_CONFIG_FILE = Path(__file__).with_name("log-config.json")


def json_log_config(level: str = "info") -> dict[str, Any]:
    """The configuration of LOG_CONFIG_FILE, with the root logger at ``level``. uvicorn's
    loggers keep their own level (``--log-level``) and hand their records to the root's
    handler. uvicorn's access log goes nowhere: ``lemur.access``
    (lemur.metrics.http) replaces it and names the route and the principal."""
    config: dict[str, Any] = json.loads(LOG_CONFIG_FILE.read_text())
    config["root"]["level"] = level.upper()
    return config


def configure_logging(format: str, level: str = "info") -> None:
    """JSON lines for every logger of this process if ``format`` is json. In text mode
    uvicorn's own configuration stays; Lemur's loggers get a handler in uvicorn's style
    (without one, Python would print only their warnings and errors, bare)."""
    if format == "json":
        logging.config.dictConfig(json_log_config(level))
        return
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        root.addHandler(handler)
        root.setLevel(level.upper())
