"""Options of the aws-pca issuer that do not match the schema are refused with plain words."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from lemur.builtin.aws_pca import AWSPCAOptions, idempotency_token, serial_hex
from tests.peers.moto import ACCESS_KEY_ID, SECRET_ACCESS_KEY

CA_ARN = (
    "arn:aws:acm-pca:eu-west-1:123456789012:certificate-authority/"
    "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
)
GOOD: dict[str, Any] = {
    "region": "eu-west-1",
    "certificate_authority_arn": CA_ARN,
    "access_key_id": ACCESS_KEY_ID,
    "secret_access_key": SECRET_ACCESS_KEY,
}


def test_good_options_and_defaults() -> None:
    options = AWSPCAOptions.model_validate(GOOD)
    assert options.template_arn == "arn:aws:acm-pca:::template/EndEntityCertificate/V1"
    assert options.signing_algorithm is None
    assert options.role_session_name == "lemur"
    assert SECRET_ACCESS_KEY not in repr(options)


def test_role_alone_uses_lemurs_own_credentials() -> None:
    options = AWSPCAOptions.model_validate(
        {
            "region": "eu-west-1",
            "certificate_authority_arn": CA_ARN,
            "role_arn": "arn:aws:iam::210987654321:role/path/lemur-issuer",
            "external_id": "lemur-prod-7f3a",
        }
    )
    assert options.credentials.access_key_id is None
    assert options.credentials.role_arn == "arn:aws:iam::210987654321:role/path/lemur-issuer"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"region": "eu-central-1"}, "is in region eu-west-1, but region is eu-central-1"),
        ({"region": "Europe"}, "String should match pattern"),
        (
            {"certificate_authority_arn": "arn:aws:acm:eu-west-1:123456789012:certificate/x"},
            "not a private CA ARN",
        ),
        (
            {"certificate_authority_arn": CA_ARN.replace("123456789012", "1234")},
            "not a private CA ARN",
        ),
        ({"secret_access_key": None}, "give both access_key_id and secret_access_key"),
        ({"access_key_id": None}, "give both access_key_id and secret_access_key"),
        ({"access_key_id": "not-a-key"}, "String should match pattern"),
        ({"external_id": "abc123"}, "external_id is used only with role_arn"),
        ({"role_arn": "arn:aws:iam::123456789012:user/lemur"}, "String should match pattern"),
        ({"role_session_name": "has space"}, "String should match pattern"),
        ({"signing_algorithm": "MD5WITHRSA"}, "Input should be 'SHA256WITHRSA'"),
        ({"template_arn": "EndEntityCertificate/V1"}, "String should match pattern"),
        ({"endpoint_url": "http://acm-pca.internal.example"}, "must be an https:// URL"),
        ({"endpoint_url": "ftp://127.0.0.1/"}, "must be an https:// URL"),
        ({"endpoint_url": "https://user:pw@pca.example/"}, "must not carry credentials"),
        ({"sts_endpoint_url": "http://10.0.0.5/"}, "must be an https:// URL"),
        ({"timeout": 0}, "greater than 0"),
        ({"acces_key": "typo"}, "Extra inputs are not permitted"),
    ],
)
def test_options_not_matching_the_schema_are_refused(changes: dict[str, Any], message: str) -> None:
    values = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    with pytest.raises(ValidationError) as caught:
        AWSPCAOptions.model_validate(values)
    assert message in str(caught.value)
    assert SECRET_ACCESS_KEY not in str(caught.value)


@pytest.mark.parametrize(
    "url", ["https://acm-pca.eu-west-1.amazonaws.com", "http://127.0.0.1:5000", "http://[::1]/"]
)
def test_endpoint_is_https_or_loopback(url: str) -> None:
    assert AWSPCAOptions.model_validate({**GOOD, "endpoint_url": url}).endpoint_url == url


def test_serial_is_colon_separated_hex_byte_pairs() -> None:
    assert serial_hex(0x0A1B2C) == "0a:1b:2c"
    assert serial_hex(0xA1B2C) == "0a:1b:2c"
    assert serial_hex(1) == "01"


def test_idempotency_token_follows_the_request() -> None:
    token = idempotency_token(b"csr-1", CA_ARN, "template/EndEntityCertificate/V1")
    assert len(token) <= 36
    assert token == idempotency_token(b"csr-1", CA_ARN, "template/EndEntityCertificate/V1")
    assert token != idempotency_token(b"csr-2", CA_ARN, "template/EndEntityCertificate/V1")
    assert token != idempotency_token(b"csr-1", CA_ARN, "template/CodeSigningCertificate/V1")
