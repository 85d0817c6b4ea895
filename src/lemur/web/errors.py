"""One error envelope for every failure: ``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from lemur.errors import LemurError
from lemur.faults import database_fault, describe

log = logging.getLogger("lemur.web")

# pydantic error types -> our stable codes
VALIDATION_CODES = {
    "extra_forbidden": "unknown_field",
    "missing": "missing_field",
    "json_invalid": "invalid_json",
    "model_attributes_type": "invalid_body",
    "dict_type": "invalid_body",
}


def envelope(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "field": field}},
        status_code=status,
        headers=headers,
    )


def _field(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or None


def _validation_message(err: dict[str, Any], field: str | None) -> str:
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        return f"unknown field '{field}'; check the spelling against the API documentation"
    if kind == "missing":
        return f"'{field}' is required"
    if kind == "json_invalid":
        return "the request body is not valid JSON"
    msg = str(err.get("msg", "invalid value"))
    return f"{field}: {msg}" if field else msg


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts at this path.

    Starlette answers 405 with the methods of the first route that matched the path only,
    so ``PUT /api/v1/users`` would claim that only GET is allowed although POST is too."""
    methods: set[str] = set()
    # FastAPI keeps included routers nested; iter_route_contexts flattens them.
    for route in iter_route_contexts(request.app.routes):
        if route.methods:
            match, _ = route.matches({**request.scope, "method": "GET"})
            if match is not Match.NONE:
                methods |= route.methods
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    def _render(exc: LemurError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
        return envelope(exc.status, exc.code, exc.message, exc.field, headers)

    @app.exception_handler(LemurError)
    async def _lemur(_request: Request, exc: LemurError) -> JSONResponse:
        if exc.status >= 500:
            log.error("request failed: %s (%s)", exc.code, exc.message)
        return _render(exc)

    async def _database(_request: Request, exc: Exception) -> JSONResponse:
        # Registered for the database's exception types rather than left to the catch-all
        # below: Starlette re-raises what reaches the catch-all after rendering it, and
        # uvicorn then closes the client's keep-alive connection. A database outage must
        # leave clients' connections usable for the retry.
        fault = database_fault(exc)
        if fault is None:
            log.exception("unexpected database error", exc_info=exc)
            return envelope(
                500, "internal_error", "an unexpected error occurred; it has been logged"
            )
        # The driver's line only: str(exc) would add the statement and its parameters.
        log.warning("request failed: %s (%s)", fault.code, describe(exc))
        return _render(fault)

    for kind in (DBAPIError, DisconnectionError, PoolTimeout, sqlite3.Error, psycopg.Error):
        app.add_exception_handler(kind, _database)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        # A misspelt field shows up as both unknown and missing; the unknown one is the
        # message that tells the caller what to fix.
        unknown = [e for e in errors if e.get("type") == "extra_forbidden"]
        first = (unknown or errors or [{}])[0]
        code = VALIDATION_CODES.get(first.get("type", ""), "validation_error")
        # For unparseable JSON pydantic's location is a character offset, not a field.
        field = None if code == "invalid_json" else _field(tuple(first.get("loc", ())))
        return envelope(422, code, _validation_message(first, field), field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return envelope(404, "route_not_found", "no such endpoint; see /api/v1/openapi.json")
        if exc.status_code == 405:
            allow = _allowed_methods(request)
            return envelope(
                405,
                "method_not_allowed",
                f"this endpoint accepts {', '.join(allow)}" if allow else "method not allowed",
                headers={"Allow": ", ".join(allow)} if allow else dict(exc.headers or {}),
            )
        return envelope(exc.status_code, f"http_{exc.status_code}", str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return envelope(500, "internal_error", "an unexpected error occurred; it has been logged")
