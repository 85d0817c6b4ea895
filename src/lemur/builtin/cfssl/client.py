"""Talking to cfssl's HTTP API (``/api/v1/cfssl/<endpoint>``): the HTTP client, request
signing for auth profiles, and the translation of every failure into a plugin error.

cfssl answers ``{"success": bool, "result": ..., "errors": [{"code", "message"}]}``; a
refused request is HTTP 400 with the reason in ``errors[0].message``. Messages here name
the host, never the auth key or the token derived from it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import httpx

from lemur.plugins.errors import PluginConfigurationError, PluginRejected, PluginTransientError
from lemur.plugins.values import OutboundGuard, PluginContext

API_PREFIX = "/api/v1/cfssl/"
MAX_RESPONSE_BYTES = 1_048_576  # a certificate and a chain are a few kilobytes
JSONObject = dict[str, object]

# What cfssl says about authentication (api/signhandler, auth/auth.go): these are about the
# auth_key option, not about the request.
_AUTH_REQUIRED = "authentication required"
_INVALID_TOKEN = "invalid token"
_NO_PROVIDER = "no authentication provider"


@dataclass(frozen=True)
class Refusal:
    """cfssl's own error: its code and message."""

    code: int | None
    message: str


class CFSSLRefused(Exception):
    """cfssl answered HTTP 400 with an error; the caller decides what it means."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class _PinnedTransport(httpx.BaseTransport):
    """For a private TLS CA (``ca_bundle``): the outbound policy checks every address of the
    host and the connection goes to a checked one, as Lemur's guarded client does
    (lemur.outbound.GuardedTransport), with the bundle as the only trust anchors. SNI and
    certificate verification still use the host name from the URL."""

    def __init__(self, guard: OutboundGuard, verify: ssl.SSLContext) -> None:
        self._guard = guard
        self._inner = httpx.HTTPTransport(verify=verify, trust_env=False, retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.host
        try:
            addresses = self._guard.check_host(host, url.port or 443)
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {host}", request=request) from exc
        request.url = url.copy_with(host=addresses[0])
        request.extensions = {**request.extensions, "sni_hostname": host}
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


@contextlib.contextmanager
def http_client(context: PluginContext, ca_bundle: str | None) -> Iterator[httpx.Client]:
    """The context's guarded client, or (with a CA bundle) a client that applies the same
    outbound policy and trusts only the bundle. Raises PluginConfigurationError when Lemur
    gave no outbound client: the plugin never connects unguarded."""
    if context.http is None or (ca_bundle is not None and context.outbound is None):
        raise PluginConfigurationError(
            "the cfssl issuer needs Lemur's outbound HTTP client, which this context lacks",
            code="outbound_client_missing",
        )
    if ca_bundle is None:
        yield context.http
        return
    assert context.outbound is not None
    verify = ssl.create_default_context(cadata=ca_bundle)
    with httpx.Client(
        transport=_PinnedTransport(context.outbound, verify),
        timeout=context.http.timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "Lemur"},
    ) as client:
        yield client


def signed_request(body: Mapping[str, object], auth_key_hex: str) -> JSONObject:
    """The /authsign envelope (cfssl auth "standard" provider): the request's exact bytes
    base64-encoded, and a token that is the base64 HMAC-SHA256 of those bytes under the
    hex-decoded key."""
    raw = json.dumps(body, separators=(",", ":")).encode()
    token = hmac.new(bytes.fromhex(auth_key_hex), raw, hashlib.sha256).digest()
    return {
        "token": base64.b64encode(token).decode(),
        "request": base64.b64encode(raw).decode(),
    }


def _tls_untrusted(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _read(response: httpx.Response, host: str) -> bytes:
    body = b""
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise PluginRejected(
                f"the answer of cfssl at {host} is larger than {MAX_RESPONSE_BYTES} bytes",
                code="cfssl_answer_too_large",
            )
    return body


def _short(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


def _refusal(payload: object) -> Refusal | None:
    if not isinstance(payload, dict):
        return None
    errors = payload.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("code")
        message = errors[0].get("message")
        return Refusal(
            code if isinstance(code, int) else None,
            _short(message) if isinstance(message, str) else "no reason given",
        )
    message = payload.get("message")  # some handlers answer {"message": "..."}
    return Refusal(None, _short(message)) if isinstance(message, str) else None


def call(
    client: httpx.Client, base_url: str, endpoint: str, body: JSONObject, *, timeout: float
) -> JSONObject:
    """POST ``body`` to ``endpoint`` and return cfssl's ``result``.

    Raises PluginTransientError (unreachable, timeout, 408/429/5xx), CFSSLRefused (HTTP 400
    with cfssl's error), PluginConfigurationError (TLS not trusted, 401/403, 404, an answer
    that is not cfssl's), PluginRejected (other 4xx)."""
    url = f"{base_url}{API_PREFIX}{endpoint}"
    host = httpx.URL(url).host
    try:
        with client.stream(
            "POST",
            url,
            content=json.dumps(body, separators=(",", ":")).encode(),
            headers={"Content-Type": "application/json"},
            timeout=timeout,
        ) as response:
            raw = _read(response, host)
    except httpx.TimeoutException:
        raise PluginTransientError(
            f"cfssl at {host} did not answer within {timeout:g} s", code="cfssl_timeout"
        ) from None
    except httpx.TransportError as exc:
        if _tls_untrusted(exc):
            raise PluginConfigurationError(
                f"the TLS certificate of cfssl at {host} is not trusted; set options.ca_bundle "
                "to the CA that issued it",
                code="cfssl_tls_untrusted",
                field="options.ca_bundle",
            ) from None
        raise PluginTransientError(
            f"cannot reach cfssl at {host} ({type(exc).__name__})", code="cfssl_unreachable"
        ) from None
    status = response.status_code
    try:
        payload: object = json.loads(raw)
    except ValueError:
        payload = None
    if status in (408, 429) or status >= 500:
        raise PluginTransientError(
            f"cfssl at {host} answered HTTP {status}", code="cfssl_unavailable"
        )
    refusal = _refusal(payload)
    if status in (401, 403):
        said = f" ({refusal.message})" if refusal else ""
        raise PluginConfigurationError(
            f"cfssl at {host} refused the credentials (HTTP {status}){said}; check "
            "options.auth_key",
            code="cfssl_auth_failed",
            field="options.auth_key",
        )
    if status == 404:
        raise PluginConfigurationError(
            f"cfssl at {host} has no {API_PREFIX}{endpoint} endpoint (HTTP 404); check that "
            "options.url is the base URL of cfssl serve",
            code="cfssl_endpoint_missing",
            field="options.url",
        )
    if status == 400 and refusal is not None:
        raise CFSSLRefused(refusal)
    if status >= 300:
        raise PluginRejected(
            f"cfssl at {host} answered HTTP {status}" + (f": {refusal.message}" if refusal else ""),
            code="cfssl_rejected",
        )
    if not isinstance(payload, dict) or payload.get("success") is not True:
        raise PluginConfigurationError(
            f"the answer from {host} is not cfssl's (no successful JSON result); check options.url",
            code="cfssl_answer_unexpected",
            field="options.url",
        )
    result = payload.get("result")
    return result if isinstance(result, dict) else {}


def auth_error(refusal: Refusal, profile: str | None) -> PluginConfigurationError | None:
    """The configuration error an authentication refusal stands for, or None when the
    refusal is about something else."""
    named = f"the cfssl profile '{profile}'" if profile else "cfssl's default profile"
    message = refusal.message.lower()
    if _AUTH_REQUIRED in message:
        text = f"{named} requires an auth key; set options.auth_key"
    elif _INVALID_TOKEN in message:
        text = (
            f"cfssl did not accept the auth key for {named} (invalid token); check options.auth_key"
        )
    elif _NO_PROVIDER in message:
        text = (
            f"{named} has no auth key at the CA (cfssl: no authentication provider); "
            "clear options.auth_key or choose the profile that has one"
        )
    else:
        return None
    return PluginConfigurationError(text, code="cfssl_auth_failed", field="options.auth_key")
