"""Serializing a certificate, its chain and (on an audited export) its key for deployment."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12

from lemur.crypto.keys import PrivateKey, check_key_matches_certificate, private_key_to_pem
from lemur.crypto.parsing import certificate_to_der, certificates_to_pem
from lemur.errors import InvalidInput

# OWASP (2023) PBKDF2-HMAC-SHA256 guidance is 600,000 iterations; PKCS#12 readers on
# constrained devices are slow, so stay at a still-strong but quicker 200,000.
_PKCS12_KDF_ROUNDS = 200_000


def pkcs12_bundle(
    *,
    key: PrivateKey,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    passphrase: bytes,
    friendly_name: str | None = None,
) -> bytes:
    """A PKCS#12 file (RFC 7292) with the key, certificate and chain.

    Uses PBES2 with AES-256-CBC and PBKDF2-HMAC-SHA256 (RFC 8018) and a SHA-256 MAC rather
    than the legacy RC2/3DES defaults, which OpenSSL 3 rejects without its legacy provider.
    Raises InvalidInput (``key_mismatch``, ``passphrase_required``).
    """
    if not passphrase:
        raise InvalidInput(
            "a PKCS#12 export needs a passphrase", code="passphrase_required", field="passphrase"
        )
    check_key_matches_certificate(key, cert, field="key")
    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(_PKCS12_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(passphrase)
    )
    return pkcs12.serialize_key_and_certificates(
        friendly_name.encode("utf-8") if friendly_name else None,
        key,
        cert,
        list(chain) or None,
        encryption,
    )


def der_certificate(cert: x509.Certificate) -> bytes:
    """The certificate alone, DER encoded (``.cer`` / ``.der`` files)."""
    return certificate_to_der(cert)


def pem_bundle(
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    key: PrivateKey | None = None,
    *,
    key_passphrase: bytes | None = None,
) -> bytes:
    """PEM text: the certificate, then the chain (RFC 8446 §4.4.2 order), then the key.

    The key is PKCS#8, encrypted when ``key_passphrase`` is given. Raises
    InvalidInput(key_mismatch) if the key is not the certificate's.
    """
    text = certificates_to_pem([cert, *chain])
    if key is not None:
        check_key_matches_certificate(key, cert, field="key")
        text += private_key_to_pem(key, key_passphrase)
    return text
