"""Revocation: CRLs (RFC 5280 §5) and OCSP responses (RFC 6960) signed by the issuing CA.

Lemur's CAs answer OCSP themselves rather than through a delegated responder, so every
response is signed with the CA key and names the CA by key hash (RFC 6960 §4.2.2.2,
§4.2.2.3).
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from lemur.crypto.keys import PrivateKey, public_keys_equal
from lemur.crypto.profiles import authority_key_identifier, aware_utc, signature_hash
from lemur.errors import InvalidInput


class RevocationReason(enum.StrEnum):
    """RFC 5280 §5.3.1 reason codes, named in snake_case for the API."""

    UNSPECIFIED = "unspecified"
    KEY_COMPROMISE = "key_compromise"
    CA_COMPROMISE = "ca_compromise"
    AFFILIATION_CHANGED = "affiliation_changed"
    SUPERSEDED = "superseded"
    CESSATION_OF_OPERATION = "cessation_of_operation"
    CERTIFICATE_HOLD = "certificate_hold"
    REMOVE_FROM_CRL = "remove_from_crl"
    PRIVILEGE_WITHDRAWN = "privilege_withdrawn"
    AA_COMPROMISE = "aa_compromise"

    @property
    def flag(self) -> x509.ReasonFlags:
        return _FLAGS[self]

    @property
    def rfc5280_name(self) -> str:
        """The RFC 5280 ASN.1 name, e.g. ``keyCompromise``."""
        return self.flag.value

    @classmethod
    def from_flag(cls, flag: x509.ReasonFlags) -> RevocationReason:
        return next(reason for reason, value in _FLAGS.items() if value is flag)

    @classmethod
    def parse(cls, value: str, *, field: str | None = None) -> RevocationReason:
        """Accept ``key_compromise``, ``keyCompromise`` or ``KeyCompromise``.

        Raises InvalidInput(invalid_revocation_reason)."""
        key = value.replace("_", "").replace("-", "").lower()
        for reason in cls:
            if reason.value.replace("_", "") == key:
                return reason
        names = ", ".join(r.value for r in cls)
        raise InvalidInput(
            f"unknown revocation reason '{value[:40]}'; expected one of {names}",
            code="invalid_revocation_reason",
            field=field,
        )


_FLAGS = {
    RevocationReason.UNSPECIFIED: x509.ReasonFlags.unspecified,
    RevocationReason.KEY_COMPROMISE: x509.ReasonFlags.key_compromise,
    RevocationReason.CA_COMPROMISE: x509.ReasonFlags.ca_compromise,
    RevocationReason.AFFILIATION_CHANGED: x509.ReasonFlags.affiliation_changed,
    RevocationReason.SUPERSEDED: x509.ReasonFlags.superseded,
    RevocationReason.CESSATION_OF_OPERATION: x509.ReasonFlags.cessation_of_operation,
    RevocationReason.CERTIFICATE_HOLD: x509.ReasonFlags.certificate_hold,
    RevocationReason.REMOVE_FROM_CRL: x509.ReasonFlags.remove_from_crl,
    RevocationReason.PRIVILEGE_WITHDRAWN: x509.ReasonFlags.privilege_withdrawn,
    RevocationReason.AA_COMPROMISE: x509.ReasonFlags.aa_compromise,
}


@dataclass(frozen=True, slots=True)
class RevokedEntry:
    serial_number: int
    revoked_at: datetime.datetime
    reason: RevocationReason | None = None


def _check_signer(issuer_cert: x509.Certificate, issuer_key: PrivateKey) -> None:
    if not public_keys_equal(issuer_key.public_key(), issuer_cert.public_key()):
        raise InvalidInput(
            "the issuer key does not match the issuer certificate",
            code="key_mismatch",
            field="issuer_key",
        )


def _check_window(this_update: datetime.datetime, next_update: datetime.datetime) -> None:
    if next_update <= this_update:
        raise InvalidInput(
            "next_update must be later than this_update", code="invalid_time", field="next_update"
        )


def build_crl(
    *,
    issuer_cert: x509.Certificate,
    issuer_key: PrivateKey,
    revoked: Iterable[RevokedEntry],
    this_update: datetime.datetime,
    next_update: datetime.datetime,
    crl_number: int,
) -> x509.CertificateRevocationList:
    """Build a complete (non-delta) CRL with AKI and CRL number (RFC 5280 §5.2.1, §5.2.3).

    Raises InvalidInput (``key_mismatch``, ``invalid_time``, ``invalid_revocation_reason``).
    """
    _check_signer(issuer_cert, issuer_key)
    start, end = (
        aware_utc(this_update, "this_update", "invalid_time"),
        aware_utc(next_update, "next_update", "invalid_time"),
    )
    _check_window(start, end)
    if not 0 <= crl_number < 2**159:  # RFC 5280 §5.2.3: at most 20 octets
        raise InvalidInput(
            "crl_number is out of range", code="invalid_crl_number", field="crl_number"
        )
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer_cert.subject)
        .last_update(start)
        .next_update(end)
        .add_extension(authority_key_identifier(issuer_cert), critical=False)
        .add_extension(x509.CRLNumber(crl_number), critical=False)
    )
    for index, entry in enumerate(revoked):
        entry_builder = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial_number)
            .revocation_date(
                aware_utc(entry.revoked_at, f"revoked[{index}].revoked_at", "invalid_time")
            )
        )
        if entry.reason is RevocationReason.REMOVE_FROM_CRL:
            raise InvalidInput(
                "removeFromCRL is only meaningful in delta CRLs (RFC 5280 §5.3.1)",
                code="invalid_revocation_reason",
                field=f"revoked[{index}].reason",
            )
        # RFC 5280 §5.3.1: the unspecified code SHOULD be expressed by omitting the extension.
        if entry.reason is not None and entry.reason is not RevocationReason.UNSPECIFIED:
            entry_builder = entry_builder.add_extension(
                x509.CRLReason(entry.reason.flag), critical=False
            )
        builder = builder.add_revoked_certificate(entry_builder.build())
    return builder.sign(issuer_key, signature_hash(issuer_key))


@dataclass(frozen=True, slots=True)
class OCSPRequestInfo:
    """The single CertID of an OCSP request (RFC 6960 §4.1.1), plus its nonce if any."""

    serial_number: int
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    hash_algorithm: hashes.HashAlgorithm
    nonce: bytes | None


def parse_ocsp_request(der: bytes, *, field: str | None = None) -> OCSPRequestInfo:
    """Parse a DER OCSP request. Raises InvalidInput(invalid_ocsp_request).

    Requests for several certificates are rejected: nobody sends them, and answering one
    CertID per request keeps responses cacheable (RFC 5019 §2.1.1).
    """
    try:
        request = ocsp.load_der_ocsp_request(der)
        extensions = request.extensions
        info = OCSPRequestInfo(
            serial_number=request.serial_number,
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            hash_algorithm=request.hash_algorithm,
            nonce=None,
        )
    except (ValueError, NotImplementedError, x509.UnsupportedGeneralNameType) as exc:
        raise InvalidInput(
            "the data is not a valid single-certificate OCSP request",
            code="invalid_ocsp_request",
            field=field,
        ) from exc
    try:
        nonce = extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return info
    return OCSPRequestInfo(
        info.serial_number,
        info.issuer_name_hash,
        info.issuer_key_hash,
        info.hash_algorithm,
        nonce,
    )


def _spki_bit_string(cert: x509.Certificate) -> bytes:
    """The contents of the subjectPublicKey BIT STRING, which RFC 6960 §4.1.1 hashes."""
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    offset = _skip_header(spki, 0)  # into SubjectPublicKeyInfo SEQUENCE
    offset = _skip_tlv(spki, offset)  # past AlgorithmIdentifier
    start = _skip_header(spki, offset)  # into BIT STRING
    return spki[start + 1 :]  # drop the unused-bits octet (always 0 for keys)


def _header(data: bytes, offset: int) -> tuple[int, int]:
    """Return (content offset, content length) of the DER TLV at offset."""
    length = data[offset + 1]
    if length < 0x80:
        return offset + 2, length
    count = length & 0x7F
    return offset + 2 + count, int.from_bytes(data[offset + 2 : offset + 2 + count], "big")


def _skip_header(data: bytes, offset: int) -> int:
    return _header(data, offset)[0]


def _skip_tlv(data: bytes, offset: int) -> int:
    start, length = _header(data, offset)
    return start + length


def issuer_matches_request(issuer_cert: x509.Certificate, request_info: OCSPRequestInfo) -> bool:
    """True when the request's CertID names this CA (name hash and key hash, RFC 6960 §4.1.1)."""
    algorithm = request_info.hash_algorithm

    def digest(data: bytes) -> bytes:
        h = hashes.Hash(algorithm)
        h.update(data)
        return h.finalize()

    return digest(issuer_cert.subject.public_bytes()) == request_info.issuer_name_hash and (
        digest(_spki_bit_string(issuer_cert)) == request_info.issuer_key_hash
    )


_STATUS = {
    "good": ocsp.OCSPCertStatus.GOOD,
    "revoked": ocsp.OCSPCertStatus.REVOKED,
    "unknown": ocsp.OCSPCertStatus.UNKNOWN,
}


def build_ocsp_response(
    *,
    request_info: OCSPRequestInfo,
    issuer_cert: x509.Certificate,
    issuer_key: PrivateKey,
    status: Literal["good", "revoked", "unknown"],
    this_update: datetime.datetime,
    next_update: datetime.datetime,
    revoked_at: datetime.datetime | None = None,
    reason: RevocationReason | None = None,
) -> ocsp.OCSPResponse:
    """A successful response for the request's certificate, signed by the CA itself.

    The CertID echoes the request's hash algorithm and hashes (RFC 6960 §4.2.1) and the
    nonce is echoed when present (§4.4.1). A request naming another issuer can only be
    answered ``unknown`` (§2.2: "the request indicates an unrecognized issuer that is not
    served by this responder"). Raises InvalidInput (``ocsp_issuer_mismatch`` for good or
    revoked about another CA's certificate, ``key_mismatch``, ``invalid_time``,
    ``revocation_time_required``).
    """
    _check_signer(issuer_cert, issuer_key)
    if status != "unknown" and not issuer_matches_request(issuer_cert, request_info):
        raise InvalidInput(
            "the OCSP request is for a certificate of a different issuer",
            code="ocsp_issuer_mismatch",
        )
    start, end = (
        aware_utc(this_update, "this_update", "invalid_time"),
        aware_utc(next_update, "next_update", "invalid_time"),
    )
    _check_window(start, end)
    revocation_time = None
    revocation_reason = None
    if status == "revoked":
        if revoked_at is None:
            raise InvalidInput(
                "a revoked status needs the revocation time",
                code="revocation_time_required",
                field="revoked_at",
            )
        revocation_time = aware_utc(revoked_at, "revoked_at", "invalid_time")
        # RFC 6960 §4.2.1 revocationReason is optional; as in CRLs, omit "unspecified".
        if reason is not None and reason is not RevocationReason.UNSPECIFIED:
            revocation_reason = reason.flag
    builder = (
        ocsp.OCSPResponseBuilder()
        .add_response_by_hash(
            issuer_name_hash=request_info.issuer_name_hash,
            issuer_key_hash=request_info.issuer_key_hash,
            serial_number=request_info.serial_number,
            algorithm=request_info.hash_algorithm,
            cert_status=_STATUS[status],
            this_update=start,
            next_update=end,
            revocation_time=revocation_time,
            revocation_reason=revocation_reason,
        )
        .responder_id(ocsp.OCSPResponderEncoding.HASH, issuer_cert)
    )
    if request_info.nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(request_info.nonce), critical=False)
    return builder.sign(issuer_key, signature_hash(issuer_key))


def ocsp_unauthorized_response() -> ocsp.OCSPResponse:
    """RFC 6960 §2.3: the responder cannot answer for this certificate's issuer."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)


def malformed_request_response() -> ocsp.OCSPResponse:
    """RFC 6960 §2.3: the request could not be parsed."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
