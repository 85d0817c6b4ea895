"""Parsing certificates, bundles, PKCS#12 files and CSRs at the edge, with clear errors.

Everything that enters Lemur as bytes goes through here once and comes out as
cryptography objects; callers never see a ValueError from cryptography.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from lemur.crypto.keys import (
    KeySpec,
    PrivateKey,
    PublicKey,
    check_key_matches_certificate,
    describe_key_type,
    key_matches_certificate,
)
from lemur.crypto.keys import key_spec_of as _key_spec_of
from lemur.crypto.names import SubjectAltNames
from lemur.errors import InvalidInput

# RFC 7468 §3: textual encoding; labels are compared exactly, content is base64.
_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)-----END ([A-Z0-9 ]+)-----", re.DOTALL
)
_PEM_BEGIN = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


class PEMBlock(NamedTuple):
    label: str
    der: bytes


def _is_pem(data: bytes) -> bool:
    return b"-----BEGIN" in data[:4096]


def pem_blocks(data: bytes, *, field: str | None = None) -> list[PEMBlock]:
    """Split PEM text into (label, DER) blocks, rejecting truncated or corrupt ones."""
    blocks: list[PEMBlock] = []
    begins = _PEM_BEGIN.findall(data)
    for index, match in enumerate(_PEM_BLOCK.finditer(data), start=1):
        label, body, end_label = match.group(1), match.group(2), match.group(3)
        if label != end_label:
            raise InvalidInput(
                f"PEM block #{index} begins as '{label.decode()}' but ends as "
                f"'{end_label.decode()}'",
                code="invalid_pem",
                field=field,
            )
        try:
            der = base64.b64decode(b"".join(body.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput(
                f"PEM block #{index} ('{label.decode()}') is not valid base64",
                code="invalid_pem",
                field=field,
            ) from exc
        blocks.append(PEMBlock(label.decode(), der))
    if len(begins) > len(blocks):
        raise InvalidInput(
            f"PEM data is truncated: block #{len(blocks) + 1} "
            f"('{begins[len(blocks)].decode()}') has no END line",
            code="invalid_pem",
            field=field,
        )
    if not blocks:
        raise InvalidInput("no PEM block found", code="invalid_pem", field=field)
    return blocks


def _certificate_from_der(
    der: bytes, *, code: str, where: str, field: str | None
) -> x509.Certificate:
    try:
        cert = x509.load_der_x509_certificate(der)
        # Extensions are decoded lazily; decode them now so malformed ones fail at the edge.
        _ = cert.extensions
    except ValueError as exc:
        detail = "is truncated" if "ShortData" in str(exc) else "is not a valid X.509 certificate"
        raise InvalidInput(f"{where} {detail}", code=code, field=field) from exc
    return cert


def _require_data(data: bytes, what: str, field: str | None) -> None:
    if not data or not data.strip():
        raise InvalidInput(f"no {what} data was given", code="empty_input", field=field)


def load_certificates(data: bytes, *, field: str | None = None) -> list[x509.Certificate]:
    """Load one or more certificates: a PEM bundle (any number of CERTIFICATE blocks) or DER.

    Raises InvalidInput (``invalid_pem``, ``invalid_der``, ``empty_input``).
    """
    _require_data(data, "certificate", field)
    if not _is_pem(data):
        return [_certificate_from_der(data, code="invalid_der", where="DER data", field=field)]
    certs = []
    for index, block in enumerate(pem_blocks(data, field=field), start=1):
        if block.label != "CERTIFICATE":
            raise InvalidInput(
                f"PEM block #{index} is a '{block.label}', expected 'CERTIFICATE'",
                code="invalid_pem",
                field=field,
            )
        certs.append(
            _certificate_from_der(
                block.der, code="invalid_pem", where=f"certificate #{index}", field=field
            )
        )
    return certs


def load_certificate(data: bytes, *, field: str | None = None) -> x509.Certificate:
    """Load exactly one certificate, PEM or DER. Raises InvalidInput (see load_certificates)."""
    certs = load_certificates(data, field=field)
    if len(certs) != 1:
        raise InvalidInput(
            f"expected one certificate, found {len(certs)}", code="invalid_pem", field=field
        )
    return certs[0]


class PKCS12Contents(NamedTuple):
    key: PrivateKey | None
    certificate: x509.Certificate
    additional_certificates: list[x509.Certificate]


def load_pkcs12(
    data: bytes, passphrase: bytes | None, *, field: str | None = None
) -> PKCS12Contents:
    """Load a PKCS#12 (RFC 7292) file holding a certificate and optionally its key and chain.

    Raises InvalidInput with code ``pkcs12_bad_passphrase``, ``invalid_pkcs12``,
    ``unsupported_key_type`` or ``key_mismatch``.
    """
    _require_data(data, "PKCS#12", field)
    try:
        loaded = pkcs12.load_pkcs12(data, passphrase or None)
    except ValueError as exc:
        # cryptography reports a MAC or decryption failure as "Invalid password or PKCS12
        # data" and a structural failure as "Could not deserialize PKCS12 data".
        if "password" in str(exc).lower():
            raise InvalidInput(
                "the passphrase does not open this PKCS#12 file",
                code="pkcs12_bad_passphrase",
                field=field,
            ) from exc
        raise InvalidInput(
            "the data is not a valid PKCS#12 file", code="invalid_pkcs12", field=field
        ) from exc
    key = loaded.key
    if key is not None and not isinstance(key, PrivateKey):
        raise InvalidInput(
            f"key type {describe_key_type(key.public_key())} is not supported",
            code="unsupported_key_type",
            field=field,
        )
    others = [c.certificate for c in loaded.additional_certs]
    cert = loaded.cert.certificate if loaded.cert is not None else None
    if cert is None and key is not None:
        # Some exporters omit the localKeyId that pairs key and certificate (RFC 7292
        # §4.2); the key's own certificate is then among the others.
        cert = next((c for c in others if key_matches_certificate(key, c)), None)
        others = [c for c in others if c is not cert]
    if cert is None:
        raise InvalidInput(
            "the PKCS#12 file contains no certificate"
            + ("" if key is None else " matching its private key"),
            code="invalid_pkcs12",
            field=field,
        )
    if key is not None:
        check_key_matches_certificate(key, cert, field=field)
    return PKCS12Contents(key, cert, others)


@dataclass(frozen=True, slots=True)
class CSRInfo:
    """What Lemur needs from a PKCS#10 request (RFC 2986), already validated."""

    csr: x509.CertificateSigningRequest
    subject: x509.Name
    common_name: str | None
    sans: SubjectAltNames
    public_key: PublicKey
    key_spec: KeySpec


def load_csr(data: bytes, *, field: str | None = None) -> CSRInfo:
    """Load a PEM or DER CSR, check its self-signature and validate its names and key.

    Raises InvalidInput with code ``invalid_csr``, ``csr_signature_invalid``,
    ``unsupported_key_type`` or a name error (``invalid_dns_name``, ...).
    """
    _require_data(data, "CSR", field)
    der = data
    if _is_pem(data):
        blocks = pem_blocks(data, field=field)
        # RFC 7468 §7 also allows the legacy "NEW CERTIFICATE REQUEST" label.
        if len(blocks) != 1 or blocks[0].label not in (
            "CERTIFICATE REQUEST",
            "NEW CERTIFICATE REQUEST",
        ):
            raise InvalidInput(
                "expected exactly one 'CERTIFICATE REQUEST' PEM block",
                code="invalid_csr",
                field=field,
            )
        der = blocks[0].der
    try:
        csr = x509.load_der_x509_csr(der)
        extensions = csr.extensions
    except ValueError as exc:
        raise InvalidInput(
            "the data is not a valid PKCS#10 certificate request", code="invalid_csr", field=field
        ) from exc
    public_key = csr.public_key()
    key_spec = _key_spec_of(public_key, field=field)
    assert isinstance(public_key, PublicKey)  # key_spec_of accepted it
    # RFC 2986 §3: the signature proves possession of the private key.
    if not csr.is_signature_valid:
        raise InvalidInput(
            "the CSR signature does not verify with its public key (corrupted or tampered)",
            code="csr_signature_invalid",
            field=field,
        )
    common_names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(common_names) > 1:
        raise InvalidInput(
            "the CSR subject has more than one common name", code="invalid_csr", field=field
        )
    common_name = None
    if common_names:
        value = common_names[0].value
        common_name = value if isinstance(value, str) else value.decode("utf-8", "replace")
    sans = SubjectAltNames()
    try:
        san_ext = extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        pass
    else:
        raw = SubjectAltNames.from_extension(san_ext.value)
        sans = SubjectAltNames.create(
            dns_names=raw.dns_names,
            ip_addresses=raw.ip_addresses,
            emails=raw.emails,
            uris=raw.uris,
            field=f"{field}.subject_alternative_names" if field else "subject_alternative_names",
        )
    return CSRInfo(csr, csr.subject, common_name, sans, public_key, key_spec)


def certificate_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def der_to_pem(der: bytes) -> str:
    """A DER certificate as PEM text, as certificate_to_pem writes it, without parsing it."""
    body = base64.b64encode(der).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n"


def certificates_to_pem(certs: list[x509.Certificate]) -> bytes:
    """Concatenated PEM blocks, in the given order."""
    return b"".join(certificate_to_pem(c) for c in certs)


def certificate_to_der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)
