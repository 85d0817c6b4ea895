"""The aws-pca issuer against a real moto server (HTTP, no in-process mocks)."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from lemur.builtin.aws_pca import AWSPCAIssuer, serial_hex
from lemur.crypto.keys import public_keys_equal
from lemur.crypto.revocation import RevocationReason
from lemur.plugins.errors import PluginConfigurationError, PluginRejected, PluginTransientError
from lemur.plugins.testing import assert_chain_links
from lemur.plugins.values import Issued, Pending, PluginContext, RevocationRequest
from tests.issuers.aws_pca.conftest import (
    CA_COMMON_NAME,
    OTHER_ACCOUNT,
    ROLE_ARN,
    PrivateCA,
    assumed_roles,
    closed_port,
    create_private_ca,
    csr_request,
    pca_issuer,
    recorded_ca,
)
from tests.peers.moto import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, MotoServer


def issue(issuer: AWSPCAIssuer, **request: Any) -> Issued:
    result = issuer.issue(csr_request(**request))
    assert isinstance(result, Issued), result  # moto signs at once
    return result


def revocation(issued: Issued, reason: RevocationReason) -> RevocationRequest:
    return RevocationRequest(
        certificate=issued.certificate,
        reason=reason,
        revoked_at=issued.certificate.not_valid_before_utc,
        external_id=issued.external_id,
    )


def test_issues_the_csr_with_the_private_ca_as_chain(
    moto_server: MotoServer, private_ca: PrivateCA, pca_context: PluginContext
) -> None:
    request = csr_request(common_name="api.example.test", dns_names=("api.example.test",))
    result = pca_issuer(moto_server, private_ca.arn, pca_context).issue(request)

    assert isinstance(result, Issued)
    assert result.external_id is not None
    assert result.external_id.startswith(f"{private_ca.arn}/certificate/")
    cert = result.certificate
    assert public_keys_equal(cert.public_key(), request.public_key)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["api.example.test"]
    assert cert.issuer.rfc4514_string() == f"CN={CA_COMMON_NAME},O=Lemur Test"
    assert result.chain == (private_ca.certificate,)


def test_poll_fetches_the_certificate_again(
    moto_server: MotoServer, private_ca: PrivateCA, pca_context: PluginContext
) -> None:
    issuer = pca_issuer(moto_server, private_ca.arn, pca_context)
    request = csr_request()
    issued = issuer.issue(request)
    assert isinstance(issued, Issued)
    assert issued.external_id

    again = issuer.poll(issued.external_id, request)

    assert again == issued
    issuer.cancel(issued.external_id)  # nothing to cancel at AWS: no error either


def test_poll_refuses_a_certificate_of_another_ca(
    moto_server: MotoServer, private_ca: PrivateCA, pca_context: PluginContext
) -> None:
    other = create_private_ca(moto_server.client("acm-pca"))
    issued = issue(pca_issuer(moto_server, other.arn, pca_context))
    assert issued.external_id

    with pytest.raises(PluginRejected) as caught:
        pca_issuer(moto_server, private_ca.arn, pca_context).poll(issued.external_id, csr_request())
    assert caught.value.code == "aws_pca_unknown_certificate"


def test_request_in_progress_is_pending_with_the_certificate_arn(
    moto_server: MotoServer, private_ca: PrivateCA, pca_context: PluginContext
) -> None:
    """moto signs at once; the only GetCertificate answer RequestInProgressException it
    sends is for a certificate it has recorded as revoked under its own spelling of the
    serial (upper-case hex). That answer is what AWS sends while it is still signing."""
    issuer = pca_issuer(moto_server, private_ca.arn, pca_context)
    request = csr_request()
    issued = issuer.issue(request)
    assert isinstance(issued, Issued)
    assert issued.external_id
    moto_serial = format(issued.certificate.serial_number, "X")
    moto_server.client("acm-pca").revoke_certificate(
        CertificateAuthorityArn=private_ca.arn,
        CertificateSerial=":".join(moto_serial[i : i + 2] for i in range(0, len(moto_serial), 2)),
        RevocationReason="SUPERSEDED",
    )

    result = issuer.poll(issued.external_id, request)

    assert isinstance(result, Pending)
    assert result.external_id == issued.external_id
    assert 0 < result.retry_after.total_seconds() <= 10
    assert "still signing" in result.note


def test_revocation_reaches_the_ca_with_the_reason(
    moto_server: MotoServer, private_ca: PrivateCA, pca_context: PluginContext
) -> None:
    issuer = pca_issuer(moto_server, private_ca.arn, pca_context)
    issued = issue(issuer)

    issuer.revoke(revocation(issued, RevocationReason.CA_COMPROMISE))

    revoked = recorded_ca(moto_server, private_ca.arn)["revoked_certificates"]
    serial = serial_hex(issued.certificate.serial_number)
    assert revoked[serial]["revocation_reason"] == "CERTIFICATE_AUTHORITY_COMPROMISE"
    assert serial.replace(":", "") == f"{issued.certificate.serial_number:x}".rjust(
        len(serial.replace(":", "")), "0"
    )


@pytest.mark.parametrize(
    "reason", [RevocationReason.CERTIFICATE_HOLD, RevocationReason.REMOVE_FROM_CRL]
)
def test_reason_aws_does_not_have_is_rejected_before_calling(
    moto_server: MotoServer,
    private_ca: PrivateCA,
    pca_context: PluginContext,
    reason: RevocationReason,
) -> None:
    issuer = pca_issuer(moto_server, private_ca.arn, pca_context)
    issued = issue(issuer)

    with pytest.raises(PluginRejected) as caught:
        issuer.revoke(revocation(issued, reason))

    assert caught.value.code == "aws_pca_revocation_reason"
    assert f"no revocation reason '{reason.value}'" in caught.value.message
    assert recorded_ca(moto_server, private_ca.arn)["revoked_certificates"] == {}


def test_disabled_ca_refuses_revocation_in_its_own_words(
    moto_server: MotoServer, private_ca: PrivateCA, pca_context: PluginContext
) -> None:
    issuer = pca_issuer(moto_server, private_ca.arn, pca_context)
    issued = issue(issuer)
    moto_server.client("acm-pca").update_certificate_authority(
        CertificateAuthorityArn=private_ca.arn, Status="DISABLED"
    )

    with pytest.raises(PluginRejected) as caught:
        issuer.revoke(revocation(issued, RevocationReason.KEY_COMPROMISE))

    assert caught.value.code == "aws_pca_rejected"
    assert "InvalidStateException" in caught.value.message
    assert "is not in the correct state" in caught.value.message


def test_connect_names_the_ca_and_returns_its_certificate(
    moto_server: MotoServer, private_ca: PrivateCA, pca_context: PluginContext
) -> None:
    connection = pca_issuer(moto_server, private_ca.arn, pca_context).connect()

    assert connection.summary == (
        f"AWS Private CA {private_ca.arn} (ACTIVE), CN={CA_COMMON_NAME},O=Lemur Test"
    )
    assert connection.chain == (private_ca.certificate,)
    assert connection.options is None


def test_connect_says_what_state_an_inactive_ca_is_in(
    moto_server: MotoServer, pca_context: PluginContext
) -> None:
    arn = moto_server.client("acm-pca").create_certificate_authority(
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": "EC_prime256v1",
            "SigningAlgorithm": "SHA256WITHECDSA",
            "Subject": {"CommonName": "Not yet installed"},
        },
        CertificateAuthorityType="SUBORDINATE",
    )["CertificateAuthorityArn"]

    with pytest.raises(PluginConfigurationError) as caught:
        pca_issuer(moto_server, arn, pca_context).connect()

    assert caught.value.code == "aws_pca_not_active"
    assert caught.value.field == "options.certificate_authority_arn"
    assert "is PENDING_CERTIFICATE, not ACTIVE" in caught.value.message
    assert "install its CA certificate" in caught.value.message


def test_connect_refuses_a_signing_algorithm_the_ca_key_cannot_use(
    moto_server: MotoServer, private_ca: PrivateCA, pca_context: PluginContext
) -> None:
    issuer = pca_issuer(
        moto_server, private_ca.arn, pca_context, signing_algorithm="SHA256WITHECDSA"
    )
    with pytest.raises(PluginConfigurationError) as caught:
        issuer.connect()
    assert caught.value.field == "options.signing_algorithm"
    assert "RSA_2048, which cannot sign with SHA256WITHECDSA" in caught.value.message


def test_unknown_ca_names_the_arn_option(
    moto_server: MotoServer, private_ca: PrivateCA, pca_context: PluginContext
) -> None:
    missing = private_ca.arn[:-12] + "000000000000"
    issuer = pca_issuer(moto_server, missing, pca_context)
    for call in (issuer.connect, lambda: issuer.issue(csr_request())):
        with pytest.raises(PluginConfigurationError) as caught:
            call()
        assert caught.value.code == "aws_pca_not_found"
        assert caught.value.field == "options.certificate_authority_arn"
        assert f"Resource {missing} not found" in caught.value.message


def test_assumed_role_reaches_the_ca_in_the_other_account(
    moto_server: MotoServer, pca_context: PluginContext
) -> None:
    # The CA lives in another account: create it there with that account's role.
    creds = moto_server.client("sts").assume_role(
        RoleArn=ROLE_ARN, RoleSessionName="fixture", ExternalId="setup"
    )["Credentials"]
    ca = create_private_ca(
        boto3.client(
            "acm-pca",
            region_name=REGION,
            endpoint_url=moto_server.endpoint_url,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
    )
    assert f":{OTHER_ACCOUNT}:" in ca.arn
    role = {
        "role_arn": ROLE_ARN,
        "external_id": "lemur-prod-7f3a",
        "role_session_name": "lemur-test",
        "sts_endpoint_url": moto_server.endpoint_url,
    }

    issuer = pca_issuer(moto_server, ca.arn, pca_context, **role)
    assert issuer.connect().chain == (ca.certificate,)
    assert issue(issuer).chain == (ca.certificate,)

    sessions = [r for r in assumed_roles(moto_server) if r["session_name"] == "lemur-test"]
    assert len(sessions) == 2  # one AssumeRole per operation: plugins keep no state
    assert {(r["role_arn"], r["external_id"]) for r in sessions} == {(ROLE_ARN, "lemur-prod-7f3a")}
    # The static key's own account does not see that CA: the calls used the role.
    with pytest.raises(PluginConfigurationError) as caught:
        pca_issuer(moto_server, ca.arn, pca_context).connect()
    assert caught.value.code == "aws_pca_not_found"


def test_unreachable_endpoint_is_transient(
    moto_server: MotoServer, private_ca: PrivateCA, pca_context: PluginContext
) -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    issuer = pca_issuer(moto_server, private_ca.arn, pca_context, endpoint_url=down)
    for call in (issuer.connect, lambda: issuer.issue(csr_request())):
        with pytest.raises(PluginTransientError) as caught:
            call()
        assert caught.value.code == "peer_unreachable"
        assert "cannot reach AWS Private CA at 127.0.0.1" in caught.value.message


def test_unreachable_sts_is_transient(
    moto_server: MotoServer, private_ca: PrivateCA, pca_context: PluginContext
) -> None:
    issuer = pca_issuer(
        moto_server,
        private_ca.arn,
        pca_context,
        role_arn=ROLE_ARN,
        sts_endpoint_url=f"http://127.0.0.1:{closed_port()}",
    )
    with pytest.raises(PluginTransientError) as caught:
        issuer.connect()
    assert caught.value.code == "peer_unreachable"


def test_endpoint_on_a_metadata_address_is_refused(
    moto_server: MotoServer, private_ca: PrivateCA, pca_context: PluginContext
) -> None:
    issuer = pca_issuer(
        moto_server, private_ca.arn, pca_context, endpoint_url="https://169.254.169.254/"
    )
    with pytest.raises(PluginRejected) as caught:
        issuer.connect()
    assert caught.value.code == "outbound_address_denied"


def test_no_secret_in_logs_or_errors(
    moto_server: MotoServer,
    private_ca: PrivateCA,
    pca_context: PluginContext,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # botocore's request and response logging included
    issuer = pca_issuer(
        moto_server,
        private_ca.arn,
        pca_context,
        role_arn=ROLE_ARN.replace(OTHER_ACCOUNT, "123456789012"),
        sts_endpoint_url=moto_server.endpoint_url,
    )
    issued = issue(issuer)
    issuer.revoke(revocation(issued, RevocationReason.KEY_COMPROMISE))
    errors: list[Exception] = []
    broken = pca_issuer(
        moto_server, private_ca.arn, pca_context, endpoint_url=f"http://127.0.0.1:{closed_port()}"
    )
    for call in (
        broken.connect,
        lambda: broken.revoke(revocation(issued, RevocationReason.CERTIFICATE_HOLD)),
    ):
        with pytest.raises((PluginTransientError, PluginRejected)) as caught:
            call()
        errors.append(caught.value)

    assert "aws-pca: revoked" in caplog.text
    # The static secret never leaves the process (requests carry only signatures), so it
    # is nowhere, botocore's DEBUG logging included.
    assert SECRET_ACCESS_KEY not in caplog.text
    assert all(SECRET_ACCESS_KEY not in str(e) for e in errors)
    assert ACCESS_KEY_ID not in " ".join(str(e) for e in errors)
    # The role's temporary credentials are in botocore's own DEBUG logging (request
    # headers, the STS response body), as for any boto3 program: Lemur logs at INFO. They
    # are in no record of Lemur's and in nothing at INFO or above.
    temporary = [
        value
        for role in assumed_roles(moto_server)
        for value in (role["secret_access_key"], role["session_token"])
    ]
    assert temporary
    shown = [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.INFO or not r.name.startswith(("botocore", "urllib3"))
    ]
    for secret in temporary:
        assert all(secret not in line for line in shown)
        assert all(secret not in str(e) for e in errors)


def _sign_as_root(csr_pem: str) -> tuple[x509.Certificate, x509.Certificate]:
    """A local root CA signs a private CA's CSR into a subordinate CA certificate."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Offline Test Root")])
    now = dt.datetime.now(dt.UTC)
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    sub = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(root_name)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1825))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    return sub, root


def test_subordinate_ca_connects_with_its_chain_up_to_the_root(
    moto_server: MotoServer, pca_context: PluginContext
) -> None:
    client = moto_server.client("acm-pca")
    arn = client.create_certificate_authority(
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": "RSA_2048",
            "SigningAlgorithm": "SHA256WITHRSA",
            "Subject": {"CommonName": "Issuing CA 1"},
        },
        CertificateAuthorityType="SUBORDINATE",
    )["CertificateAuthorityArn"]
    sub, root = _sign_as_root(
        client.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"]
    )
    client.import_certificate_authority_certificate(
        CertificateAuthorityArn=arn,
        Certificate=sub.public_bytes(serialization.Encoding.PEM),
        CertificateChain=root.public_bytes(serialization.Encoding.PEM),
    )
    issuer = pca_issuer(moto_server, arn, pca_context)

    connection = issuer.connect()

    assert connection.chain == (sub, root)
    assert_chain_links(list(connection.chain))
    assert connection.summary.endswith("(ACTIVE), CN=Issuing CA 1")
    issued = issue(issuer)
    assert_chain_links([issued.certificate, *issued.chain])
