"""A bundle as IAM and ACM take it: PEM text, the key in its traditional form (PKCS#1 for
RSA, SEC 1 for EC), which both services accept (IAM's documentation shows only that one),
and certificates read back from their answers to compare by fingerprint."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from lemur.plugins.errors import PluginRejected
from lemur.plugins.values import Bundle


@dataclass(frozen=True)
class Material:
    body: str
    chain: str | None  # None: the bundle has no chain (AWS refuses an empty one)
    private_key: str


def material(bundle: Bundle, service: str, code_prefix: str) -> Material:
    """The bundle's PEM texts. Raises PluginRejected when there is no key or AWS cannot
    hold its type (Ed25519)."""
    key = bundle.private_key
    if key is None:
        raise PluginRejected(
            f"{service} serves a certificate only with its private key, and this bundle has none",
            code=f"{code_prefix}_key_required",
        )
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PluginRejected(
            f"{service} takes RSA and EC keys only, not {type(key).__name__}",
            code=f"{code_prefix}_key_type",
        )
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    chain = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in bundle.chain)
    return Material(
        body=bundle.certificate.public_bytes(serialization.Encoding.PEM).decode(),
        chain=chain or None,
        private_key=pem.decode(),
    )


def fingerprint(certificate: x509.Certificate) -> bytes:
    return certificate.fingerprint(hashes.SHA256())


def same_certificate(pem: str | None, certificate: x509.Certificate) -> bool:
    """Whether the PEM text AWS returned is ``certificate`` (False when it does not parse:
    then it is not ours)."""
    if not pem:
        return False
    try:
        held = x509.load_pem_x509_certificate(pem.strip().encode())
    except ValueError:
        return False
    return fingerprint(held) == fingerprint(certificate)
