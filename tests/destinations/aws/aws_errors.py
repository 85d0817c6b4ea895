"""A tiny local stand-in for AWS's answers moto cannot give (throttling, 5xx, a request
racing another): a real HTTP server on a loopback port that answers each call with what a
test scripted, in the call's own protocol (the XML error document of the query APIs IAM,
STS and ELB; the JSON one of ACM), so a real botocore client parses it as it would AWS's.

Unscripted calls get the server's standing answer (``fail_with``)."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections import defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


def xml_error(code: str, message: str, status: int = 400) -> Answer:
    body = (
        "<ErrorResponse><Error><Type>Sender</Type>"
        f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
        "<RequestId>0c4f-test</RequestId></ErrorResponse>"
    )
    return Answer(status, "text/xml", body.encode())


def json_error(code: str, message: str, status: int = 400) -> Answer:
    body = json.dumps({"__type": code, "message": message}).encode()
    return Answer(status, "application/x-amz-json-1.1", body)


def xml_result(action: str, inner: str) -> Answer:
    body = (
        f'<{action}Response xmlns="https://iam.amazonaws.com/doc/2010-05-08/">'
        f"<{action}Result>{inner}</{action}Result>"
        f"<ResponseMetadata><RequestId>0c4f-test</RequestId></ResponseMetadata></{action}Response>"
    )
    return Answer(200, "text/xml", body.encode())


class AWSStandIn:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.standing: tuple[str, str, int] = ("Throttling", "Rate exceeded", 400)
        self._scripted: dict[str, list[Answer]] = defaultdict(list)
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = self.rfile.read(length)
                target = self.headers.get("X-Amz-Target")
                if target:
                    action, is_json = target.rsplit(".", 1)[-1], True
                else:
                    form = urllib.parse.parse_qs(payload.decode())
                    action, is_json = form.get("Action", [""])[0], False
                answer = stand_in._answer(action, is_json)
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def fail_with(self, code: str, message: str = "Rate exceeded", status: int = 400) -> None:
        """From now on, answer unscripted calls with this error."""
        self.standing = (code, message, status)
        self._scripted.clear()
        self.calls.clear()

    def script(self, action: str, *answers: Answer) -> None:
        """Answer the next calls of ``action`` with these, in order."""
        with self._lock:
            self._scripted[action].extend(answers)

    def _answer(self, action: str, is_json: bool) -> Answer:
        with self._lock:
            self.calls.append(action)
            queued = self._scripted.get(action)
            if queued:
                return queued.pop(0)
        code, message, status = self.standing
        return json_error(code, message, status) if is_json else xml_error(code, message, status)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
