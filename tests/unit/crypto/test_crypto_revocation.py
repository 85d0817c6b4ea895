from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from _crypto_support import DAY, NOW, Hierarchy, HierarchyCache, openssl, write_pem
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509 import ocsp

from lemur.crypto.issuance import build_leaf_certificate
from lemur.crypto.keys import KeySpec, generate_private_key
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.revocation import (
    OCSPRequestInfo,
    RevocationReason,
    RevokedEntry,
    build_crl,
    build_ocsp_response,
    issuer_matches_request,
    malformed_request_response,
    ocsp_unauthorized_response,
    parse_ocsp_request,
)
from lemur.errors import InvalidInput

SPECS = [KeySpec.RSA_2048, KeySpec.EC_P256, KeySpec.EC_P384, KeySpec.ED25519]


def _leaf(h: Hierarchy, not_before: datetime.datetime = NOW) -> x509.Certificate:
    return build_leaf_certificate(
        issuer_cert=h.intermediate, issuer_key=h.intermediate_key,
        public_key=generate_private_key(KeySpec.EC_P256).public_key(), subject_cn=None,
        sans=SubjectAltNames.create(dns_names=["api.example.com"]),
        not_before=not_before, not_after=not_before + 30 * DAY,
    )  # fmt: skip


def _verify(issuer: x509.Certificate, signature: bytes, data: bytes, algorithm: object) -> None:
    key = issuer.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        key.verify(signature, data, padding.PKCS1v15(), algorithm)  # type: ignore[arg-type]
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key.verify(signature, data, ec.ECDSA(algorithm))  # type: ignore[arg-type]
    else:
        assert isinstance(key, ed25519.Ed25519PublicKey)
        key.verify(signature, data)


def test_reason_names() -> None:
    assert RevocationReason.parse("key_compromise") is RevocationReason.KEY_COMPROMISE
    assert RevocationReason.parse("keyCompromise") is RevocationReason.KEY_COMPROMISE
    assert RevocationReason.parse("cACompromise") is RevocationReason.CA_COMPROMISE
    assert RevocationReason.parse("aACompromise").flag is x509.ReasonFlags.aa_compromise
    assert RevocationReason.KEY_COMPROMISE.rfc5280_name == "keyCompromise"
    for reason in RevocationReason:
        assert RevocationReason.parse(reason.rfc5280_name) is reason
        assert RevocationReason.from_flag(reason.flag) is reason
    with pytest.raises(InvalidInput) as exc:
        RevocationReason.parse("stolen", field="reason")
    assert (exc.value.code, exc.value.field) == ("invalid_revocation_reason", "reason")


@pytest.mark.parametrize("spec", SPECS)
def test_crl_verifies_with_openssl(
    hierarchies: HierarchyCache, tmp_path: Path, spec: KeySpec
) -> None:
    h = hierarchies.get(spec)
    crl = build_crl(
        issuer_cert=h.intermediate, issuer_key=h.intermediate_key,
        revoked=[
            RevokedEntry(1001, NOW - DAY, RevocationReason.KEY_COMPROMISE),
            RevokedEntry(1002, NOW - 2 * DAY, RevocationReason.UNSPECIFIED),
            RevokedEntry(1003, NOW - 3 * DAY, RevocationReason.SUPERSEDED),
        ],
        this_update=NOW, next_update=NOW + 7 * DAY, crl_number=42,
    )  # fmt: skip
    assert crl.is_signature_valid(h.intermediate.public_key())  # type: ignore[arg-type]
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 42
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = h.intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert crl.last_update_utc == NOW
    assert crl.next_update_utc == NOW + 7 * DAY

    def reason(serial: int) -> x509.ReasonFlags | None:
        entry = crl.get_revoked_certificate_by_serial_number(serial)
        assert entry is not None
        try:
            return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
        except x509.ExtensionNotFound:
            return None

    assert reason(1001) is x509.ReasonFlags.key_compromise
    assert reason(1002) is None  # RFC 5280 §5.3.1: unspecified is expressed by omission
    assert reason(1003) is x509.ReasonFlags.superseded
    entry = crl.get_revoked_certificate_by_serial_number(1001)
    assert entry is not None
    assert entry.revocation_date_utc == NOW - DAY

    crl_pem = tmp_path / "crl.pem"
    crl_pem.write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    ca_pem = write_pem(tmp_path / "ca.pem", h.intermediate)
    result = openssl("crl", "-in", crl_pem, "-CAfile", ca_pem, "-noout")
    assert result.returncode == 0, result.stderr
    assert "verify OK" in result.stdout + result.stderr, result.stderr


def test_crl_rejects_bad_input(ec_ca: Hierarchy) -> None:
    common = {"issuer_cert": ec_ca.intermediate, "issuer_key": ec_ca.intermediate_key,
              "this_update": NOW, "next_update": NOW + DAY, "crl_number": 1}  # fmt: skip
    with pytest.raises(InvalidInput) as exc:
        build_crl(revoked=[RevokedEntry(1, NOW, RevocationReason.REMOVE_FROM_CRL)], **common)  # type: ignore[arg-type]
    assert exc.value.code == "invalid_revocation_reason"
    with pytest.raises(InvalidInput) as exc:
        build_crl(revoked=[], **{**common, "issuer_key": ec_ca.root_key})  # type: ignore[arg-type]
    assert exc.value.code == "key_mismatch"
    with pytest.raises(InvalidInput) as exc:
        build_crl(revoked=[], **{**common, "next_update": NOW})  # type: ignore[arg-type]
    assert exc.value.code == "invalid_time"


def _request(leaf: x509.Certificate, issuer: x509.Certificate, *, nonce: bytes | None = None,
             algorithm: hashes.HashAlgorithm | None = None) -> bytes:  # fmt: skip
    builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, algorithm or hashes.SHA1())
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize("status", ["good", "revoked", "unknown"])
def test_ocsp_responses(hierarchies: HierarchyCache, spec: KeySpec, status: str) -> None:
    h = hierarchies.get(spec)
    leaf = _leaf(h)
    info = parse_ocsp_request(_request(leaf, h.intermediate, nonce=b"0123456789abcdef"))
    assert info.serial_number == leaf.serial_number
    assert info.nonce == b"0123456789abcdef"
    assert issuer_matches_request(h.intermediate, info)
    assert not issuer_matches_request(h.root, info)

    response = build_ocsp_response(
        request_info=info, issuer_cert=h.intermediate, issuer_key=h.intermediate_key,
        status=status,  # type: ignore[arg-type]
        revoked_at=NOW - DAY if status == "revoked" else None,
        reason=RevocationReason.KEY_COMPROMISE if status == "revoked" else None,
        this_update=NOW, next_update=NOW + DAY,
    )  # fmt: skip
    parsed = ocsp.load_der_ocsp_response(response.public_bytes(serialization.Encoding.DER))
    assert parsed.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert parsed.certificate_status.name == status.upper()
    assert parsed.serial_number == leaf.serial_number
    assert parsed.this_update_utc == NOW
    assert parsed.next_update_utc == NOW + DAY
    assert parsed.responder_key_hash is not None
    assert parsed.certificates == []
    assert parsed.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == info.nonce
    _verify(
        h.intermediate, parsed.signature, parsed.tbs_response_bytes, parsed.signature_hash_algorithm
    )
    if status == "revoked":
        assert parsed.revocation_time_utc == NOW - DAY
        assert parsed.revocation_reason is x509.ReasonFlags.key_compromise


def test_ocsp_request_with_sha256_cert_id(ec_ca: Hierarchy) -> None:
    leaf = _leaf(ec_ca)
    info = parse_ocsp_request(_request(leaf, ec_ca.intermediate, algorithm=hashes.SHA256()))
    assert info.hash_algorithm.name == "sha256"
    assert info.nonce is None
    assert issuer_matches_request(ec_ca.intermediate, info)
    response = build_ocsp_response(
        request_info=info, issuer_cert=ec_ca.intermediate, issuer_key=ec_ca.intermediate_key,
        status="good", this_update=NOW, next_update=NOW + DAY,
    )  # fmt: skip
    assert response.hash_algorithm.name == "sha256"
    assert response.issuer_key_hash == info.issuer_key_hash


def test_ocsp_errors(ec_ca: Hierarchy) -> None:
    for garbage in (b"", b"garbage", b"\x30\x03\x02\x01\x01"):
        with pytest.raises(InvalidInput) as exc:
            parse_ocsp_request(garbage, field="request")
        assert exc.value.code == "invalid_ocsp_request"
    info = parse_ocsp_request(_request(_leaf(ec_ca), ec_ca.intermediate))
    common = {"request_info": info, "this_update": NOW, "next_update": NOW + DAY}
    with pytest.raises(InvalidInput) as exc:
        build_ocsp_response(
            issuer_cert=ec_ca.root, issuer_key=ec_ca.root_key, status="good", **common
        )  # type: ignore[arg-type]
    assert exc.value.code == "ocsp_issuer_mismatch"
    # "unknown" is the one answer a CA may give about another issuer's certificate
    # (RFC 6960 §2.2), signed by itself and echoing the request's CertID.
    unknown = build_ocsp_response(
        issuer_cert=ec_ca.root, issuer_key=ec_ca.root_key, status="unknown", **common
    )  # type: ignore[arg-type]
    assert unknown.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    assert unknown.issuer_key_hash == info.issuer_key_hash
    root_key = ec_ca.root.public_key()
    assert isinstance(root_key, ec.EllipticCurvePublicKey)
    assert unknown.signature_hash_algorithm is not None
    root_key.verify(
        unknown.signature, unknown.tbs_response_bytes, ec.ECDSA(unknown.signature_hash_algorithm)
    )
    with pytest.raises(InvalidInput) as exc:
        build_ocsp_response(
            issuer_cert=ec_ca.intermediate,
            issuer_key=ec_ca.intermediate_key,
            status="revoked",
            **common,
        )  # type: ignore[arg-type]
    assert exc.value.code == "revocation_time_required"
    assert ocsp_unauthorized_response().response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    assert malformed_request_response().response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


@pytest.mark.parametrize("spec", [KeySpec.RSA_2048, KeySpec.EC_P384, KeySpec.ED25519])
def test_openssl_accepts_ocsp_response(
    hierarchies: HierarchyCache, tmp_path: Path, spec: KeySpec
) -> None:
    # openssl checks thisUpdate/nextUpdate against the real clock, so this one test uses it.
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    h = hierarchies.get(spec)
    leaf = _leaf(h, not_before=NOW)
    request = _request(leaf, h.intermediate, nonce=b"fedcba9876543210")
    info = parse_ocsp_request(request)
    response = build_ocsp_response(
        request_info=info, issuer_cert=h.intermediate, issuer_key=h.intermediate_key,
        status="revoked", revoked_at=now - DAY, reason=RevocationReason.SUPERSEDED,
        this_update=now - datetime.timedelta(minutes=5), next_update=now + DAY,
    )  # fmt: skip
    (tmp_path / "resp.der").write_bytes(response.public_bytes(serialization.Encoding.DER))
    (tmp_path / "req.der").write_bytes(request)
    result = openssl(
        "ocsp", "-respin", tmp_path / "resp.der", "-reqin", tmp_path / "req.der",
        "-issuer", write_pem(tmp_path / "ca.pem", h.intermediate),
        "-CAfile", write_pem(tmp_path / "root.pem", h.root),
        "-verify_other", tmp_path / "ca.pem", "-resp_text",
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Response verify OK" in output, output
    # -reqin (not -cert) so that openssl checks the nonce we echoed rather than its own.
    assert "Cert Status: revoked" in output, output
    assert "Revocation Reason: superseded" in output, output


def test_request_info_is_a_value() -> None:
    info = OCSPRequestInfo(1, b"n", b"k", hashes.SHA1(), None)
    with pytest.raises(AttributeError):
        info.serial_number = 2  # type: ignore[misc]
