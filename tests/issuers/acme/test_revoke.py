"""Revocation at the CA (RFC 8555 §7.6) and renewal information (RFC 9773)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lemur.builtin.acme import ACMEIssuer
from lemur.builtin.acme.ari import certificate_id
from lemur.crypto.revocation import RevocationReason
from lemur.plugins.errors import PluginRejected
from lemur.plugins.values import Issued, RevocationRequest
from tests.issuers.acme.conftest import make_request, unique
from tests.peers.pebble import PebblePeer


def issue(issuer: ACMEIssuer) -> Issued:
    name = f"{unique('rev')}.example.test"
    request = make_request([name], common_name=name)
    result = issuer.issue(request)
    for _ in range(30):
        if isinstance(result, Issued):
            return result
        time.sleep(result.retry_after.total_seconds())
        result = issuer.poll(result.external_id, request)
    raise AssertionError("not issued")


def self_signed(serial: int, key_identifier: bytes = b"\x01" * 20) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stranger.example.test")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.AuthorityKeyIdentifier(key_identifier, None, None), critical=False)
        .sign(key, hashes.SHA256())
    )


def revocation(issued: Issued, reason: RevocationReason) -> RevocationRequest:
    return RevocationRequest(
        certificate=issued.certificate,
        reason=reason,
        revoked_at=dt.datetime.now(dt.UTC),
        external_id=issued.external_id,
    )


def test_revoked_certificate_is_reported_revoked_by_the_ca_with_the_reason(
    http_issuer: ACMEIssuer, pebble: PebblePeer
) -> None:
    issued = issue(http_issuer)
    assert pebble.cert_status(issued.certificate.serial_number)["Status"] == "Valid"

    http_issuer.revoke(revocation(issued, RevocationReason.SUPERSEDED))

    status = pebble.cert_status(issued.certificate.serial_number)
    assert status["Status"] == "Revoked"
    assert status["Reason"] == 4  # superseded (RFC 5280 §5.3.1)


def test_revoking_again_is_not_an_error(http_issuer: ACMEIssuer, pebble: PebblePeer) -> None:
    issued = issue(http_issuer)
    http_issuer.revoke(revocation(issued, RevocationReason.KEY_COMPROMISE))

    http_issuer.revoke(revocation(issued, RevocationReason.KEY_COMPROMISE))  # alreadyRevoked

    assert pebble.cert_status(issued.certificate.serial_number)["Reason"] == 1


def test_revoking_a_certificate_the_ca_did_not_issue_comes_back_in_its_words(
    http_issuer: ACMEIssuer,
) -> None:
    stranger = self_signed(0x1234567)

    with pytest.raises(PluginRejected) as caught:
        http_issuer.revoke(
            RevocationRequest(
                certificate=stranger,
                reason=RevocationReason.KEY_COMPROMISE,
                revoked_at=dt.datetime.now(dt.UTC),
            )
        )

    assert "the CA refused revoking the certificate" in caught.value.message
    assert "Unable to find specified certificate" in caught.value.message  # Pebble's words


def test_renewal_window_is_none_when_the_directory_offers_no_renewal_info(
    http_issuer: ACMEIssuer,
) -> None:
    # Debian's Pebble 2.4 has no renewalInfo in its directory (ARI came in later Pebbles).
    issued = issue(http_issuer)

    assert http_issuer.renewal_window(issued.certificate) is None


def test_ari_certificate_id_is_the_rfc_9773_example() -> None:
    # RFC 9773 §4.1: keyIdentifier 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4,
    # serial 00:87:65:43:21 -> "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
    certificate = self_signed(0x87654321, bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4"))

    assert certificate_id(certificate) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
