"""The shipped contract kit against aws-iam and aws-acm and a real moto server."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509

from lemur.builtin.aws_destinations import ACMDestination, IAMDestination
from lemur.plugins.testing import (
    DestinationContract,
    ListenerRotatorContract,
    PluginClassContract,
    UnreachableDestinationContract,
    VerifierContract,
)
from lemur.plugins.values import DeploymentRef, PluginContext
from tests.destinations.aws.conftest import (
    ROLE_B,
    LoadBalancers,
    acm_destination,
    closed_url,
    iam_destination,
    read_acm,
    read_iam,
)
from tests.peers.moto import ACCESS_KEY_ID, SECRET_ACCESS_KEY, MotoServer

ALL_OPTIONS = {
    "region": "eu-west-1",
    "access_key_id": ACCESS_KEY_ID,
    "secret_access_key": SECRET_ACCESS_KEY,
    "role_arn": ROLE_B,
    "external_id": "lemur-prod-7f3a",
    "role_session_name": "lemur-deploy",
    "endpoint_url": "https://vpce-1.example.test",
    "sts_endpoint_url": "https://vpce-2.example.test",
    "timeout": 7.5,
}


class TestIAMClass(PluginClassContract):
    @pytest.fixture
    def plugin_class(self) -> type[IAMDestination]:
        return IAMDestination

    @pytest.fixture
    def plugin_options(self) -> dict[str, Any]:
        return {**ALL_OPTIONS, "path": "/cloudfront/lemur/"}


class TestACMClass(PluginClassContract):
    @pytest.fixture
    def plugin_class(self) -> type[ACMDestination]:
        return ACMDestination

    @pytest.fixture
    def plugin_options(self) -> dict[str, Any]:
        return {**ALL_OPTIONS, "name_tag": "lemur:name"}


class TestIAMDestination(
    DestinationContract, VerifierContract, ListenerRotatorContract, UnreachableDestinationContract
):
    @pytest.fixture
    def destination(self, moto_server: MotoServer, aws_context: PluginContext) -> IAMDestination:
        return iam_destination(moto_server, aws_context)

    @pytest.fixture
    def deployed(self, moto_server: MotoServer) -> Any:
        iam = moto_server.client("iam")
        return lambda ref: read_iam(iam, ref)

    @pytest.fixture
    def listener(self, balancers: LoadBalancers, other_certificate: str) -> str:
        return balancers.elbv2_listener(other_certificate)

    @pytest.fixture
    def unreachable_destination(self, aws_context: PluginContext) -> IAMDestination:
        return IAMDestination(
            IAMDestination.Options.model_validate(
                {**ALL_OPTIONS, "endpoint_url": closed_url(), "sts_endpoint_url": closed_url()}
            ),
            aws_context,
        )


class TestIAMClassicListener(ListenerRotatorContract):
    @pytest.fixture
    def destination(self, moto_server: MotoServer, aws_context: PluginContext) -> IAMDestination:
        return iam_destination(moto_server, aws_context)

    @pytest.fixture
    def listener(self, balancers: LoadBalancers, other_certificate: str) -> str:
        return balancers.classic_listener(other_certificate)


class TestACMDestination(
    DestinationContract, VerifierContract, ListenerRotatorContract, UnreachableDestinationContract
):
    @pytest.fixture
    def destination(self, moto_server: MotoServer, aws_context: PluginContext) -> ACMDestination:
        return acm_destination(moto_server, aws_context)

    @pytest.fixture
    def deployed(self, moto_server: MotoServer) -> Any:
        acm = moto_server.client("acm")

        def read(ref: DeploymentRef) -> x509.Certificate | None:
            return read_acm(acm, ref)

        return read

    @pytest.fixture
    def listener(self, balancers: LoadBalancers, other_certificate: str) -> str:
        return balancers.elbv2_listener(other_certificate)

    @pytest.fixture
    def unreachable_destination(self, aws_context: PluginContext) -> ACMDestination:
        return ACMDestination(
            ACMDestination.Options.model_validate(
                {**ALL_OPTIONS, "endpoint_url": closed_url(), "sts_endpoint_url": closed_url()}
            ),
            aws_context,
        )


class TestACMClassicListener(ListenerRotatorContract):
    @pytest.fixture
    def destination(self, moto_server: MotoServer, aws_context: PluginContext) -> ACMDestination:
        return acm_destination(moto_server, aws_context)

    @pytest.fixture
    def listener(self, balancers: LoadBalancers, other_certificate: str) -> str:
        return balancers.classic_listener(other_certificate)
