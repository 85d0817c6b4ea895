"""Limits at the HTTP edge, as pure ASGI middleware: header size, body size, and the
safety net of the text rule (lemur.text).

Body size: a declared Content-Length over the limit is refused at once. A body without one (chunked)
is read up to the limit before the application sees it, then replayed; bodies are small
(the limit defaults to 1 MiB), so buffering costs little and no handler ever sees a
truncated body.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BODY_METHODS = frozenset({b"POST", b"PUT", b"PATCH", b"DELETE"})


async def reject(
    send: Send, status: int, code: str, message: str, field: str | None = None
) -> None:
    """The error envelope of lemur.web.errors, sent before the application runs."""
    body = json.dumps({"error": {"code": code, "message": message, "field": field}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class HeaderLimit:
    """Refuses a request whose header fields together exceed ``max_bytes`` (names and
    values) or number more than ``max_count``: 431 (RFC 6585 §5).

    The check runs on what the server has parsed: under ``lemur serve`` (uvicorn with
    httptools, which has no header limit of its own) a huge header is read before it is
    refused, but no handler sees it."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_count: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_count = max_count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = scope["headers"]
            size = sum(len(name) + len(value) for name, value in headers)
            if size > self.max_bytes or len(headers) > self.max_count:
                await reject(
                    send,
                    431,
                    "headers_too_large",
                    f"the request headers are larger than {self.max_bytes} bytes "
                    f"or more than {self.max_count} fields",
                )
                return
        await self.app(scope, receive, send)


def _nul_paths(value: Any, path: str = "") -> Iterator[str]:
    """Where NUL occurs in a decoded JSON document, as lemur.web.errors names fields."""
    if isinstance(value, str):
        if "\x00" in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                yield f"{path}.{key}" if path else key
            yield from _nul_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nul_paths(item, f"{path}[{index}]")


def _nul_field_in_form(data: bytes) -> str | None:
    for name, value in parse_qsl(data.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "")
    return None


def _nul_field_in_json(data: bytes) -> str | None:
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return None  # malformed: the application answers invalid_json
    return next(_nul_paths(document), None)


class InputGuard:
    """The edge safety net of the text rule: NUL in a query parameter, a form field or a
    JSON string is refused with 422 ``invalid_character`` before any handler runs.

    Request fields carry the full rule as annotated types (lemur.text); this catches a
    parameter that was declared without one, which on PostgreSQL would reach the database
    and fail there. It costs a substring search per request: documents are decoded only
    when the bytes contain a NUL or its escape (``%00``, ``\\u0000``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def _refuse(self, send: Send, field: str | None) -> None:
        where = f"{field}: " if field else ""
        await reject(
            send,
            422,
            "invalid_character",
            f"{where}contains the character U+0000 (NUL), which no text field accepts",
            field or None,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            field = _nul_field_in_form(query)
            if field is not None:
                await self._refuse(send, field)
                return
        if scope["method"].encode() not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        content_type = b""
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.split(b";")[0].strip().lower()
        is_json = content_type == b"application/json" or content_type.endswith(b"+json")
        is_form = content_type == b"application/x-www-form-urlencoded"
        if not (is_json or is_form):
            await self.app(scope, receive, send)
            return
        # The body is bounded by BodySizeLimit, which runs first.
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if is_json and b"\\u0000" in body:
            field = _nul_field_in_json(body)
            if field is not None:
                await self._refuse(send, field)
                return
        if is_form and (b"%00" in body or b"\x00" in body):
            field = _nul_field_in_form(body)
            if field is not None:
                await self._refuse(send, field)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Send) -> None:
        await reject(
            send,
            413,
            "payload_too_large",
            f"the request body is larger than {self.max_bytes} bytes",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else self.max_bytes + 1
        if declared is not None:
            if declared > self.max_bytes:
                await self._reject(send)
                return
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
