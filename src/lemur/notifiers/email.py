"""``email``: notices by SMTP (smtplib), with STARTTLS or implicit TLS and authentication.

One SMTP session per :meth:`EmailNotifier.send`; all recipients of the call are in one
message (the notification service sends one digest per recipient, so usually one). The
connection goes through the outbound address policy (lemur.outbound).
"""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from lemur.notifiers._common import (
    EmailAddress,
    Hostname,
    OneLine,
    build_email,
    outbound_guard,
    recipient_addresses,
)
from lemur.plugins.base import Notifier
from lemur.plugins.errors import (
    PluginConfigurationError,
    PluginError,
    PluginRejected,
    PluginTransientError,
)
from lemur.plugins.values import Notice, OutboundGuard, Recipient


class EmailOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: Hostname = Field(description="SMTP server name or address")
    port: int = Field(587, ge=1, le=65535, description="587 for STARTTLS, 465 for TLS")
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls",
        description="starttls: upgrade with STARTTLS (refused if the server does not offer "
        "it); tls: TLS from the first byte (SMTPS); none: plain text, only without a password",
    )
    username: str | None = Field(None, min_length=1, max_length=256)
    password: SecretStr | None = Field(None, description="Stored encrypted, never returned")
    from_address: EmailAddress = Field(description="Envelope sender and From address")
    from_name: OneLine | None = Field(None, max_length=100, description="Display name in From")
    ca_bundle: str | None = Field(
        None,
        max_length=200_000,
        description="PEM certificates to trust instead of the system's (a private SMTP server)",
    )
    timeout: float = Field(10.0, gt=0, le=120, description="Seconds per SMTP operation")

    @field_validator("ca_bundle")
    @classmethod
    def _pem(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ssl.create_default_context(cadata=value)
            except (ssl.SSLError, ValueError):
                raise ValueError("not PEM certificates") from None
        return value

    @model_validator(mode="after")
    def _credentials(self) -> EmailOptions:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        if self.password is not None and self.security == "none":
            raise ValueError("a password is only sent over TLS: choose starttls or tls")
        return self


class _GuardedSMTP(smtplib.SMTP):
    def __init__(self, guard: OutboundGuard, timeout: float) -> None:
        self._guard = guard
        super().__init__(timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        self._host = host  # the name STARTTLS verifies (smtplib sets it only in __init__)
        return self._guard.connect(host, port, timeout)


class _GuardedSMTPS(smtplib.SMTP_SSL):
    def __init__(self, guard: OutboundGuard, timeout: float, context: ssl.SSLContext) -> None:
        self._guard = guard
        super().__init__(timeout=timeout, context=context)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        self._host = host
        raw = self._guard.connect(host, port, timeout)
        return self.context.wrap_socket(raw, server_hostname=self._host)


class EmailNotifier(Notifier[EmailOptions]):
    slug = "email"
    title = "Email (SMTP)"
    description = """
        Sends notices by SMTP as plain text with an HTML alternative, over STARTTLS or TLS
        with authentication. The Message-ID is the notice's, so a repeat is recognisable.
    """
    Options = EmailOptions

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.options.ca_bundle)

    def send(self, notice: Notice, recipients: Sequence[Recipient]) -> None:
        opts = self.options
        addresses = recipient_addresses(recipients)
        message = build_email(
            notice,
            recipients,
            from_address=opts.from_address,
            from_name=opts.from_name,
            now=self.context.clock.now(),
        )
        guard = outbound_guard(self.context)
        try:
            smtp: smtplib.SMTP = (
                _GuardedSMTPS(guard, opts.timeout, self._tls())
                if opts.security == "tls"
                else _GuardedSMTP(guard, opts.timeout)
            )
            with smtp:
                smtp.connect(opts.host, opts.port)
                if opts.security == "starttls":
                    smtp.starttls(context=self._tls())
                if opts.username is not None and opts.password is not None:
                    smtp.login(opts.username, opts.password.get_secret_value())
                refused = smtp.send_message(
                    message, from_addr=opts.from_address, to_addrs=addresses
                )
        except PluginError:
            raise
        except (smtplib.SMTPException, OSError) as exc:
            raise self._translate(exc) from None
        if refused:
            listed = ", ".join(sorted(refused))
            raise PluginRejected(
                f"{opts.host} refused some recipients ({listed}); the others got the message",
                code="smtp_recipients_refused",
            )

    def _server_text(self, raw: bytes | str) -> str:
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        text = " ".join(text.split())[:200]
        if self.options.password is not None:
            secret = self.options.password.get_secret_value()
            for form in (secret, base64.b64encode(secret.encode()).decode()):
                text = text.replace(form, "…")
        return text

    def _translate(self, exc: BaseException) -> PluginError:
        host = self.options.host
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return PluginRejected(
                f"{host} refused the login of {self.options.username!r} "
                f"({exc.smtp_code} {self._server_text(exc.smtp_error)})",
                code="smtp_auth_failed",
            )
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return PluginConfigurationError(
                f"{host} does not support what the options ask for ({exc})",
                code="smtp_not_supported",
            )
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            codes = [code for code, _ in exc.recipients.values()]
            listed = ", ".join(sorted(exc.recipients))
            if codes and all(400 <= c < 500 for c in codes):
                return PluginTransientError(
                    f"{host} deferred all recipients ({listed})", code="smtp_deferred"
                )
            return PluginRejected(
                f"{host} refused all recipients ({listed})", code="smtp_recipients_refused"
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            said = f"{exc.smtp_code} {self._server_text(exc.smtp_error)}"
            if 400 <= exc.smtp_code < 500 or exc.smtp_code == -1:
                return PluginTransientError(
                    f"{host} deferred the message ({said})", code="smtp_deferred"
                )
            return PluginRejected(f"{host} refused the message ({said})", code="smtp_rejected")
        if isinstance(exc, ssl.SSLCertVerificationError):
            return PluginConfigurationError(
                f"the TLS certificate of {host} is not trusted ({exc.verify_message}); "
                "set ca_bundle for a private server",
                code="smtp_tls_untrusted",
            )
        if isinstance(exc, TimeoutError | socket.timeout):
            return PluginTransientError(
                f"the SMTP server {host} did not answer within {self.options.timeout:g} s",
                code="peer_timeout",
            )
        return PluginTransientError(
            f"cannot reach the SMTP server {host}:{self.options.port} ({type(exc).__name__})",
            code="peer_unreachable",
        )
