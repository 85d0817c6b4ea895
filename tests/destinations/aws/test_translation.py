"""AWS's answers moto cannot produce, from a local stand-in speaking AWS's protocols to a
real botocore client: throttling and 5xx are transient, a denial names the option to fix,
a malformed certificate is rejected, and an upload racing another ends in the same ARN."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from xml.sax.saxutils import escape

import pytest
from cryptography.hazmat.primitives import serialization

from lemur.builtin.aws_destinations import ACMDestination, ACMOptions, IAMDestination, IAMOptions
from lemur.builtin.aws_destinations.iam import certificate_name
from lemur.plugins.errors import (
    PluginConfigurationError,
    PluginError,
    PluginRejected,
    PluginTransientError,
)
from lemur.plugins.values import Bundle, DeploymentRef, PluginContext
from tests.destinations.aws.aws_errors import AWSStandIn, json_error, xml_error, xml_result
from tests.destinations.aws.conftest import ACCOUNT_A, ROLE_B
from tests.peers.moto import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

LISTENER = (
    f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT_A}:listener/app/web/"
    "0123456789abcdef/0123456789abcdef"
)


@pytest.fixture(scope="module")
def _stand_in() -> Iterator[AWSStandIn]:
    server = AWSStandIn()
    yield server
    server.stop()


@pytest.fixture
def stand_in(_stand_in: AWSStandIn) -> AWSStandIn:
    _stand_in.fail_with("Throttling")
    return _stand_in


def options(server: AWSStandIn, **changes: Any) -> dict[str, Any]:
    return {
        "region": REGION,
        "endpoint_url": server.endpoint_url,
        "sts_endpoint_url": server.endpoint_url,
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
        "timeout": 5,
        **changes,
    }


def plugins(server: AWSStandIn, context: PluginContext, **changes: Any) -> list[Any]:
    return [
        IAMDestination(IAMOptions.model_validate(options(server, **changes)), context),
        ACMDestination(ACMOptions.model_validate(options(server, **changes)), context),
    ]


def operations(plugin: Any, bundle: Bundle) -> list[Callable[[], object]]:
    ref = DeploymentRef(
        f"arn:aws:iam::{ACCOUNT_A}:server-certificate/www"
        if isinstance(plugin, IAMDestination)
        else f"arn:aws:acm:{REGION}:{ACCOUNT_A}:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
    )
    return [
        partial(plugin.deploy, bundle),
        partial(plugin.remove, ref),
        partial(plugin.verify, ref, bundle),
        plugin.connect,
        partial(plugin.attach, ref, LISTENER),
        partial(plugin.attached, LISTENER),
    ]


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("Throttling", 400),
        ("ThrottlingException", 400),
        ("RequestLimitExceeded", 400),
        ("ServiceUnavailable", 503),
        ("InternalFailure", 500),
    ],
)
def test_throttling_and_5xx_are_transient_everywhere(
    stand_in: AWSStandIn,
    aws_context: PluginContext,
    bundles: tuple[Bundle, Bundle],
    code: str,
    status: int,
) -> None:
    stand_in.fail_with(code, "Rate exceeded", status)
    for plugin in plugins(stand_in, aws_context):
        for call in operations(plugin, bundles[0]):
            before = len(stand_in.calls)
            with pytest.raises(PluginTransientError) as caught:
                call()
            assert caught.value.code == "peer_unavailable"
            assert code in caught.value.message
            # One attempt: Lemur's job runner retries with backoff, not botocore.
            assert len(stand_in.calls) == before + 1


def test_throttled_assume_role_is_transient(
    stand_in: AWSStandIn, aws_context: PluginContext, bundles: tuple[Bundle, Bundle]
) -> None:
    for plugin in plugins(stand_in, aws_context, role_arn=ROLE_B):
        with pytest.raises(PluginTransientError):
            plugin.deploy(bundles[0])
    assert set(stand_in.calls) == {"AssumeRole"}


@pytest.mark.parametrize("role", [None, ROLE_B])
def test_access_denied_names_the_identity_option_never_the_secret(
    stand_in: AWSStandIn,
    aws_context: PluginContext,
    bundles: tuple[Bundle, Bundle],
    role: str | None,
) -> None:
    stand_in.fail_with(
        "AccessDenied", "User: arn:aws:iam::123456789012:user/lemur is not authorized"
    )
    if role is not None:
        # The role is assumed; what it may do is denied.
        for _ in range(2):
            stand_in.script(
                "AssumeRole",
                xml_result(
                    "AssumeRole",
                    "<Credentials><AccessKeyId>ASIATEMPORARY0001</AccessKeyId>"
                    "<SecretAccessKey>temporary-secret-0001</SecretAccessKey>"
                    "<SessionToken>temporary-token</SessionToken>"
                    "<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>",
                ),
            )
    for plugin in plugins(stand_in, aws_context, role_arn=role):
        with pytest.raises(PluginConfigurationError) as caught:
            plugin.deploy(bundles[0])
        assert caught.value.field == ("options.role_arn" if role else "options.access_key_id")
        assert caught.value.code.endswith("_access_denied")
        assert SECRET_ACCESS_KEY not in str(caught.value)
        assert "temporary-secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("code", "kind", "code_out"),
    [
        ("MalformedCertificate", PluginRejected, "aws_iam_invalid_certificate"),
        ("KeyPairMismatch", PluginRejected, "aws_iam_invalid_certificate"),
        ("LimitExceeded", PluginRejected, "aws_iam_rejected"),
        ("InvalidClientTokenId", PluginConfigurationError, "aws_iam_bad_credentials"),
    ],
)
def test_iam_refusals_of_the_upload(
    stand_in: AWSStandIn,
    aws_context: PluginContext,
    bundles: tuple[Bundle, Bundle],
    code: str,
    kind: type[PluginError],
    code_out: str,
) -> None:
    stand_in.fail_with("NoSuchEntity", "no such certificate", 404)
    stand_in.script("UploadServerCertificate", xml_error(code, "IAM's own words"))
    iam = plugins(stand_in, aws_context)[0]
    with pytest.raises(PluginError) as caught:
        iam.deploy(bundles[0])
    assert type(caught.value) is kind
    assert caught.value.code == code_out
    assert f"{code}: IAM's own words" in caught.value.message


def test_upload_racing_another_returns_the_certificate_it_uploaded(
    stand_in: AWSStandIn, aws_context: PluginContext, bundles: tuple[Bundle, Bundle]
) -> None:
    bundle = bundles[0]
    name = certificate_name(bundle)
    arn = f"arn:aws:iam::{ACCOUNT_A}:server-certificate/{name}"
    body = bundle.certificate.public_bytes(serialization.Encoding.PEM).decode()
    stand_in.script(
        "GetServerCertificate",
        xml_error("NoSuchEntity", "not there yet", 404),
        xml_result(
            "GetServerCertificate",
            "<ServerCertificate><ServerCertificateMetadata>"
            f"<ServerCertificateName>{name}</ServerCertificateName><Path>/</Path>"
            f"<Arn>{arn}</Arn><ServerCertificateId>ASCATEST</ServerCertificateId>"
            "<UploadDate>2026-12-01T00:00:00Z</UploadDate>"
            "</ServerCertificateMetadata>"
            f"<CertificateBody>{escape(body)}</CertificateBody></ServerCertificate>",
        ),
    )
    stand_in.script(
        "UploadServerCertificate", xml_error("EntityAlreadyExists", "already exists", 409)
    )
    ref = plugins(stand_in, aws_context)[0].deploy(bundle)
    assert ref == DeploymentRef(arn)
    assert stand_in.calls == [
        "GetServerCertificate",
        "UploadServerCertificate",
        "GetServerCertificate",
    ]


def test_certificate_in_use_is_refused_with_the_way_out(
    stand_in: AWSStandIn, aws_context: PluginContext, bundles: tuple[Bundle, Bundle]
) -> None:
    iam_ref = f"arn:aws:iam::{ACCOUNT_A}:server-certificate/www"
    stand_in.script(
        "GetServerCertificate",
        xml_result(
            "GetServerCertificate",
            "<ServerCertificate><ServerCertificateMetadata>"
            "<ServerCertificateName>www</ServerCertificateName><Path>/</Path>"
            f"<Arn>{iam_ref}</Arn><ServerCertificateId>ASCATEST</ServerCertificateId>"
            "</ServerCertificateMetadata><CertificateBody>-</CertificateBody></ServerCertificate>",
        ),
    )
    stand_in.script("DeleteServerCertificate", xml_error("DeleteConflict", "in use", 409))
    stand_in.script(
        "DeleteCertificate",
        # ACM's JSON protocol
        json_error("ResourceInUseException", "in use by a load balancer"),
    )
    iam, acm = plugins(stand_in, aws_context)
    for plugin, ref in (
        (iam, DeploymentRef(iam_ref)),
        (
            acm,
            DeploymentRef(
                f"arn:aws:acm:{REGION}:{ACCOUNT_A}:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
            ),
        ),
    ):
        with pytest.raises(PluginRejected) as caught:
            plugin.remove(ref)
        assert caught.value.code.endswith("_in_use")
        assert "move the listeners" in caught.value.message
