"""The plugin contract kit against a real ``cfssl serve``: issuing with and without an
auth profile, connecting, and the plugin class as the registry sees it."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from lemur.builtin.cfssl import CFSSLIssuer
from lemur.crypto.keys import KeySpec
from lemur.crypto.profiles import Profile
from lemur.plugins.base import Plugin
from lemur.plugins.testing import ConnectorContract, IssuerContract, PluginClassContract
from lemur.plugins.values import IssuanceRequest
from tests.issuers.cfssl.conftest import IssuerFactory, make_request
from tests.peers.cfssl import CFSSLPeer


class TestCFSSLClass(PluginClassContract):
    @pytest.fixture
    def plugin_class(self) -> type[Plugin[Any]]:
        return CFSSLIssuer

    @pytest.fixture
    def plugin_options(self) -> dict[str, Any]:
        return {
            "url": "https://cfssl.example.test:8888",
            "profile": "authed",
            "label": "primary",
            "auth_key": "0123456789abcdef0123456789abcdef",
        }


class TestCFSSLIssuer(IssuerContract):
    # cfssl's profile sets the validity (1.2 ignores the requested one).
    honours_requested_validity: ClassVar[bool] = False

    @pytest.fixture
    def issuer(self, make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer) -> CFSSLIssuer:
        return make_issuer(profile=cfssl_peer.server_profile)

    @pytest.fixture
    def issuance_request(self) -> IssuanceRequest:
        return make_request()


class TestCFSSLAuthIssuer(IssuerContract):
    honours_requested_validity: ClassVar[bool] = False

    @pytest.fixture
    def issuer(self, make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer) -> CFSSLIssuer:
        return make_issuer(profile=cfssl_peer.authed_profile, auth_key=cfssl_peer.auth_key_hex)

    @pytest.fixture
    def issuance_request(self) -> IssuanceRequest:
        return make_request(key_spec=KeySpec.RSA_2048, profile=Profile.SERVER)


class TestCFSSLConnector(ConnectorContract):
    @pytest.fixture(params=["plain", "auth", "tls"])
    def connector(
        self, request: pytest.FixtureRequest, make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
    ) -> CFSSLIssuer:
        if request.param == "auth":
            return make_issuer(profile=cfssl_peer.authed_profile, auth_key=cfssl_peer.auth_key_hex)
        if request.param == "tls":
            return make_issuer(url=cfssl_peer.tls_url, ca_bundle=cfssl_peer.tls_ca_pem)
        return make_issuer(profile=cfssl_peer.client_profile)
