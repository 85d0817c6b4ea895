"""One error envelope for every failure: ``{"error": {"code", "message", "field"}}``."""

from __future__ import annotations

import logging
import sqlite3
import traceback
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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
    "invalid_character": "invalid_character",
    "string_unicode": "invalid_character",  # a lone surrogate (lemur.text)
    # lemur.strength, for export passphrases checked by the request model
    "passphrase_too_short": "passphrase_too_short",
    "passphrase_too_weak": "passphrase_too_weak",
    "passphrase_too_long": "passphrase_too_long",
}
# Whatever makes a body unreadable (not JSON, not UTF-8, nested too deeply, no body at
# all) gets one answer: 422 invalid_json, with a message that says what is wrong and
# never quotes the body (it may hold a password or a key).
MALFORMED = "invalid_json"
SEND_JSON = "send a JSON object with the header 'Content-Type: application/json'"
BODY_PARSE_FAILED = "There was an error parsing the body"  # FastAPI's detail, cause attached


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
        reason = str((err.get("ctx") or {}).get("error", "")) or "syntax error"
        loc = err.get("loc", ())
        at = f" at character {loc[-1]}" if len(loc) > 1 and isinstance(loc[-1], int) else ""
        return f"the request body is not valid JSON ({reason}{at}); {SEND_JSON}"
    msg = str(err.get("msg", "invalid value"))
    return f"{field}: {msg}" if field else msg


def _malformed_cause(exc: BaseException | None) -> str:
    """Why a body could not be parsed; FastAPI answers all of these 400 on its own."""
    if isinstance(exc, UnicodeDecodeError):
        return f"the request body is not valid UTF-8 (invalid byte at offset {exc.start})"
    if isinstance(exc, RecursionError):
        return "the request body is nested too deeply"
    if isinstance(exc, ValueError) and "digits" in str(exc):
        return "a number in the request body has too many digits"
    return "the request body could not be parsed"


def _not_json(err: dict[str, Any], body: Any) -> tuple[str, str] | None:
    """The code and message for a body that is not a JSON object, else None.

    FastAPI parses a body as JSON only when the Content-Type says so; without it the model
    sees bytes and pydantic says "Input should be a valid dictionary", which does not tell
    the caller what to do."""
    loc = tuple(err.get("loc", ()))
    if loc != ("body",):
        return None
    if err.get("type") == "missing":
        return MALFORMED, f"the request body is empty; {SEND_JSON}"
    if err.get("type") in ("model_attributes_type", "dict_type") and isinstance(body, bytes | str):
        return MALFORMED, f"the request body was not read as JSON; {SEND_JSON}"
    if err.get("type") in ("model_attributes_type", "dict_type"):
        return (
            "invalid_body",
            "the request body must be a JSON object ({...}), not an array or a value",
        )
    return None


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


# Database drivers whose error messages may quote row values: PostgreSQL's DETAIL lines
# ("Failing row contains (...)", "Key (...)=(...)") would put password hashes in the log.
_DRIVERS = ("psycopg", "psycopg2", "sqlite3", "sqlalchemy")


def _summary(exc: BaseException) -> str:
    kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
    if type(exc).__module__.split(".")[0] not in _DRIVERS:
        return f"{kind}: {exc}"
    # Only what cannot carry a value: the class, the SQLSTATE and the statement text (its
    # parameters are bound separately and never logged, db.make_engine hide_parameters).
    sqlstate = getattr(exc, "sqlstate", None) or getattr(exc, "sqlite_errorname", None)
    statement = getattr(exc, "statement", None)
    return (
        kind
        + (f" [{sqlstate}]" if sqlstate else "")
        + (f" while running: {statement}" if statement else "")
    )


def safe_traceback(exc: BaseException) -> str:
    """A traceback like Python's, minus the messages of database errors."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return "\nwhich caused:\n".join(
        "Traceback (most recent call last):\n"
        + "".join(traceback.format_tb(e.__traceback__))
        + _summary(e)
        for e in reversed(chain)
    )


class UnexpectedErrors:
    """Answer any exception no handler took with a 500 envelope and log it once, safely.

    Starlette's own catch-all re-raises after answering so that the server logs the
    exception too, with its full message; this middleware sits inside it and does not."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error("unexpected error\n%s", safe_traceback(exc))
            if not started:
                # Pages (lemur.ui.errors) set a renderer for their paths: an HTML page.
                render_page = getattr(scope["app"].state, "unexpected_page", None)
                page = render_page(scope) if render_page is not None else None
                response = page or envelope(
                    500, "internal_error", "an unexpected error occurred; it has been logged"
                )
                await response(scope, receive, send)


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
            log.error("unexpected error\n%s", safe_traceback(exc))
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
        body_problem = _not_json(first, exc.body)
        if body_problem is not None:
            return envelope(422, *body_problem)
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
        if exc.status_code == 400 and exc.detail == BODY_PARSE_FAILED:
            # FastAPI's answer to a body it could not parse: made the same as invalid JSON.
            return envelope(422, MALFORMED, f"{_malformed_cause(exc.__cause__)}; {SEND_JSON}")
        return envelope(exc.status_code, f"http_{exc.status_code}", str(exc.detail))

    app.add_middleware(UnexpectedErrors)
