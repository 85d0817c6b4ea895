"""The plugin contract kit against the real Pebble: issuing with HTTP-01 (served from the
responder Lemur would give) and DNS-01 (TXT records in BIND), connecting, the class."""

from __future__ import annotations

from typing import Any

import pytest

from lemur.builtin.acme import ACMEIssuer, ACMEOptions
from lemur.plugins.testing import ConnectorContract, IssuerContract, PluginClassContract
from lemur.plugins.values import IssuanceRequest
from tests.issuers.acme.conftest import (
    base_options,
    dns_options,
    make_context,
    make_request,
    unique,
)
from tests.peers.pebble import EAB_HMAC_KEY, EAB_KID, PebblePeer


class TestACMEClass(PluginClassContract):
    @pytest.fixture
    def plugin_class(self) -> type[ACMEIssuer]:
        return ACMEIssuer

    @pytest.fixture
    def plugin_options(self, pebble: PebblePeer, acme_account: dict[str, Any]) -> dict[str, Any]:
        return dns_options(pebble, eab_kid=EAB_KID, eab_hmac_key=EAB_HMAC_KEY, **acme_account)


class TestHTTP01Issuance(IssuerContract):
    honours_requested_validity = False  # the CA chooses the validity

    @pytest.fixture
    def issuer(self, http_issuer: ACMEIssuer) -> ACMEIssuer:
        return http_issuer

    @pytest.fixture
    def issuance_request(self) -> IssuanceRequest:
        name = f"{unique('www')}.example.test"
        return make_request([name, f"api.{name}"], common_name=name)


class TestDNS01Issuance(IssuerContract):
    honours_requested_validity = False

    @pytest.fixture
    def issuer(self, dns_issuer: ACMEIssuer) -> ACMEIssuer:
        return dns_issuer

    @pytest.fixture
    def issuance_request(self) -> IssuanceRequest:
        name = f"{unique('dns')}.example.test"
        return make_request([name, f"*.{name}"], common_name=name)


class TestConnector(ConnectorContract):
    @pytest.fixture
    def connector(self, pebble: PebblePeer) -> ACMEIssuer:
        return ACMEIssuer(ACMEOptions.model_validate(base_options(pebble)), make_context(None))
