"""A flat, cheap description of a certificate for the inventory, API and UI.

This runs for every imported or discovered certificate, so it does one pass over the
extensions and hashes the DER twice (SHA-256, SHA-1); nothing is verified here.
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from lemur.crypto.keys import KeySpec, key_spec_of
from lemur.crypto.names import SubjectAltNames
from lemur.errors import InvalidInput

_KEY_USAGE_NAMES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


@dataclass(frozen=True, slots=True)
class ExtensionInfo:
    oid: str
    name: str
    critical: bool
    value: str


@dataclass(frozen=True, slots=True)
class CertificateDetails:
    subject: str
    common_name: str | None
    issuer: str
    issuer_common_name: str | None
    sans: SubjectAltNames
    not_valid_before: datetime.datetime
    not_valid_after: datetime.datetime
    serial_number: int
    serial_hex: str
    key_spec: KeySpec | None
    key_type: str
    key_size: int | None
    signature_algorithm: str
    sha256_fingerprint: str
    sha1_fingerprint: str
    is_ca: bool
    path_length: int | None
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    extensions: tuple[ExtensionInfo, ...]


def oid_name(oid: x509.ObjectIdentifier) -> str:
    """The conventional name of an OID (``serverAuth``), or its dotted form if unknown."""
    # ObjectIdentifier._name is typed in cryptography's stubs; it knows every OID the
    # library defines and says "Unknown OID" otherwise.
    name = oid._name
    return oid.dotted_string if name == "Unknown OID" else name


def common_name_of(name: x509.Name) -> str | None:
    """The last commonName in the name (the most specific one), or None."""
    attributes = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attributes:
        return None
    value = attributes[-1].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _key_facts(key: CertificatePublicKeyTypes) -> tuple[KeySpec | None, str, int | None]:
    try:
        spec: KeySpec | None = key_spec_of(key)
    except InvalidInput:
        spec = None
    if isinstance(key, rsa.RSAPublicKey):
        return spec, "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return spec, "EC", key.curve.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return spec, "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return spec, "Ed448", 456
    if isinstance(key, dsa.DSAPublicKey):
        return spec, "DSA", key.key_size
    return spec, type(key).__name__.removesuffix("PublicKey"), None


def _general_name(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DNSName):
        return f"DNS:{name.value}"
    if isinstance(name, x509.IPAddress):
        return f"IP:{name.value}"
    if isinstance(name, x509.RFC822Name):
        return f"email:{name.value}"
    if isinstance(name, x509.UniformResourceIdentifier):
        return f"URI:{name.value}"
    if isinstance(name, x509.DirectoryName):
        return f"DirName:{name.value.rfc4514_string()}"
    if isinstance(name, x509.RegisteredID):
        return f"RID:{name.value.dotted_string}"
    if isinstance(name, x509.OtherName):
        return f"othername:{name.type_id.dotted_string}"
    return type(name).__name__


def _general_names(names: list[x509.GeneralName] | None) -> str:
    return ", ".join(_general_name(n) for n in names or [])


def _key_usage_names(usage: x509.KeyUsage) -> tuple[str, ...]:
    names = [n for n in _KEY_USAGE_NAMES if getattr(usage, n)]
    # encipher_only/decipher_only raise unless key_agreement is set (RFC 5280 §4.2.1.3).
    if usage.key_agreement:
        names += [n for n in ("encipher_only", "decipher_only") if getattr(usage, n)]
    return tuple(names)


def _render(value: x509.ExtensionType) -> str:
    """A one-line, human-readable rendering of an extension value (openssl-like)."""
    match value:
        case x509.BasicConstraints():
            text = f"CA:{'TRUE' if value.ca else 'FALSE'}"
            return text if value.path_length is None else f"{text}, pathlen:{value.path_length}"
        case x509.KeyUsage():
            return ", ".join(_key_usage_names(value))
        case x509.ExtendedKeyUsage():
            return ", ".join(oid_name(o) for o in value)
        case x509.SubjectAlternativeName() | x509.IssuerAlternativeName():
            return _general_names(list(value))
        case x509.SubjectKeyIdentifier():
            return value.digest.hex()
        case x509.AuthorityKeyIdentifier():
            return "" if value.key_identifier is None else f"keyid:{value.key_identifier.hex()}"
        case x509.AuthorityInformationAccess():
            return "; ".join(
                f"{oid_name(d.access_method)}: {_general_name(d.access_location)}" for d in value
            )
        case x509.CRLDistributionPoints():
            return "; ".join(_general_names(d.full_name) for d in value)
        case x509.CertificatePolicies():
            return ", ".join(oid_name(p.policy_identifier) for p in value)
        case x509.NameConstraints():
            parts = []
            if value.permitted_subtrees:
                parts.append(f"permitted: {_general_names(value.permitted_subtrees)}")
            if value.excluded_subtrees:
                parts.append(f"excluded: {_general_names(value.excluded_subtrees)}")
            return "; ".join(parts)
        case x509.PrecertificateSignedCertificateTimestamps():
            return f"{len(value)} signed certificate timestamps"
        case x509.UnrecognizedExtension():
            return value.value.hex()
        case _:
            return type(value).__name__


@functools.lru_cache(maxsize=1024)
def _extension_info(ext: x509.Extension[x509.ExtensionType]) -> ExtensionInfo:
    """Cached: most extensions of a certificate (key usages, the issuer's key identifier,
    revocation URLs) are the same in every certificate of its authority."""
    return ExtensionInfo(ext.oid.dotted_string, oid_name(ext.oid), ext.critical, _render(ext.value))


def describe_certificate(cert: x509.Certificate) -> CertificateDetails:
    """Describe a certificate. Raises InvalidInput(invalid_extension) for a malformed extension."""
    try:
        extensions = cert.extensions
    except ValueError as exc:
        raise InvalidInput(
            f"the certificate has a malformed or duplicate extension: {exc}",
            code="invalid_extension",
        ) from exc
    sans = SubjectAltNames()
    is_ca, path_length = False, None
    key_usage: tuple[str, ...] = ()
    eku: tuple[str, ...] = ()
    infos = []
    for ext in extensions:
        value = ext.value
        if isinstance(value, x509.SubjectAlternativeName):
            sans = SubjectAltNames.from_extension(value)
        elif isinstance(value, x509.BasicConstraints):
            is_ca, path_length = value.ca, value.path_length
        elif isinstance(value, x509.KeyUsage):
            key_usage = _key_usage_names(value)
        elif isinstance(value, x509.ExtendedKeyUsage):
            eku = tuple(oid_name(o) for o in value)
        infos.append(_extension_info(ext))

    key_spec, key_type, key_size = _key_facts(cert.public_key())
    return CertificateDetails(
        subject=cert.subject.rfc4514_string(),
        common_name=common_name_of(cert.subject),
        issuer=cert.issuer.rfc4514_string(),
        issuer_common_name=common_name_of(cert.issuer),
        sans=sans,
        not_valid_before=cert.not_valid_before_utc,
        not_valid_after=cert.not_valid_after_utc,
        serial_number=cert.serial_number,
        serial_hex=format(cert.serial_number, "x"),
        key_spec=key_spec,
        key_type=key_type,
        key_size=key_size,
        signature_algorithm=oid_name(cert.signature_algorithm_oid),
        sha256_fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        sha1_fingerprint=cert.fingerprint(hashes.SHA1()).hex(),  # noqa: S303 - identification only
        is_ca=is_ca,
        path_length=path_length,
        key_usage=key_usage,
        extended_key_usage=eku,
        extensions=tuple(infos),
    )
