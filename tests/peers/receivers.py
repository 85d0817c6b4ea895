"""Real HTTP receivers on loopback ports (stdlib ThreadingHTTPServer in a thread) that
record every request: a Slack-compatible incoming webhook and a signed-webhook receiver.

Both can be made to misbehave for a test: :meth:`Receiver.down` (503 to everything),
:meth:`Receiver.slow` (wait before answering), :meth:`Receiver.respond` (any status and
body), and :meth:`Receiver.normal` to undo it; :meth:`Receiver.clear` forgets the requests.
Use them through the ``slack_receiver`` and ``webhook_receiver`` fixtures
(tests/peers/fixtures.py).
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lemur.notifiers.webhook import (
    MESSAGE_ID_HEADER,
    SIGNATURE_HEADER,
    InvalidSignature,
    verify_signature,
)


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    answered: int  # the status the receiver answered
    verified: bool | None = None  # webhook receiver: did the signature verify?
    problem: str | None = None  # why the receiver refused it

    def json(self) -> Any:
        return json.loads(self.body)


Answer = tuple[int, str, bytes, bool | None, str | None]  # status, type, body, verified, problem


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and went away is part of the tests


class Receiver:
    """A recording HTTP server; subclasses decide the normal answer in :meth:`judge`."""

    path = "/"

    def __init__(self, *, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[ReceivedRequest] = []
        self.scheme = "https" if tls is not None else "http"
        self._lock = threading.Lock()
        self._override: tuple[int, str, bytes] | None = None
        self._chunked = False
        self._delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver._handle(self)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = _Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.host, self.port = self._server.server_address[0], self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + self.path

    # -- behaviour --------------------------------------------------------------------------

    def down(self) -> None:
        self.respond(503, "service unavailable")

    def slow(self, seconds: float) -> None:
        self._delay = seconds

    def respond(
        self,
        status: int,
        body: str | bytes,
        content_type: str = "text/plain",
        *,
        chunked: bool = False,
    ) -> None:
        """Answer every request so; ``chunked`` sends the body without Content-Length."""
        data = body.encode() if isinstance(body, str) else body
        self._override = (status, content_type, data)
        self._chunked = chunked

    def normal(self) -> None:
        self._override = None
        self._chunked = False
        self._delay = 0.0

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
        self.normal()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- handling ---------------------------------------------------------------------------

    def judge(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        return 200, "text/plain", b"ok", None, None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        if self._override is not None:
            status, ctype, data = self._override
            verified: bool | None = None
            problem: str | None = "told to answer so"
        else:
            status, ctype, data, verified, problem = self.judge(handler.path, headers, body)
        with self._lock:
            self.requests.append(
                ReceivedRequest(
                    handler.command, handler.path, headers, body, status, verified, problem
                )
            )
        if self._delay:
            time.sleep(self._delay)
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", ctype)
            if self._chunked:
                handler.send_header("Transfer-Encoding", "chunked")
                handler.end_headers()
                for start in range(0, len(data), 1000):
                    piece = data[start : start + 1000]
                    handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                handler.wfile.write(b"0\r\n\r\n")
            else:
                handler.send_header("Content-Length", str(len(data)))
                handler.end_headers()
                handler.wfile.write(data)
        except OSError:
            pass  # the client gave up (timeout tests)


def _slack_problem(body: bytes) -> str | None:
    """None if ``body`` is a payload Slack accepts (text and/or well-formed blocks)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return "invalid_payload"
    if not isinstance(payload, dict):
        return "invalid_payload"
    text, blocks = payload.get("text"), payload.get("blocks")
    if blocks is None and not (isinstance(text, str) and text.strip()):
        return "no_text"
    if blocks is not None:
        if not isinstance(blocks, list) or not blocks:
            return "invalid_blocks"
        for block in blocks:
            if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                return "invalid_blocks"
            inner = block.get("text")
            if block["type"] in ("header", "section") and not (
                isinstance(inner, dict)
                and inner.get("type") in ("plain_text", "mrkdwn")
                and isinstance(inner.get("text"), str)
                and inner["text"]
            ):
                return "invalid_blocks"
            if block["type"] == "header" and len(str((inner or {}).get("text"))) > 150:
                return "invalid_blocks"
    return None


class SlackReceiver(Receiver):
    """Answers like a Slack incoming webhook: 200 ``ok`` (text/plain), 400
    ``invalid_payload``/``no_text``/``invalid_blocks``, 403 ``invalid_token`` for a wrong
    URL path (the path is the webhook's secret, ``/services/T.../B.../<token>``)."""

    def __init__(self) -> None:
        self.path = f"/services/T0LEMUR01/B0LEMUR01/{secrets.token_urlsafe(18)}"
        super().__init__()

    def payloads(self) -> list[Any]:
        return [r.json() for r in self.requests if r.answered == 200]

    def judge(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path != self.path:
            return 403, "text/plain", b"invalid_token", None, "invalid_token"
        problem = _slack_problem(body)
        if problem is not None:
            return 400, "text/plain", problem.encode(), None, problem
        return 200, "text/plain", b"ok", None, None


class WebhookReceiver(Receiver):
    """Verifies ``X-Lemur-Signature`` with :func:`lemur.notifiers.webhook.verify_signature`
    (tolerance ``tolerance`` s, against ``clock``, default the real time): 200 when it
    verifies, 401 with the reason otherwise. Records ``verified`` on every request."""

    path = "/hooks/lemur"

    def __init__(self, secret: str, *, tolerance: float = 300) -> None:
        self.secret = secret
        self.tolerance = tolerance
        self.clock: Callable[[], float] = time.time
        super().__init__()

    def verified(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.verified]

    def judge(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        try:
            verify_signature(
                self.secret,
                headers.get(SIGNATURE_HEADER.lower()),
                body,
                now=self.clock(),
                tolerance=self.tolerance,
            )
        except InvalidSignature as exc:
            return 401, "text/plain", str(exc).encode(), False, str(exc)
        if not headers.get(MESSAGE_ID_HEADER.lower()):
            return 400, "text/plain", b"no message id", True, "no message id"
        return 200, "application/json", b'{"received":true}', True, None
