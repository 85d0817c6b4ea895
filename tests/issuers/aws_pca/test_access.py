"""Wrong credentials and missing permissions, against a moto server that enforces IAM.

moto checks signatures and IAM policies once ``INITIAL_NO_AUTH_ACTION_COUNT`` requests have
been served without (a server-process setting), so this module starts its own server: the
first requests create an admin user, which then sets up the CA and a ``lemur`` user allowed
only acm-pca:DescribeCertificateAuthority.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from lemur.plugins.errors import PluginConfigurationError
from lemur.plugins.values import PluginContext
from tests.issuers.aws_pca.conftest import ROLE_ARN, PrivateCA, create_private_ca, pca_issuer
from tests.peers.moto import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, MotoServer, start_moto

WRONG_SECRET = "Wrong/Secret/0123456789abcdefghijklmnopqrs"


@dataclass(frozen=True)
class IamWorld:
    moto: MotoServer
    ca: PrivateCA
    access_key_id: str
    secret_access_key: str


def _policy(action: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}],
        }
    )


@pytest.fixture(scope="module")
def iam_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IamWorld]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "4")
        moto = start_moto(tmp_path_factory.mktemp("moto-iam"))
    try:
        iam = moto.client("iam")  # the first requests: no authentication yet
        iam.create_user(UserName="admin")
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=_policy("*"))

        def admin(service: str) -> Any:
            return boto3.client(
                service,
                region_name=REGION,
                endpoint_url=moto.endpoint_url,
                aws_access_key_id=key["AccessKeyId"],
                aws_secret_access_key=key["SecretAccessKey"],
            )

        ca = create_private_ca(admin("acm-pca"))
        admin_iam = admin("iam")
        admin_iam.create_user(UserName="lemur")
        lemur = admin_iam.create_access_key(UserName="lemur")["AccessKey"]
        admin_iam.put_user_policy(
            UserName="lemur",
            PolicyName="describe-only",
            PolicyDocument=_policy("acm-pca:DescribeCertificateAuthority"),
        )
        yield IamWorld(moto, ca, lemur["AccessKeyId"], lemur["SecretAccessKey"])
    finally:
        moto.stop()


def test_missing_permission_names_the_action_and_the_identity(
    iam_world: IamWorld, pca_context: PluginContext
) -> None:
    issuer = pca_issuer(
        iam_world.moto,
        iam_world.ca.arn,
        pca_context,
        access_key_id=iam_world.access_key_id,
        secret_access_key=iam_world.secret_access_key,
    )
    with pytest.raises(PluginConfigurationError) as caught:
        issuer.connect()  # DescribeCertificateAuthority passes; the CA certificate does not
    assert caught.value.code == "aws_pca_access_denied"
    assert caught.value.field == "options.access_key_id"
    assert "acm-pca:GetCertificateAuthorityCertificate" in caught.value.message
    assert "user/lemur is not authorized" in caught.value.message


def test_missing_permission_to_assume_the_role_names_the_role(
    iam_world: IamWorld, pca_context: PluginContext
) -> None:
    issuer = pca_issuer(
        iam_world.moto,
        iam_world.ca.arn,
        pca_context,
        access_key_id=iam_world.access_key_id,
        secret_access_key=iam_world.secret_access_key,
        role_arn=ROLE_ARN,
        sts_endpoint_url=iam_world.moto.endpoint_url,
    )
    with pytest.raises(PluginConfigurationError) as caught:
        issuer.connect()
    assert caught.value.code == "aws_pca_assume_role_denied"
    assert caught.value.field == "options.role_arn"
    assert f"assume {ROLE_ARN}" in caught.value.message


def test_wrong_secret_names_the_secret_option_without_showing_it(
    iam_world: IamWorld, pca_context: PluginContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    issuer = pca_issuer(
        iam_world.moto,
        iam_world.ca.arn,
        pca_context,
        access_key_id=iam_world.access_key_id,
        secret_access_key=WRONG_SECRET,
    )
    with pytest.raises(PluginConfigurationError) as caught:
        issuer.connect()
    assert caught.value.code == "aws_pca_bad_credentials"
    assert caught.value.field == "options.secret_access_key"
    assert "SignatureDoesNotMatch" in caught.value.message
    for secret in (WRONG_SECRET, iam_world.secret_access_key):
        assert secret not in str(caught.value)
        assert secret not in caplog.text


def test_unknown_access_key_names_the_key_option(
    iam_world: IamWorld, pca_context: PluginContext
) -> None:
    # The shared test key exists in no IAM user of this server.
    issuer = pca_issuer(
        iam_world.moto,
        iam_world.ca.arn,
        pca_context,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
    )
    with pytest.raises(PluginConfigurationError) as caught:
        issuer.connect()
    assert caught.value.code == "aws_pca_bad_credentials"
    assert caught.value.field == "options.access_key_id"
    assert "InvalidClientTokenId" in caught.value.message
    assert SECRET_ACCESS_KEY not in str(caught.value)
