"""aws-iam against moto: names, path, chain, repeats, refusals."""

from __future__ import annotations

import dataclasses
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from lemur.builtin.aws_destinations.iam import certificate_name
from lemur.plugins.errors import PluginConfigurationError, PluginRejected
from lemur.plugins.values import Bundle, DeploymentRef, PluginContext
from tests.destinations.aws.conftest import ACCOUNT_A, PKI, iam_destination, iam_name
from tests.peers.moto import MotoServer

IAM_NAME = re.compile(r"^[A-Za-z0-9_+=,.@-]{1,128}$")


@pytest.mark.parametrize(
    "name",
    ["www.example.test", "*.example.test (prod) ü/2026", "x" * 300, "///", ""],
)
def test_name_is_in_iams_characters_and_unique_per_certificate(pki: PKI, name: str) -> None:
    bundle = dataclasses.replace(pki.bundle("www.example.test"), name=name)
    renewal = dataclasses.replace(pki.bundle("www.example.test"), name=name)
    derived = certificate_name(bundle)
    assert IAM_NAME.match(derived), derived
    assert certificate_name(renewal) != derived
    assert certificate_name(bundle) == derived


def test_readable_part_of_the_name_is_lemurs(pki: PKI) -> None:
    bundle = dataclasses.replace(pki.bundle("www.example.test"), name="*.example.test (prod)")
    assert certificate_name(bundle).startswith("star.example.test-prod-")


def test_deploy_uploads_certificate_and_chain_under_the_path(
    moto_server: MotoServer, aws_context: PluginContext, pki: PKI
) -> None:
    iam = iam_destination(moto_server, aws_context, path="/cloudfront/lemur/")
    bundle = pki.bundle("cdn.example.test")
    ref = iam.deploy(bundle)
    assert ref.value.startswith(
        f"arn:aws:iam::{ACCOUNT_A}:server-certificate/cloudfront/lemur/cdn.example.test-"
    )
    held = moto_server.client("iam").get_server_certificate(ServerCertificateName=iam_name(ref))[
        "ServerCertificate"
    ]
    assert held["ServerCertificateMetadata"]["Path"] == "/cloudfront/lemur/"
    body = x509.load_pem_x509_certificate(held["CertificateBody"].encode())
    assert body == bundle.certificate
    assert tuple(x509.load_pem_x509_certificates(held["CertificateChain"].encode())) == (
        pki.intermediate,
    )


def test_deploying_again_uploads_nothing(
    moto_server: MotoServer, aws_context: PluginContext, bundles: tuple[Bundle, Bundle]
) -> None:
    iam = iam_destination(moto_server, aws_context)
    first = iam.deploy(bundles[0])
    assert iam.deploy(bundles[0]) == first
    assert iam.deploy(bundles[0], previous=first) == first
    listed = moto_server.client("iam").list_server_certificates()["ServerCertificateMetadataList"]
    assert [m["Arn"] for m in listed] == [first.value]


def test_name_held_by_another_certificate_is_refused(
    moto_server: MotoServer, aws_context: PluginContext, pki: PKI
) -> None:
    bundle = pki.bundle("www.example.test")
    squatter = pki.bundle("www.example.test")
    assert squatter.private_key is not None
    moto_server.client("iam").upload_server_certificate(
        ServerCertificateName=certificate_name(bundle),
        CertificateBody=squatter.certificate.public_bytes(serialization.Encoding.PEM).decode(),
        PrivateKey=squatter.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    )
    with pytest.raises(PluginRejected) as caught:
        iam_destination(moto_server, aws_context).deploy(bundle)
    assert caught.value.code == "aws_iam_name_taken"
    assert certificate_name(bundle) in caught.value.message


def test_bundle_without_key_is_rejected_before_any_call(
    moto_server: MotoServer, aws_context: PluginContext, pki: PKI
) -> None:
    bundle = dataclasses.replace(pki.bundle("www.example.test"), private_key=None)
    with pytest.raises(PluginRejected) as caught:
        iam_destination(moto_server, aws_context).deploy(bundle)
    assert caught.value.code == "aws_iam_key_required"
    assert (
        moto_server.client("iam").list_server_certificates()["ServerCertificateMetadataList"] == []
    )


def test_reference_that_is_not_an_iam_arn_is_rejected(
    moto_server: MotoServer, aws_context: PluginContext, bundles: tuple[Bundle, Bundle]
) -> None:
    iam = iam_destination(moto_server, aws_context)
    acm_arn = DeploymentRef(
        f"arn:aws:acm:us-east-1:{ACCOUNT_A}:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
    )
    for call in (lambda: iam.remove(acm_arn), lambda: iam.verify(acm_arn, bundles[0])):
        with pytest.raises(PluginRejected) as caught:
            call()
        assert caught.value.code == "aws_iam_invalid_reference"


def test_verify_is_false_for_the_same_name_at_another_path(
    moto_server: MotoServer, aws_context: PluginContext, bundles: tuple[Bundle, Bundle]
) -> None:
    ref = iam_destination(moto_server, aws_context, path="/a/").deploy(bundles[0])
    elsewhere = DeploymentRef(ref.value.replace("/a/", "/b/"))
    assert not iam_destination(moto_server, aws_context).verify(elsewhere, bundles[0])


def test_connect_says_who_and_where(moto_server: MotoServer, aws_context: PluginContext) -> None:
    summary = iam_destination(moto_server, aws_context, path="/lemur/").connect().summary
    assert f"arn:aws:sts::{ACCOUNT_A}:" in summary or f"arn:aws:iam::{ACCOUNT_A}:" in summary
    assert "/lemur/" in summary


def test_metadata_endpoint_is_refused(moto_server: MotoServer, aws_context: PluginContext) -> None:
    iam = iam_destination(moto_server, aws_context, endpoint_url="https://169.254.169.254/")
    with pytest.raises(PluginRejected) as caught:
        iam.connect()
    assert caught.value.code == "outbound_address_denied"


def test_no_credentials_anywhere_names_the_key_option(
    moto_server: MotoServer,
    aws_context: PluginContext,
    bundles: tuple[Bundle, Bundle],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: object,
) -> None:
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    iam = iam_destination(moto_server, aws_context, access_key_id=None, secret_access_key=None)
    with pytest.raises(PluginConfigurationError) as caught:
        iam.deploy(bundles[0])
    assert caught.value.code == "aws_iam_no_credentials"
    assert caught.value.field == "options.access_key_id"
