"""A real SMTP server for tests: aiosmtpd in this process, on free loopback ports.

:func:`start_smtp` starts three listeners sharing one mailbox (``messages``):

- ``port``: STARTTLS required, then AUTH LOGIN/PLAIN required (the usual submission port 587);
- ``tls_port``: TLS from the first byte (SMTPS, 465), AUTH required;
- ``plain_port``: no TLS, no AUTH (a relay inside the network).

The TLS certificate is issued at start by a throw-away CA (``cafile``) for ``localhost`` and
IP 127.0.0.1. ``username``/``password`` are the only accepted credentials.
Use it through the ``smtp_server`` fixture (tests/peers/fixtures.py).
"""

from __future__ import annotations

import email
import email.policy
import ssl
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session

from tests.peers.server import free_port
from tests.peers.tls import write_tls_material

SENDER = "lemur@example.test"


@dataclass(frozen=True)
class ReceivedMail:
    """One message as the server got it: the envelope and the parsed message."""

    listener: str  # "starttls", "tls" or "plain"
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage

    def part(self, content_type: str) -> str | None:
        """The decoded text of the first part of that type (``text/plain``, ``text/html``)."""
        for item in self.message.walk():
            if item.get_content_type() == content_type and not item.is_multipart():
                content: str = item.get_content()
                return content
        return None


class _QuietSession(Session):
    """aiosmtpd 1.4 warns (DeprecationWarning) on every successful AUTH when it sets the
    legacy ``login_data``; the suite turns warnings into errors, so keep it quiet."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _TestSMTP(SMTP):
    def __init__(self, *args: Any, implicit_tls: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if implicit_tls:
            # aiosmtpd cannot tell an SMTPS connection is encrypted and would refuse AUTH
            # (passing auth_require_tls=False instead warns on each connection).
            self._auth_require_tls = False

    def _create_session(self) -> Session:
        return _QuietSession(self.loop)


class _Controller(Controller):
    def __init__(self, handler: Any, *, implicit_tls: bool = False, **kwargs: Any) -> None:
        self._implicit_tls = implicit_tls
        super().__init__(handler, **kwargs)

    def factory(self) -> SMTP:
        return _TestSMTP(self.handler, implicit_tls=self._implicit_tls, **self.SMTP_kwargs)


class _Recorder:
    def __init__(self, sink: list[ReceivedMail], lock: threading.Lock, listener: str) -> None:
        self._sink = sink
        self._lock = lock
        self._listener = listener

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self._sink.append(
                ReceivedMail(
                    self._listener,
                    str(envelope.mail_from),
                    tuple(str(r) for r in envelope.rcpt_tos),
                    raw,
                    parsed,
                )
            )
        return "250 Message accepted for delivery"


@dataclass
class SMTPPeer:
    host: str
    port: int  # STARTTLS + AUTH required
    tls_port: int  # implicit TLS + AUTH required
    plain_port: int  # no TLS, no AUTH
    cafile: Path
    username: str
    password: str
    messages: list[ReceivedMail] = field(default_factory=list)
    _controllers: list[Controller] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def ca_pem(self) -> str:
        return self.cafile.read_text()

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def with_message_id(self, message_id: str) -> list[ReceivedMail]:
        with self._lock:
            return [m for m in self.messages if m.message["Message-ID"] == message_id]

    def stop(self) -> None:
        for controller in self._controllers:
            if getattr(controller, "_thread", None) is not None:
                controller.stop()
        self._controllers.clear()


def email_options(smtp: SMTPPeer, **changes: Any) -> dict[str, Any]:
    """Options of the email notifier that reach ``smtp`` (STARTTLS, AUTH, its CA), sending
    from :data:`SENDER`; ``changes`` override them."""
    values: dict[str, Any] = {
        "host": smtp.host,
        "port": smtp.port,
        "security": "starttls",
        "username": smtp.username,
        "password": smtp.password,
        "from_address": SENDER,
        "ca_bundle": smtp.ca_pem,
        "timeout": 5,
    }
    values.update(changes)
    return values


def start_smtp(
    directory: Path, *, username: str = "lemur", password: str = "s3cret-Pa55word"
) -> SMTPPeer:
    cafile, certfile, keyfile = write_tls_material(directory)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(certfile, keyfile)

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == username.encode()
            and data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False)

    peer = SMTPPeer("127.0.0.1", free_port(), free_port(), free_port(), cafile, username, password)
    common: dict[str, Any] = {"hostname": "127.0.0.1", "server_hostname": "localhost"}
    secured: dict[str, Any] = {"authenticator": authenticator, "auth_required": True}
    peer._controllers = [
        _Controller(
            _Recorder(peer.messages, peer._lock, "starttls"),
            port=peer.port,
            tls_context=server_tls,
            require_starttls=True,
            **secured,
            **common,
        ),
        _Controller(
            _Recorder(peer.messages, peer._lock, "tls"),
            port=peer.tls_port,
            implicit_tls=True,
            ssl_context=server_tls,
            **secured,
            **common,
        ),
        _Controller(_Recorder(peer.messages, peer._lock, "plain"), port=peer.plain_port, **common),
    ]
    try:
        for controller in peer._controllers:
            controller.start()
    except BaseException:
        peer.stop()
        raise
    return peer
