"""Revoking at a real ``cfssl serve`` with a SQLite certificate database: cfssl's record
and its own OCSP answer say revoked, with the reason."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp

from lemur.crypto.revocation import RevocationReason
from lemur.plugins.errors import PluginRejected, PluginTransientError
from lemur.plugins.values import Issued, RevocationRequest
from tests.issuers.cfssl.conftest import IssuerFactory, make_request
from tests.peers.cfssl import CFSSLPeer
from tests.peers.server import free_port


def revocation(certificate: x509.Certificate, reason: RevocationReason) -> RevocationRequest:
    return RevocationRequest(
        certificate=certificate,
        reason=reason,
        revoked_at=dt.datetime.now(dt.UTC),
        external_id=str(certificate.serial_number),
    )


def issue(make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer) -> x509.Certificate:
    result = make_issuer(profile=cfssl_peer.server_profile).issue(make_request())
    assert isinstance(result, Issued)
    return result.certificate


@pytest.mark.parametrize(
    ("reason", "flag", "code"),
    [
        (RevocationReason.KEY_COMPROMISE, x509.ReasonFlags.key_compromise, 1),
        (RevocationReason.SUPERSEDED, x509.ReasonFlags.superseded, 4),
        (RevocationReason.CESSATION_OF_OPERATION, x509.ReasonFlags.cessation_of_operation, 5),
    ],
)
def test_revoked_at_the_ca_with_the_reason(
    make_issuer: IssuerFactory,
    cfssl_peer: CFSSLPeer,
    reason: RevocationReason,
    flag: x509.ReasonFlags,
    code: int,
) -> None:
    certificate = issue(make_issuer, cfssl_peer)
    good = cfssl_peer.ocsp_response(certificate.serial_number)
    assert good.certificate_status == ocsp.OCSPCertStatus.GOOD

    make_issuer().revoke(revocation(certificate, reason))

    row = cfssl_peer.certdb_row(certificate.serial_number)
    assert row is not None
    assert (row.status, row.reason) == ("revoked", code)
    answer = cfssl_peer.ocsp_response(certificate.serial_number)
    assert answer.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.serial_number == certificate.serial_number
    assert answer.certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert answer.revocation_reason == flag


def test_revoking_twice_is_harmless(make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer) -> None:
    certificate = issue(make_issuer, cfssl_peer)
    issuer = make_issuer()
    issuer.revoke(revocation(certificate, RevocationReason.KEY_COMPROMISE))
    issuer.revoke(revocation(certificate, RevocationReason.KEY_COMPROMISE))
    row = cfssl_peer.certdb_row(certificate.serial_number)
    assert row is not None
    assert row.status == "revoked"


def test_a_certificate_cfssl_never_issued_is_refused_in_its_words(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    other = issue(make_issuer, cfssl_peer)
    # Same CA, a serial cfssl has no record of.
    key = ec.generate_private_key(ec.SECP256R1())
    stranger = (
        x509.CertificateBuilder()
        .subject_name(other.subject)
        .issuer_name(other.issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(other.not_valid_before_utc)
        .not_valid_after(other.not_valid_after_utc)
        .sign(key, hashes.SHA256())
    )
    with pytest.raises(PluginRejected) as caught:
        make_issuer().revoke(revocation(stranger, RevocationReason.SUPERSEDED))
    assert caught.value.message == (
        "cfssl refused the revocation: failed to revoke the certificate: certificate not found"
    )


def test_a_cfssl_without_certificate_database_cannot_revoke(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    certificate = issue(make_issuer, cfssl_peer)
    with cfssl_peer.without_certdb() as url, pytest.raises(PluginRejected) as caught:
        make_issuer(url=url).revoke(revocation(certificate, RevocationReason.KEY_COMPROMISE))
    assert caught.value.code == "cfssl_revocation_unavailable"
    assert "-db-config" in caught.value.message
    row = cfssl_peer.certdb_row(certificate.serial_number)
    assert row is not None
    assert row.status == "good"


def test_an_unreachable_cfssl_is_transient(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    certificate = issue(make_issuer, cfssl_peer)
    with pytest.raises(PluginTransientError):
        make_issuer(url=f"http://127.0.0.1:{free_port()}").revoke(
            revocation(certificate, RevocationReason.KEY_COMPROMISE)
        )
