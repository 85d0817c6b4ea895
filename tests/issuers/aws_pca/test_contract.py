"""The shipped contract kit against the aws-pca issuer and a real moto server."""

from __future__ import annotations

from typing import Any

import pytest

from lemur.builtin.aws_pca import AWSPCAIssuer
from lemur.plugins.testing import ConnectorContract, IssuerContract, PluginClassContract
from lemur.plugins.values import PluginContext
from tests.issuers.aws_pca.conftest import PrivateCA, pca_issuer, pca_options
from tests.peers.moto import MotoServer

CA_ARN = "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


class TestAWSPCAClass(PluginClassContract):
    @pytest.fixture
    def plugin_class(self) -> type[AWSPCAIssuer]:
        return AWSPCAIssuer

    @pytest.fixture
    def plugin_options(self) -> dict[str, Any]:
        return {
            "region": "us-east-1",
            "certificate_authority_arn": CA_ARN,
            "access_key_id": "AKIAIOSFODNN7EXAMPLE",
            "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "role_arn": "arn:aws:iam::123456789012:role/lemur-issuer",
            "external_id": "lemur-prod-7f3a",
            "signing_algorithm": "SHA256WITHRSA",
        }

    def test_stored_options_keep_no_clear_secret(self) -> None:
        options = AWSPCAIssuer.Options.model_validate(
            {"region": "us-east-1", "certificate_authority_arn": CA_ARN}
        )
        assert options.template_arn == "arn:aws:acm-pca:::template/EndEntityCertificate/V1"  # type: ignore[attr-defined]


class TestAWSPCAIssuer(IssuerContract):
    @pytest.fixture
    def issuer(
        self, moto_server: MotoServer, private_ca: PrivateCA, pca_context: PluginContext
    ) -> AWSPCAIssuer:
        return pca_issuer(moto_server, private_ca.arn, pca_context)


class TestAWSPCAConnector(ConnectorContract):
    @pytest.fixture
    def connector(
        self, moto_server: MotoServer, private_ca: PrivateCA, pca_context: PluginContext
    ) -> AWSPCAIssuer:
        return pca_issuer(moto_server, private_ca.arn, pca_context)


def test_options_helper_drops_unset_values(moto_server: MotoServer) -> None:
    assert "role_arn" not in pca_options(moto_server, CA_ARN, role_arn=None)
