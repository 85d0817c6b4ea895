"""How AWS's answers that moto cannot produce (throttling, 5xx, a malformed CSR, an expired
session) become Lemur's errors: the translation is a pure function of AWS's error."""

from __future__ import annotations

import logging

import pytest

from lemur.builtin.aws_pca import AWSPCAIssuer, AWSPCAOptions
from lemur.clock import SystemClock
from lemur.plugins.aws import AwsError
from lemur.plugins.errors import (
    PluginConfigurationError,
    PluginError,
    PluginRejected,
    PluginTransientError,
)
from lemur.plugins.values import PluginContext
from tests.issuers.aws_pca.conftest import ROLE_ARN

CA_ARN = (
    "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/"
    "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
)
CONTEXT = PluginContext(clock=SystemClock(), logger=logging.getLogger("tests.aws_pca"))


def translate(error: AwsError, **options: str) -> PluginError:
    values = {"region": "us-east-1", "certificate_authority_arn": CA_ARN, **options}
    issuer = AWSPCAIssuer(AWSPCAOptions.model_validate(values), CONTEXT)
    return issuer._translate(error, "AWS Private CA")


@pytest.mark.parametrize(
    ("code", "status", "kind", "code_out"),
    [
        ("ThrottlingException", 400, PluginTransientError, "peer_unavailable"),
        ("ServiceUnavailable", 503, PluginTransientError, "peer_unavailable"),
        ("SomethingNew", 500, PluginTransientError, "peer_unavailable"),
        ("RequestFailedException", 400, PluginTransientError, "peer_unavailable"),
        ("MalformedCSRException", 400, PluginRejected, "aws_pca_rejected"),
        ("ValidationException", 400, PluginRejected, "aws_pca_rejected"),
        ("InvalidArgsException", 400, PluginRejected, "aws_pca_rejected"),
        ("LimitExceededException", 400, PluginRejected, "aws_pca_rejected"),
        ("InvalidArnException", 400, PluginConfigurationError, "aws_pca_not_found"),
    ],
)
def test_aws_codes_become_lemur_errors_with_awss_words(
    code: str, status: int, kind: type[PluginError], code_out: str
) -> None:
    error = translate(AwsError(code, "the CA's own words", status, "IssueCertificate"))
    assert type(error) is kind
    assert error.code == code_out
    assert f"{code}: the CA's own words" in error.message


def test_expired_session_of_a_role_names_the_role() -> None:
    error = translate(
        AwsError("ExpiredTokenException", "expired", 400, "IssueCertificate"),
        role_arn=ROLE_ARN,
    )
    assert isinstance(error, PluginConfigurationError)
    assert error.field == "options.role_arn"


def test_denied_through_a_role_names_the_role_and_the_action() -> None:
    error = translate(
        AwsError("AccessDeniedException", "no", 400, "RevokeCertificate"), role_arn=ROLE_ARN
    )
    assert isinstance(error, PluginConfigurationError)
    assert error.field == "options.role_arn"
    assert "acm-pca:RevokeCertificate" in error.message


def test_bad_signature_without_static_keys_names_the_key_option() -> None:
    # Lemur's own credentials were refused: the fix is to give a key (or repair the role).
    error = translate(AwsError("SignatureDoesNotMatch", "bad", 403, "GetCertificate"))
    assert isinstance(error, PluginConfigurationError)
    assert error.field == "options.access_key_id"
