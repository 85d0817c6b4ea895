"""Checking what an endpoint serves: a TLS handshake (with SNI) through the outbound policy,
the leaf compared by fingerprint, the presented chain verified to the trust anchor.

The handshake itself trusts nothing (CERT_NONE): Lemur wants to see what is served, then
decides with cryptography's verifier whether the presented chain leads from the leaf to
the root Lemur expects (the authority's). A server that was reloaded may need a moment
before new connections get the new certificate: the check retries for a few seconds.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from lemur.errors import LemurError
from lemur.plugins.values import OutboundGuard

HANDSHAKE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Served:
    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # as presented, the leaf first


def fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


def handshake(
    guard: OutboundGuard, host: str, port: int, sni: str | None, *, timeout: float
) -> Served:
    """What ``host:port`` presents for ``sni``. Raises OSError (ssl.SSLError included) and
    the guard's refusal for a denied address."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    raw = guard.connect(host, port, timeout)
    with raw, context.wrap_socket(raw, server_hostname=sni or None) as tls:
        der = tls.getpeercert(binary_form=True)
        if der is None:
            raise ssl.SSLError("the server presented no certificate")
        chain_der = [
            c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER)  # type: ignore[attr-defined]
            for c in (tls._sslobj.get_unverified_chain() or [])  # type: ignore[attr-defined]
        ]
    return Served(
        leaf=x509.load_der_x509_certificate(der),
        chain=tuple(x509.load_der_x509_certificate(c) for c in chain_der),
    )


def chain_problem(
    served: Served, anchors: Sequence[x509.Certificate], name: str, now: dt.datetime
) -> str | None:
    """None when the presented chain verifies from the leaf to one of ``anchors`` as a
    server certificate for ``name`` (the SNI name, else the host); otherwise why not."""
    if not anchors:
        return None
    subject: x509.DNSName | x509.IPAddress
    try:
        subject = x509.IPAddress(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        subject = x509.DNSName(name)
    intermediates = [c for c in served.chain if c != served.leaf]
    try:
        verifier = PolicyBuilder().store(Store(list(anchors))).time(now)
        verifier.build_server_verifier(subject).verify(served.leaf, intermediates)
    except VerificationError as exc:
        return f"the presented chain does not verify: {str(exc)[:200]}"
    except ValueError as exc:  # a name cryptography's verifier cannot take
        return f"the presented chain could not be checked: {str(exc)[:200]}"
    return None


@dataclass(frozen=True)
class EndpointCheck:
    ok: bool
    seen: str | None  # fingerprint of the leaf served, when the handshake succeeded
    problem: str | None


def check_endpoint(
    guard: OutboundGuard,
    host: str,
    port: int,
    sni: str | None,
    *,
    expected: x509.Certificate,
    anchors: Sequence[x509.Certificate],
    now: dt.datetime,
    patience: float = 5.0,
) -> EndpointCheck:
    """Handshake until ``expected`` is served (at most ``patience`` seconds), then check
    the chain. The problem names the endpoint and what was served instead."""
    want = fingerprint(expected)
    deadline = time.monotonic() + patience
    where = f"{host}:{port}" + (f" (SNI {sni})" if sni else "")
    while True:
        try:
            served = handshake(guard, host, port, sni, timeout=HANDSHAKE_TIMEOUT)
        except LemurError as exc:  # the outbound policy refuses the address: no retry helps
            return EndpointCheck(ok=False, seen=None, problem=f"{where}: {exc.message}")
        except (OSError, ValueError) as exc:
            problem = f"{where}: TLS handshake failed: {_said(exc)}"
            seen = None
        else:
            seen = fingerprint(served.leaf)
            if seen == want:
                bad = chain_problem(served, anchors, sni or host, now)
                if bad is None:
                    return EndpointCheck(ok=True, seen=seen, problem=None)
                return EndpointCheck(ok=False, seen=seen, problem=f"{where}: {bad}")
            problem = (
                f"{where} serves another certificate (SHA-256 {seen[:16]}...), not the "
                f"deployed one ({want[:16]}...)"
            )
        if time.monotonic() >= deadline:
            return EndpointCheck(ok=False, seen=seen, problem=problem)
        time.sleep(0.25)


def _said(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text[:200]
