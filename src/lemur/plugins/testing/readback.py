"""Reading back what a plugin produced: certificates, keys and chains, parsed with
pyca/cryptography (and Java KeyStores with pyjks)."""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from lemur.crypto.jks import JKS_MAGIC, read_jks

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)


def fingerprint(cert: x509.Certificate) -> bytes:
    return cert.fingerprint(hashes.SHA256())


def assert_chain_links(certificates: Sequence[x509.Certificate]) -> None:
    """Assert each certificate is signed by the next one (``verify_directly_issued_by``)
    and every certificate after the first is a CA."""
    for child, parent in itertools.pairwise(certificates):
        try:
            child.verify_directly_issued_by(parent)
        except Exception as exc:
            raise AssertionError(
                f"{child.subject.rfc4514_string()!r} is not signed by the next certificate "
                f"in the chain, {parent.subject.rfc4514_string()!r}: {exc}"
            ) from exc
        constraints = parent.extensions.get_extension_for_class(x509.BasicConstraints).value
        assert constraints.ca, f"{parent.subject.rfc4514_string()!r} in the chain is not a CA"


@dataclass(frozen=True)
class ReadBack:
    """What an export contains, parsed back with pyca/cryptography."""

    certificates: tuple[x509.Certificate, ...]
    private_key: PrivateKeyTypes | None


def read_back(content: bytes, passphrase: bytes | None) -> ReadBack:
    """Parse exported bytes: PEM (certificates, PKCS#8/PKCS#1/SEC 1 keys, PKCS#7), DER
    (a certificate, PKCS#7, PKCS#12, a PKCS#8 key) or a Java KeyStore (its integrity checked
    with ``passphrase`` when given). Raises AssertionError when nothing in it parses."""
    if content.startswith(JKS_MAGIC):
        return _read_back_jks(content, passphrase)
    if content.lstrip().startswith(b"-----BEGIN"):
        certs: list[x509.Certificate] = []
        key: PrivateKeyTypes | None = None
        blocks = list(_PEM_BLOCK.finditer(content))
        assert blocks, "the PEM output has no complete PEM block"
        for block in blocks:
            label, data = block.group(1), block.group(0)
            if label == b"CERTIFICATE":
                certs.append(x509.load_pem_x509_certificate(data))
            elif label == b"PKCS7":
                certs.extend(pkcs7.load_pem_pkcs7_certificates(data))
            elif label.endswith(b"PRIVATE KEY"):
                assert key is None, "the PEM output holds two private keys"
                encrypted = label == b"ENCRYPTED PRIVATE KEY"
                key = serialization.load_pem_private_key(
                    data, password=passphrase if encrypted else None
                )
            else:
                raise AssertionError(f"unexpected PEM block {label.decode()!r}")
        return ReadBack(tuple(certs), key)
    with contextlib.suppress(ValueError):
        return ReadBack((x509.load_der_x509_certificate(content),), None)
    with contextlib.suppress(ValueError):
        return ReadBack(tuple(pkcs7.load_der_pkcs7_certificates(content)), None)
    with contextlib.suppress(ValueError):
        loaded = pkcs12.load_pkcs12(content, passphrase)
        certs = [] if loaded.cert is None else [loaded.cert.certificate]
        certs += [c.certificate for c in loaded.additional_certs]
        return ReadBack(tuple(certs), loaded.key)
    with contextlib.suppress(ValueError, TypeError):
        return ReadBack((), serialization.load_der_private_key(content, password=passphrase))
    raise AssertionError("the output is not PEM, DER, PKCS#7, PKCS#12 or a PKCS#8 key")


def _read_back_jks(content: bytes, passphrase: bytes | None) -> ReadBack:
    try:
        store = read_jks(content, passphrase)
    except ValueError as exc:
        raise AssertionError(str(exc)) from exc
    assert len(store.private_keys) <= 1, "the keystore holds more than one private key"
    key: PrivateKeyTypes | None = None
    certs: list[x509.Certificate] = list(store.trusted.values())
    for entry_key, chain in store.private_keys.values():
        assert_chain_links(chain)
        certs.extend(chain)
        key = entry_key
    return ReadBack(tuple(certs), key)


def unencrypted_key_forms(key: PrivateKeyTypes) -> list[bytes]:
    return [
        key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    ]
