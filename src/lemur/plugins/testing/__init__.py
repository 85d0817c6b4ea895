"""Contract tests every plugin must pass, shipped for plugin authors.

Each ``*Contract`` class is a pytest mixin: subclass it in your test module under a name
pytest collects (``Test...``), provide the fixtures it names, and the inherited tests run
against your plugin::

    import pytest
    from lemur.plugins.testing import IssuerContract, PluginClassContract

    class TestMyCAClass(PluginClassContract):
        @pytest.fixture
        def plugin_class(self):
            return MyCAIssuer

    class TestMyCA(IssuerContract):
        @pytest.fixture
        def issuer(self):
            return MyCAIssuer(MyCAIssuer.Options(url="https://ca.test"), context)

        @pytest.fixture
        def issuance_request(self):
            return IssuanceRequest(...)

Test against a real system where one can run (a container, a local server); fakes only
where none can. This package imports pytest, so import it from test code only. Its modules: readback
(parsing what a plugin produced back), classes (the plugin class as the registry sees it),
issuers (issuing, revoking, creating authorities, publishing CRLs), exporters, notifiers,
destinations.
"""

from __future__ import annotations

from lemur.plugins.testing.classes import PluginClassContract
from lemur.plugins.testing.destinations import (
    DestinationContract,
    ListenerRotatorContract,
    UnreachableDestinationContract,
    VerifierContract,
)
from lemur.plugins.testing.exporters import ExporterContract
from lemur.plugins.testing.issuers import (
    AuthorityCreatorContract,
    ConnectorContract,
    CRLPublisherContract,
    IssuerContract,
)
from lemur.plugins.testing.notifiers import NotifierContract, contract_notice, secret_values
from lemur.plugins.testing.readback import ReadBack, assert_chain_links, read_back

__all__ = [
    "AuthorityCreatorContract",
    "CRLPublisherContract",
    "ConnectorContract",
    "DestinationContract",
    "ExporterContract",
    "IssuerContract",
    "ListenerRotatorContract",
    "NotifierContract",
    "PluginClassContract",
    "ReadBack",
    "UnreachableDestinationContract",
    "VerifierContract",
    "assert_chain_links",
    "contract_notice",
    "read_back",
    "secret_values",
]
