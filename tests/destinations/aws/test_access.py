"""Missing permissions and wrong credentials, against a moto server that enforces IAM.

moto checks signatures and IAM policies once ``INITIAL_NO_AUTH_ACTION_COUNT`` requests have
been served without (a server-process setting), so this module starts its own server: the
first requests create an admin user, which sets up a load balancer and a ``lemur`` user
that may only look (sts:GetCallerIdentity, list and read certificates, describe listeners).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import boto3
import pytest

from lemur.clock import SystemClock
from lemur.outbound import OutboundPolicy, plugin_context
from lemur.plugins.errors import PluginConfigurationError
from lemur.plugins.values import Bundle, DeploymentRef, PluginContext
from tests.destinations.aws.conftest import (
    ROLE_B,
    LoadBalancers,
    acm_destination,
    iam_destination,
)
from tests.peers.moto import REGION, MotoServer, start_moto

WRONG_SECRET = "Wrong/Secret/0123456789abcdefghijklmnopqrs"
LOOK_ONLY = [
    "sts:GetCallerIdentity",
    "iam:ListServerCertificates",
    "iam:GetServerCertificate",
    "acm:ListCertificates",
    "acm:GetCertificate",
    "elasticloadbalancing:DescribeListeners",
]


@dataclass(frozen=True)
class IamWorld:
    moto: MotoServer
    listener: str
    served: str
    access_key_id: str
    secret_access_key: str

    def options(self, **changes: Any) -> dict[str, Any]:
        return {
            "access_key_id": self.access_key_id,
            "secret_access_key": self.secret_access_key,
            **changes,
        }


def _policy(actions: list[str]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }
    )


@pytest.fixture(scope="module")
def iam_world(
    tmp_path_factory: pytest.TempPathFactory, bundles: tuple[Bundle, Bundle]
) -> Iterator[IamWorld]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "4")
        moto = start_moto(tmp_path_factory.mktemp("moto-iam"))
    try:
        iam = moto.client("iam")  # the first requests: no authentication yet
        iam.create_user(UserName="admin")
        key = iam.create_access_key(UserName="admin")["AccessKey"]
        iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=_policy(["*"]))

        def admin(service: str) -> Any:
            return boto3.client(
                service,
                region_name=REGION,
                endpoint_url=moto.endpoint_url,
                aws_access_key_id=key["AccessKeyId"],
                aws_secret_access_key=key["SecretAccessKey"],
            )

        # The listener serves a certificate the admin deployed with the plugin.
        admin_key = {
            "access_key_id": key["AccessKeyId"],
            "secret_access_key": key["SecretAccessKey"],
        }
        with plugin_context(OutboundPolicy(timeout=5), SystemClock(), "tests.aws") as context:
            served = iam_destination(moto, context, **admin_key).deploy(bundles[0])
        listener = LoadBalancers(admin).elbv2_listener(served.value)
        admin_iam = admin("iam")
        admin_iam.create_user(UserName="lemur")
        lemur = admin_iam.create_access_key(UserName="lemur")["AccessKey"]
        admin_iam.put_user_policy(
            UserName="lemur", PolicyName="look-only", PolicyDocument=_policy(LOOK_ONLY)
        )
        yield IamWorld(moto, listener, served.value, lemur["AccessKeyId"], lemur["SecretAccessKey"])
    finally:
        moto.stop()


def test_a_looking_identity_passes_check_connection(
    iam_world: IamWorld, aws_context: PluginContext
) -> None:
    for make in (iam_destination, acm_destination):
        summary = make(iam_world.moto, aws_context, **iam_world.options()).connect().summary
        assert "user/lemur" in summary


@pytest.mark.parametrize(
    ("make", "action"),
    [
        (iam_destination, "iam:UploadServerCertificate"),
        (acm_destination, "acm:ImportCertificate"),
    ],
)
def test_missing_permission_to_deploy_names_the_action_and_the_key(
    iam_world: IamWorld,
    aws_context: PluginContext,
    bundles: tuple[Bundle, Bundle],
    make: Any,
    action: str,
) -> None:
    destination = make(iam_world.moto, aws_context, **iam_world.options())
    with pytest.raises(PluginConfigurationError) as caught:
        destination.deploy(bundles[1])
    assert caught.value.code.endswith("_access_denied")
    assert caught.value.field == "options.access_key_id"
    assert action in caught.value.message
    assert "user/lemur is not authorized" in caught.value.message
    assert iam_world.secret_access_key not in str(caught.value)


def test_missing_permission_on_the_listener_names_the_action(
    iam_world: IamWorld, aws_context: PluginContext
) -> None:
    iam = iam_destination(iam_world.moto, aws_context, **iam_world.options())
    for call in (
        partial(iam.attached, iam_world.listener),
        partial(iam.attach, DeploymentRef(iam_world.served), iam_world.listener),
    ):
        with pytest.raises(PluginConfigurationError) as caught:
            call()
        assert caught.value.code == "aws_iam_access_denied"
        assert "elasticloadbalancing:DescribeListenerCertificates" in caught.value.message


def test_missing_permission_to_assume_the_role_names_the_role(
    iam_world: IamWorld, aws_context: PluginContext, bundles: tuple[Bundle, Bundle]
) -> None:
    acm = acm_destination(iam_world.moto, aws_context, **iam_world.options(role_arn=ROLE_B))
    with pytest.raises(PluginConfigurationError) as caught:
        acm.deploy(bundles[0])
    assert caught.value.code == "aws_acm_assume_role_denied"
    assert caught.value.field == "options.role_arn"
    assert ROLE_B in caught.value.message


def test_wrong_secret_names_the_secret_option_without_showing_it(
    iam_world: IamWorld, aws_context: PluginContext, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    iam = iam_destination(
        iam_world.moto, aws_context, **iam_world.options(secret_access_key=WRONG_SECRET)
    )
    with pytest.raises(PluginConfigurationError) as caught:
        iam.connect()
    assert caught.value.code == "aws_iam_bad_credentials"
    assert caught.value.field == "options.secret_access_key"
    assert "SignatureDoesNotMatch" in caught.value.message
    for secret in (WRONG_SECRET, iam_world.secret_access_key):
        assert secret not in str(caught.value)
        assert secret not in caplog.text
