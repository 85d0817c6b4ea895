"""What the notifiers share: option validators, the MIME message, the guarded HTTP POST."""

from __future__ import annotations

import contextlib
import datetime as dt
import email.policy
import email.utils
import ipaddress
import re
from collections.abc import Iterator, Mapping, Sequence
from email.message import EmailMessage
from typing import Annotated

import httpx
from pydantic import AfterValidator, SecretStr

from lemur.outbound import OutboundPolicy, guarded_client
from lemur.plugins.errors import PluginRejected, PluginTransientError
from lemur.plugins.values import Notice, OutboundGuard, PluginContext, Recipient

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$")


def check_email(value: str) -> str:
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("not an email address (name@example.com)")
    return value


def check_hostname(value: str) -> str:
    try:
        ipaddress.ip_address(value.strip("[]"))
        return value.strip("[]")
    except ValueError:
        pass
    if len(value) > 253 or not _HOSTNAME.match(value):
        raise ValueError("not a host name or IP address")
    return value


def check_one_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must be one line")
    return value


def check_url(value: str) -> str:
    """An absolute http(s) URL with a host. The message never repeats the value."""
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("a URL has no spaces or control characters")
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ValueError("not a URL") from None
    if url.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not url.host:
        raise ValueError("the URL has no host")
    check_hostname(url.host)
    if len(value) > 2048:
        raise ValueError("the URL is longer than 2048 characters")
    return value


def _check_secret_url(value: SecretStr) -> SecretStr:
    check_url(value.get_secret_value())
    return value


EmailAddress = Annotated[str, AfterValidator(check_email)]
Hostname = Annotated[str, AfterValidator(check_hostname)]
OneLine = Annotated[str, AfterValidator(check_one_line)]
HttpURL = Annotated[str, AfterValidator(check_url)]
SecretURL = Annotated[SecretStr, AfterValidator(_check_secret_url)]


def host_of(url: str) -> str:
    return httpx.URL(url).host


def outbound_guard(context: PluginContext) -> OutboundGuard:
    """The context's address policy, or the default one (built-in denied ranges only)."""
    return context.outbound if context.outbound is not None else OutboundPolicy()


def build_email(
    notice: Notice,
    recipients: Sequence[Recipient],
    *,
    from_address: str,
    from_name: str | None,
    now: dt.datetime,
) -> EmailMessage:
    """The message for ``email`` and ``ses``: plain text with an HTML alternative when the
    notice has one, Message-ID from the notice (also in X-Lemur-Message-Id, which survives
    relays such as SES that assign their own Message-ID)."""
    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = email.utils.formataddr((from_name or "", from_address))
    msg["To"] = ", ".join(r.address for r in recipients)
    msg["Subject"] = notice.subject
    msg["Date"] = email.utils.format_datetime(now.astimezone(dt.UTC))
    msg["Message-ID"] = notice.message_id
    msg["X-Lemur-Message-Id"] = notice.message_id
    msg["X-Lemur-Event"] = notice.event
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(notice.body)
    if notice.html is not None:
        msg.add_alternative(notice.html, subtype="html")
    return msg


def recipient_addresses(recipients: Sequence[Recipient]) -> list[str]:
    if not recipients:
        raise PluginRejected("the notice has no recipients", code="no_recipients")
    return [check_email_recipient(r.address) for r in recipients]


def check_email_recipient(address: str) -> str:
    try:
        return check_email(address)
    except ValueError:
        raise PluginRejected(
            f"{address[:254]!r} is not an email address", code="invalid_recipient"
        ) from None


@contextlib.contextmanager
def http_client(context: PluginContext) -> Iterator[httpx.Client]:
    """The context's guarded client, or a guarded client with the default policy."""
    if context.http is not None:
        yield context.http
        return
    with guarded_client(OutboundPolicy()) as client:
        yield client


def _short_text(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


def post(
    context: PluginContext,
    url: str,
    *,
    content: bytes,
    headers: Mapping[str, str],
    timeout: float,
    service: str,
    hide: Sequence[str] = (),
) -> httpx.Response:
    """POST through the guarded client and map the outcome onto the plugin errors.

    2xx: the response. Timeout, connection failure, 408, 429, 5xx: PluginTransientError.
    Redirects (not followed) and other 4xx: PluginRejected. Messages name the host only;
    the strings in ``hide`` (secret URL parts) are removed from any echoed response text."""
    host = host_of(url)
    try:
        with http_client(context) as client:
            response = client.post(url, content=content, headers=dict(headers), timeout=timeout)
    except httpx.TimeoutException:
        raise PluginTransientError(
            f"{service} at {host} did not answer within {timeout:g} s", code="peer_timeout"
        ) from None
    except httpx.TransportError as exc:
        raise PluginTransientError(
            f"cannot reach {service} at {host} ({type(exc).__name__})", code="peer_unreachable"
        ) from None
    status = response.status_code
    if 200 <= status < 300:
        return response
    text = _short_text(response.text)
    for secret in hide:
        if secret:
            text = text.replace(secret, "…")
    said = f": {text}" if text else ""
    if status in (408, 429) or status >= 500:
        raise PluginTransientError(
            f"{service} at {host} answered HTTP {status}{said}", code="peer_unavailable"
        )
    if 300 <= status < 400:
        raise PluginRejected(
            f"{service} at {host} answered with a redirect (HTTP {status}), which Lemur does "
            "not follow; configure the final URL",
            code="peer_redirected",
        )
    raise PluginRejected(
        f"{service} at {host} refused the message: HTTP {status}{said}", code="peer_rejected"
    )
