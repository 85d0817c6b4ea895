"""aws-acm against moto: re-import in place, tags, repeats, refusals."""

from __future__ import annotations

import dataclasses

import pytest

from lemur.builtin.aws_destinations.acm import tag_value
from lemur.plugins.errors import PluginRejected
from lemur.plugins.values import Bundle, DeploymentRef, PluginContext
from tests.destinations.aws.conftest import ACCOUNT_A, PKI, acm_destination, read_acm
from tests.peers.moto import REGION, MotoServer


def tags(moto: MotoServer, ref: DeploymentRef) -> dict[str, str]:
    answer = moto.client("acm").list_tags_for_certificate(CertificateArn=ref.value)
    return {t["Key"]: t.get("Value", "") for t in answer.get("Tags", [])}


def test_import_tags_the_certificate_with_lemurs_name(
    moto_server: MotoServer, aws_context: PluginContext, pki: PKI
) -> None:
    acm = acm_destination(moto_server, aws_context)
    ref = acm.deploy(dataclasses.replace(pki.bundle("www.example.test"), name="www-2026 (prod)"))
    assert ref.value.startswith(f"arn:aws:acm:{REGION}:{ACCOUNT_A}:certificate/")
    assert tags(moto_server, ref) == {"Name": "www-2026 -prod-"}
    described = moto_server.client("acm").describe_certificate(CertificateArn=ref.value)
    assert described["Certificate"]["Type"] == "IMPORTED"


def test_reimport_keeps_the_arn_and_renames_the_tag(
    moto_server: MotoServer, aws_context: PluginContext, pki: PKI
) -> None:
    acm = acm_destination(moto_server, aws_context, name_tag="lemur:certificate")
    first = pki.bundle("www.example.test")
    renewal = dataclasses.replace(pki.bundle("www.example.test"), name="www-renewed")
    ref = acm.deploy(first)
    assert acm.deploy(renewal, previous=ref) == ref
    held = read_acm(moto_server.client("acm"), ref)
    assert held == renewal.certificate
    assert tags(moto_server, ref) == {"lemur:certificate": "www-renewed"}
    listed = moto_server.client("acm").list_certificates()["CertificateSummaryList"]
    assert [c["CertificateArn"] for c in listed] == [ref.value]


def test_no_tag_when_the_option_is_empty(
    moto_server: MotoServer, aws_context: PluginContext, bundles: tuple[Bundle, Bundle]
) -> None:
    ref = acm_destination(moto_server, aws_context, name_tag="").deploy(bundles[0])
    assert tags(moto_server, ref) == {}


def test_previous_that_is_gone_gets_a_new_import(
    moto_server: MotoServer, aws_context: PluginContext, bundles: tuple[Bundle, Bundle]
) -> None:
    acm = acm_destination(moto_server, aws_context)
    ref = acm.deploy(bundles[0])
    acm.remove(ref)
    again = acm.deploy(bundles[1], previous=ref)
    assert again != ref
    assert acm.verify(again, bundles[1])


@pytest.mark.parametrize(
    "previous",
    [
        f"arn:aws:iam::{ACCOUNT_A}:server-certificate/www",
        f"arn:aws:acm:eu-west-1:{ACCOUNT_A}:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
    ],
)
def test_previous_that_is_no_acm_certificate_of_this_region_is_left_alone(
    moto_server: MotoServer,
    aws_context: PluginContext,
    bundles: tuple[Bundle, Bundle],
    previous: str,
) -> None:
    ref = acm_destination(moto_server, aws_context).deploy(
        bundles[0], previous=DeploymentRef(previous)
    )
    assert ref.value.startswith(f"arn:aws:acm:{REGION}:")


def test_expired_certificate_is_rejected_with_acms_words(
    moto_server: MotoServer, aws_context: PluginContext, pki: PKI
) -> None:
    with pytest.raises(PluginRejected) as caught:
        acm_destination(moto_server, aws_context).deploy(
            pki.bundle("old.example.test", expired=True)
        )
    assert caught.value.code == "aws_acm_invalid_certificate"
    assert "expired" in caught.value.message


def test_reference_that_is_not_an_acm_arn_is_rejected(
    moto_server: MotoServer, aws_context: PluginContext, bundles: tuple[Bundle, Bundle]
) -> None:
    acm = acm_destination(moto_server, aws_context)
    iam_arn = DeploymentRef(f"arn:aws:iam::{ACCOUNT_A}:server-certificate/www")
    for call in (lambda: acm.remove(iam_arn), lambda: acm.verify(iam_arn, bundles[0])):
        with pytest.raises(PluginRejected) as caught:
            call()
        assert caught.value.code == "aws_acm_invalid_reference"


def test_connect_names_the_identity_and_region(
    moto_server: MotoServer, aws_context: PluginContext
) -> None:
    summary = acm_destination(moto_server, aws_context).connect().summary
    assert ACCOUNT_A in summary
    assert REGION in summary


@pytest.mark.parametrize(
    ("name", "value"),
    [("www.example.test", "www.example.test"), ("a,b;c", "a-b-c"), ("x" * 300, "x" * 256)],
)
def test_tag_values_keep_to_acms_characters(name: str, value: str) -> None:
    assert tag_value(name) == value
