"""Java KeyStores (JKS), written and read with pyjks.

JKS is Java's legacy keystore format (the default before Java 9): a private key entry holds
the PKCS#8 key, protected with Sun's proprietary SHA-1 keystream scheme, and its certificate
chain; trusted certificate entries hold certificates alone; a SHA-1 digest keyed with the
store password guards the whole file's integrity. It is offered for Java applications that
still need it; PKCS#12 (AES-256, PBKDF2) is the stronger choice wherever it is accepted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import jks
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from lemur.crypto.keys import PrivateKey, check_key_matches_certificate
from lemur.errors import InvalidInput

# The first bytes of every JKS file (sun.security.provider.JavaKeyStore).
JKS_MAGIC = b"\xfe\xed\xfe\xed"
# The JDK's truststores (cacerts) use this password; a truststore holds only public
# certificates, so its password guards integrity, not secrecy.
DEFAULT_TRUSTSTORE_PASSWORD = "changeit"


@dataclass(frozen=True)
class KeystoreContents:
    """What a JKS file holds, read back: the private key entries (alias -> key and chain)
    and the trusted certificate entries (alias -> certificate)."""

    private_keys: dict[str, tuple[PrivateKey, tuple[x509.Certificate, ...]]]
    trusted: dict[str, x509.Certificate]


def _password(passphrase: bytes) -> str:
    """The store password as Java sees it (characters, hashed as UTF-16BE)."""
    try:
        return passphrase.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            "a JKS passphrase must be UTF-8 text", code="invalid_passphrase", field="passphrase"
        ) from exc


def _millis(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def jks_keystore(
    *,
    key: PrivateKey,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    passphrase: bytes,
    alias: str,
    created_at: dt.datetime,
) -> bytes:
    """A JKS file with one private key entry (``alias``, lowercased as Java stores it): the
    key and the certificate followed by its chain, nearest issuer first. The key and the
    store are protected with ``passphrase``. Raises InvalidInput (``key_mismatch``,
    ``invalid_passphrase``)."""
    check_key_matches_certificate(key, cert, field="key")
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    entry = jks.PrivateKeyEntry.new(alias, [_der(cert), *(_der(c) for c in chain)], pkcs8)
    entry.timestamp = _millis(created_at)
    return jks.KeyStore.new("jks", [entry]).saves(_password(passphrase))


def jks_truststore(
    *,
    certificates: Sequence[tuple[str, x509.Certificate]],
    passphrase: bytes | None,
    created_at: dt.datetime,
) -> bytes:
    """A JKS file of trusted certificate entries, one per (alias, certificate). Without a
    passphrase the store password is the JDK's ``changeit``."""
    entries = []
    for alias, cert in certificates:
        entry = jks.TrustedCertEntry.new(alias, _der(cert))
        entry.timestamp = _millis(created_at)
        entries.append(entry)
    password = DEFAULT_TRUSTSTORE_PASSWORD if passphrase is None else _password(passphrase)
    return jks.KeyStore.new("jks", entries).saves(password)


def read_jks(content: bytes, passphrase: bytes | None) -> KeystoreContents:
    """Parse a JKS file. With a passphrase its integrity is checked and private keys are
    decrypted; without, only the certificates are read. Raises ValueError for anything that
    is not a JKS file or does not open with the passphrase."""
    password = None if passphrase is None else passphrase.decode("utf-8", "replace")
    try:
        store = jks.KeyStore.loads(content, password, try_decrypt_keys=password is not None)
    except jks.util.KeystoreException as exc:
        raise ValueError(f"not a JKS file this passphrase opens: {exc}") from exc
    keys: dict[str, tuple[PrivateKey, tuple[x509.Certificate, ...]]] = {}
    for alias, pk in store.private_keys.items():
        if not pk.is_decrypted():
            raise ValueError(f"the private key entry '{alias}' does not open with the passphrase")
        loaded = serialization.load_der_private_key(pk.pkey_pkcs8, password=None)
        chain = tuple(x509.load_der_x509_certificate(der) for _kind, der in pk.cert_chain)
        keys[alias] = (loaded, chain)  # type: ignore[assignment]
    trusted = {
        alias: x509.load_der_x509_certificate(entry.cert) for alias, entry in store.certs.items()
    }
    return KeystoreContents(keys, trusted)
