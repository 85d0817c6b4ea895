"""The ACME client of one operation: the acme library's ClientV2 over a requests session
whose adapter checks every host against Lemur's outbound policy and trusts ``ca_bundle``
(only it) when one is given, and the translation of the library's errors into plugin errors
in plain words (never carrying a secret)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import requests
from acme import client as acme_client
from acme import errors as acme_errors
from acme import messages
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from josepy.errors import DeserializationError
from josepy.jwa import ES256, ES384, RS256, JWASignature
from josepy.jwk import JWK, JWKEC, JWKRSA
from requests.adapters import HTTPAdapter

from lemur.builtin.acme.options import ACMEOptions, load_account_key
from lemur.plugins.errors import (
    PluginConfigurationError,
    PluginError,
    PluginRejected,
    PluginTransientError,
)
from lemur.plugins.values import OutboundGuard

USER_AGENT = "Lemur (acme issuer)"
# Problem types (RFC 8555 §6.7) worth retrying: the CA is busy or the nonce raced.
_TRANSIENT_PROBLEMS = frozenset({"rateLimited", "serverInternal", "badNonce"})


class GuardedAdapter(HTTPAdapter):
    """Checks each request's host with the outbound policy before connecting (the CA hands
    out order, authorization and certificate URLs, which may name other hosts) and, with a
    private CA bundle, verifies TLS against it alone."""

    def __init__(self, *, guard: OutboundGuard | None, ssl_context: ssl.SSLContext | None) -> None:
        self._guard = guard
        self._ssl_context = ssl_context
        self._checked: set[tuple[str, int]] = set()
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        if self._ssl_context is not None:
            kwargs["ssl_context"] = self._ssl_context
        super().init_poolmanager(*args, **kwargs)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)
        if self._ssl_context is not None:
            # requests would add its own CA file to the context; trust the bundle alone.
            conn.ca_certs = None
            conn.ca_cert_dir = None

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        if self._guard is not None and request.url:
            parts = urlsplit(request.url)
            host = parts.hostname or ""
            port = parts.port or (443 if parts.scheme == "https" else 80)
            if (host, port) not in self._checked:
                self._guard.check_host(host, port)
                self._checked.add((host, port))
        return super().send(request, *args, **kwargs)


def account_jwk(pem: str) -> tuple[JWK, JWASignature]:
    """The account key as a JWK and its JWS algorithm (RFC 7518 §3.1)."""
    key = load_account_key(pem)
    if isinstance(key, rsa.RSAPrivateKey):
        return JWKRSA(key=key), RS256
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    alg = ES256 if key.curve.name == "secp256r1" else ES384
    return JWKEC(key=key), alg


def host_of(url: str) -> str:
    try:
        return urlsplit(url).netloc or "the ACME server"
    except ValueError:
        return "the ACME server"


class Redactor:
    """Removes the options' secrets from any text a CA or library produced, before it goes
    into an error message or a log line."""

    def __init__(self, options: ACMEOptions) -> None:
        values = [options.eab_hmac_key, options.tsig_secret, options.account_key]
        self._secrets = [v.get_secret_value() for v in values if v is not None]

    def __call__(self, text: str) -> str:
        text = " ".join(str(text).split())[:400]
        for secret in self._secrets:
            if secret.strip():
                text = text.replace(secret.strip(), "[secret]")
        return text


@contextlib.contextmanager
def open_client(
    options: ACMEOptions,
    *,
    guard: OutboundGuard | None,
    key: JWK | None,
    alg: JWASignature,
    account_url: str | None,
) -> Iterator[acme_client.ClientV2]:
    """A ClientV2 with the directory fetched; the account set when ``account_url`` is given
    (requests are then signed with its key ID). Raises plugin errors (see :func:`translate`)."""
    context = ssl.create_default_context(cadata=options.ca_bundle) if options.ca_bundle else None
    net = acme_client.ClientNetwork(
        key, alg=alg, user_agent=USER_AGENT, timeout=int(max(1, options.timeout))
    )
    net.session.trust_env = False  # a proxy would resolve the name itself
    adapter = GuardedAdapter(guard=guard, ssl_context=context)
    net.session.mount("https://", adapter)
    net.session.mount("http://", adapter)
    redact = Redactor(options)
    try:
        with translated(options, redact, during="reading the ACME directory", directory=True):
            directory = acme_client.ClientV2.get_directory(options.directory_url, net)
        if not _has(directory, "newAccount") or not _has(directory, "newOrder"):
            raise PluginConfigurationError(
                f"{host_of(options.directory_url)} answered, but not with an ACME directory "
                "(no newAccount or newOrder)",
                code="acme_not_a_directory",
                field="options.directory_url",
            )
        if account_url is not None:
            net.account = messages.RegistrationResource(
                uri=account_url, body=messages.Registration()
            )
        yield acme_client.ClientV2(directory, net)
    finally:
        net.session.close()


def _has(directory: messages.Directory, name: str) -> bool:
    try:
        directory[name]
    except KeyError:
        return False
    return True


@contextlib.contextmanager
def translated(
    options: ACMEOptions, redact: Redactor, *, during: str, directory: bool = False
) -> Iterator[None]:
    """Turns what the acme library and requests raise into plugin errors."""
    try:
        yield
    except PluginError:
        raise
    except messages.Error as exc:
        raise problem_error(exc, redact, during=during) from None
    except (requests.exceptions.SSLError, ssl.SSLError):
        raise PluginConfigurationError(
            f"the TLS certificate of {host_of(options.directory_url)} is not trusted "
            "(set ca_bundle to the CA that signed it)",
            code="acme_tls_untrusted",
            field="options.ca_bundle",
        ) from None
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        raise PluginTransientError(
            f"cannot reach the ACME server at {host_of(options.directory_url)} while "
            f"{during} ({type(exc).__name__})",
            code="peer_unreachable",
        ) from None
    except OSError as exc:
        raise PluginTransientError(
            f"cannot resolve or reach {host_of(options.directory_url)} while {during} "
            f"({type(exc).__name__})",
            code="peer_unreachable",
        ) from None
    except acme_errors.ClientError as exc:
        status = _status_of(exc)
        if status is not None and (status >= 500 or status == 429):
            raise PluginTransientError(
                f"the ACME server at {host_of(options.directory_url)} answered HTTP {status} "
                f"while {during}",
                code="peer_unavailable",
            ) from None
        shown = f"HTTP {status}" if status is not None else "an unexpected reply"
        if directory:
            raise PluginConfigurationError(
                f"{host_of(options.directory_url)} answered {shown}: this is not an ACME "
                "directory URL",
                code="acme_not_a_directory",
                field="options.directory_url",
            ) from None
        raise PluginRejected(
            f"the ACME server answered {shown} while {during}", code="acme_error"
        ) from None
    except (
        ValueError,
        DeserializationError,
        acme_errors.Error,
        requests.exceptions.RequestException,
    ) as exc:
        if directory:
            raise PluginConfigurationError(
                f"{host_of(options.directory_url)} did not answer with an ACME directory "
                f"({type(exc).__name__})",
                code="acme_not_a_directory",
                field="options.directory_url",
            ) from None
        raise PluginRejected(
            f"the ACME server's reply could not be understood while {during} "
            f"({type(exc).__name__})",
            code="acme_error",
        ) from None


def _status_of(exc: acme_errors.ClientError) -> int | None:
    for arg in exc.args:
        candidates = arg if isinstance(arg, tuple) else (arg,)
        for item in candidates:
            if isinstance(item, requests.Response):
                return item.status_code
    return None


def problem_error(exc: messages.Error, redact: Redactor, *, during: str) -> PluginError:
    """A plugin error for an RFC 8555 §6.7 problem document, with the CA's words."""
    code = exc.code or "problem"
    said = redact(exc.detail or exc.description or code)
    sub = "; ".join(
        f"{sp.identifier.value if sp.identifier else '?'}: {redact(sp.detail or sp.typ or '')}"
        for sp in (exc.subproblems or ())
    )
    text = f"the CA refused {during}: {said}" + (f" ({sub})" if sub else "") + f" [{code}]"
    if code in _TRANSIENT_PROBLEMS:
        return PluginTransientError(
            f"the CA asks to try again later ({during}): {said} [{code}]",
            code="peer_unavailable",
        )
    if code == "externalAccountRequired":
        return PluginConfigurationError(
            "the CA requires External Account Binding: set eab_kid and eab_hmac_key from the CA",
            code="acme_eab_required",
            field="options.eab_kid",
        )
    if code == "accountDoesNotExist":
        return PluginConfigurationError(
            "the CA has no account for this account key: connect the authority again",
            code="acme_account_missing",
            field="options.account_url",
        )
    if code == "userActionRequired":
        return PluginConfigurationError(text, code="acme_user_action_required")
    return PluginRejected(text, code=f"acme_{_snake(code)}")


def _snake(code: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in code)
