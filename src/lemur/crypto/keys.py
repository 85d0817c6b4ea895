"""Private and public keys: the key types Lemur issues for, generation, PEM/DER round trips.

Only the key types in :class:`KeySpec` are generated or certified. Loading is more lenient
(any RSA, EC or Ed25519 key loads) so that imported material can at least be inspected;
callers that enforce policy call :func:`key_spec_of`.
"""

from __future__ import annotations

import enum

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.x509 import Certificate

from lemur.errors import InvalidInput

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

# NIST SP 800-56B and the CA/B Forum BRs (§6.1.5) both expect e = 65537.
_RSA_PUBLIC_EXPONENT = 65537


class KeySpec(enum.StrEnum):
    """A key type and size Lemur generates keys for and issues certificates to."""

    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"
    ED25519 = "ed25519"

    @property
    def slow_to_generate(self) -> bool:
        """RSA key generation takes tens of milliseconds (RSA-4096: up to a second); EC and
        Ed25519 keys take microseconds."""
        return self.value.startswith("rsa-")


_RSA_SPECS = {2048: KeySpec.RSA_2048, 3072: KeySpec.RSA_3072, 4096: KeySpec.RSA_4096}
_EC_SPECS: dict[str, KeySpec] = {"secp256r1": KeySpec.EC_P256, "secp384r1": KeySpec.EC_P384}


def generate_private_key(spec: KeySpec) -> PrivateKey:
    """Generate a new private key of the given spec (from the OS CSPRNG via OpenSSL)."""
    match spec:
        case KeySpec.EC_P256:
            return ec.generate_private_key(ec.SECP256R1())
        case KeySpec.EC_P384:
            return ec.generate_private_key(ec.SECP384R1())
        case KeySpec.RSA_2048 | KeySpec.RSA_3072 | KeySpec.RSA_4096:
            size = int(spec.value.removeprefix("rsa-"))
            return rsa.generate_private_key(public_exponent=_RSA_PUBLIC_EXPONENT, key_size=size)
        case KeySpec.ED25519:
            return ed25519.Ed25519PrivateKey.generate()


def describe_key_type(public_key: PublicKeyTypes | CertificatePublicKeyTypes) -> str:
    """A short human description such as ``RSA-1024`` or ``EC secp521r1``, for messages."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA-{public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC {public_key.curve.name}"
    return type(public_key).__name__.removesuffix("PublicKey").lstrip("_")


def key_spec_of(
    public_key: PublicKeyTypes | CertificatePublicKeyTypes, *, field: str | None = None
) -> KeySpec:
    """Return the :class:`KeySpec` of a public key.

    Raises InvalidInput(unsupported_key_type) for anything else (RSA-1024, P-521, DSA, ...).
    """
    if isinstance(public_key, rsa.RSAPublicKey):
        spec = _RSA_SPECS.get(public_key.key_size)
        # A non-standard exponent (e.g. 3) is a known weakness; BR §6.1.6 forbids it too.
        if spec is not None and public_key.public_numbers().e == _RSA_PUBLIC_EXPONENT:
            return spec
        if spec is not None:
            raise InvalidInput(
                "RSA public exponent must be 65537", code="unsupported_key_type", field=field
            )
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        spec = _EC_SPECS.get(public_key.curve.name)
        if spec is not None:
            return spec
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        return KeySpec.ED25519
    supported = ", ".join(s.value for s in KeySpec)
    raise InvalidInput(
        f"key type {describe_key_type(public_key)} is not supported; use one of {supported}",
        code="unsupported_key_type",
        field=field,
    )


def private_key_to_pem(key: PrivateKey, passphrase: bytes | None = None) -> bytes:
    """Serialize as PKCS#8 PEM (RFC 5958), encrypted when a passphrase is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def load_private_key(
    data: bytes, passphrase: bytes | None = None, *, field: str | None = None
) -> PrivateKey:
    """Load a PEM or DER private key (PKCS#8, or traditional PKCS#1 / SEC 1 formats).

    Raises InvalidInput with code ``invalid_private_key`` (malformed),
    ``private_key_bad_passphrase`` (encrypted and the passphrase is missing or wrong, or a
    passphrase was given for an unencrypted key) or ``unsupported_key_type``.
    """
    if not data.strip():
        raise InvalidInput("no private key data was given", code="invalid_private_key", field=field)
    is_pem = data.lstrip().startswith(b"-----BEGIN")
    loader = serialization.load_pem_private_key if is_pem else serialization.load_der_private_key
    try:
        key: PrivateKeyTypes = loader(data, password=passphrase or None)
    except TypeError as exc:
        # cryptography signals "password missing" / "password given but not encrypted" this way.
        msg = (
            "the private key is encrypted; a passphrase is required"
            if not passphrase
            else "a passphrase was given but the private key is not encrypted"
        )
        raise InvalidInput(msg, code="private_key_bad_passphrase", field=field) from exc
    except UnsupportedAlgorithm as exc:
        raise InvalidInput(
            "the private key uses an unsupported algorithm or encryption",
            code="unsupported_key_type",
            field=field,
        ) from exc
    except ValueError as exc:
        if passphrase and _looks_encrypted(data, is_pem=is_pem):
            raise InvalidInput(
                "the passphrase does not decrypt the private key",
                code="private_key_bad_passphrase",
                field=field,
            ) from exc
        kind = "PEM" if is_pem else "DER"
        raise InvalidInput(
            f"could not parse the private key as {kind} (PKCS#8, PKCS#1 or SEC 1)",
            code="invalid_private_key",
            field=field,
        ) from exc
    if not isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise InvalidInput(
            f"key type {describe_key_type(key.public_key())} is not supported",
            code="unsupported_key_type",
            field=field,
        )
    return key


def _looks_encrypted(data: bytes, *, is_pem: bool) -> bool:
    if is_pem:
        return b"ENCRYPTED" in data
    # DER EncryptedPrivateKeyInfo (RFC 5958 §3) cannot be told apart cheaply; a passphrase
    # was given, so a decryption failure is the likelier cause.
    return True


def public_key_der(public_key: PublicKeyTypes | CertificatePublicKeyTypes) -> bytes:
    """The DER SubjectPublicKeyInfo, a canonical form for comparing keys."""
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_keys_equal(
    a: PublicKeyTypes | CertificatePublicKeyTypes, b: PublicKeyTypes | CertificatePublicKeyTypes
) -> bool:
    """True when both are the same key (compared as DER SubjectPublicKeyInfo)."""
    return public_key_der(a) == public_key_der(b)


def key_matches_certificate(key: PrivateKey, cert: Certificate) -> bool:
    """True when ``key`` is the private half of the certificate's public key."""
    return public_keys_equal(key.public_key(), cert.public_key())


def check_key_matches_certificate(
    key: PrivateKey, cert: Certificate, *, field: str | None = None
) -> None:
    """Raise InvalidInput(key_mismatch) unless ``key`` belongs to ``cert``."""
    if not key_matches_certificate(key, cert):
        raise InvalidInput(
            "the private key does not match the certificate's public key",
            code="key_mismatch",
            field=field,
        )
