"""The shipped contract kit, run against every built-in plugin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509

from lemur.builtin.exporters import (
    DERCertificateExporter,
    JKSExporter,
    JKSTruststoreExporter,
    PEMBundleExporter,
    PEMCertificateExporter,
    PEMChainExporter,
    PKCS7BundleExporter,
    PKCS8KeyExporter,
    PKCS12Exporter,
)
from lemur.builtin.local_ca import LocalCAIssuer
from lemur.crypto.keys import KeySpec, generate_private_key
from lemur.crypto.profiles import Profile
from lemur.crypto.revocation import RevocationReason, RevokedEntry
from lemur.notifiers.email import EmailNotifier
from lemur.notifiers.ses import SESNotifier
from lemur.notifiers.slack import SlackNotifier
from lemur.notifiers.webhook import WebhookNotifier
from lemur.plugins.base import Exporter, NoOptions, Notifier, Plugin
from lemur.plugins.testing import (
    AuthorityCreatorContract,
    CRLPublisherContract,
    ExporterContract,
    IssuerContract,
    NotifierContract,
    PluginClassContract,
)
from lemur.plugins.values import (
    AuthoritySpec,
    Bundle,
    CRLRequest,
    IssuanceRequest,
    PluginContext,
    Recipient,
)
from tests.notifiers.conftest import (
    SENDER,
    closed_port,
    email_notifier,
    ses_notifier,
    slack_notifier,
    webhook_notifier,
)
from tests.peers.fixtures import *  # noqa: F403  (notifier peers)
from tests.peers.moto import MotoServer
from tests.peers.receivers import SlackReceiver, WebhookReceiver
from tests.peers.smtp import SMTPPeer
from tests.plugins.conftest import (
    CA,
    DAY,
    NOW,
    PASSPHRASE,
    ca_name,
    leaf_request,
    local_ca,
    make_context,
)

EXPORTERS: list[type[Exporter[Any]]] = [
    PEMCertificateExporter,
    PEMChainExporter,
    PEMBundleExporter,
    DERCertificateExporter,
    PKCS7BundleExporter,
    PKCS8KeyExporter,
    PKCS12Exporter,
    JKSExporter,
    JKSTruststoreExporter,
]
NOTIFIERS: list[type[Notifier[Any]]] = [EmailNotifier, SESNotifier, SlackNotifier, WebhookNotifier]
BUILTINS: list[type[Plugin[Any]]] = [LocalCAIssuer, *EXPORTERS, *NOTIFIERS]
# Valid options (secrets included) for the plugins that require some.
OPTIONS: dict[str, dict[str, Any]] = {
    "email": {
        "host": "smtp.example.com",
        "username": "lemur",
        "password": "smtp-password",
        "from_address": "lemur@example.com",
    },
    "ses": {
        "region": "eu-west-1",
        "source": "lemur@example.com",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "secret_access_key": "aws-secret",
    },
    "slack": {"webhook_url": "https://hooks.slack.com/services/T0/B0/token"},
    "webhook": {"url": "https://hooks.example.com/lemur", "secret": "0123456789abcdef"},
}


class TestBuiltinPluginClasses(PluginClassContract):
    @pytest.fixture(params=BUILTINS, ids=lambda cls: cls.slug)
    def plugin_class(self, request: pytest.FixtureRequest) -> type[Plugin[Any]]:
        cls: type[Plugin[Any]] = request.param
        return cls

    @pytest.fixture
    def plugin_options(self, plugin_class: type[Plugin[Any]]) -> dict[str, Any] | None:
        return OPTIONS.get(plugin_class.slug)


def _server_ec(ca: CA) -> IssuanceRequest:
    return leaf_request(ca.intermediate, key=generate_private_key(KeySpec.EC_P256))


def _client_rsa(ca: CA) -> IssuanceRequest:
    return leaf_request(
        ca.intermediate,
        key=generate_private_key(KeySpec.RSA_2048),
        key_spec=KeySpec.RSA_2048,
        common_name="Alice Example",
        dns_names=(),
        emails=("alice@example.com",),
        profile=Profile.CLIENT,
        days=30,
    )


def _server_client_ed25519_without_cn(ca: CA) -> IssuanceRequest:
    return leaf_request(
        ca.intermediate,
        key=generate_private_key(KeySpec.ED25519),
        key_spec=KeySpec.ED25519,
        common_name=None,
        dns_names=("*.svc.example.com",),
        ip_addresses=("192.0.2.7", "2001:db8::7"),
        uris=("spiffe://example.com/ns/prod/sa/api",),
        profile=Profile.SERVER_CLIENT,
    )


def _server_from_root(ca: CA) -> IssuanceRequest:
    return leaf_request(
        ca.root, key=generate_private_key(KeySpec.EC_P384), key_spec=KeySpec.EC_P384
    )


class TestLocalCAIssuerContract(IssuerContract):
    @pytest.fixture
    def issuer(self) -> LocalCAIssuer:
        return local_ca()

    @pytest.fixture(
        params=[_server_ec, _client_rsa, _server_client_ed25519_without_cn, _server_from_root],
        ids=["server-ec", "client-rsa", "server-client-ed25519-no-cn", "from-root"],
    )
    def issuance_request(self, request: pytest.FixtureRequest, ca: CA) -> IssuanceRequest:
        build = request.param
        req: IssuanceRequest = build(ca)
        return req


class TestLocalCAAuthorityCreatorContract(AuthorityCreatorContract):
    @pytest.fixture
    def authority_creator(self) -> LocalCAIssuer:
        return LocalCAIssuer(NoOptions(), make_context())

    @pytest.fixture(params=["root-rsa-3072", "intermediate-ed25519-constrained"])
    def authority_spec(self, request: pytest.FixtureRequest, ca: CA) -> AuthoritySpec:
        if request.param == "root-rsa-3072":
            return AuthoritySpec(
                subject=ca_name("Contract Root"),
                key_spec=KeySpec.RSA_3072,
                not_before=NOW,
                not_after=NOW + 365 * DAY,
                path_length=None,
            )
        return AuthoritySpec(
            subject=ca_name("Contract Intermediate"),
            key_spec=KeySpec.ED25519,
            not_before=NOW,
            not_after=NOW + 365 * DAY,
            path_length=0,
            permitted_dns_subtrees=("example.com",),
            parent=ca.root,
        )


class TestLocalCACRLPublisherContract(CRLPublisherContract):
    @pytest.fixture
    def crl_publisher(self) -> LocalCAIssuer:
        return local_ca()

    @pytest.fixture(params=["empty", "three-revoked"])
    def crl_request(self, request: pytest.FixtureRequest, ca: CA) -> CRLRequest:
        revoked = (
            ()
            if request.param == "empty"
            else (
                RevokedEntry(0x1234, NOW - DAY, RevocationReason.KEY_COMPROMISE),
                RevokedEntry(0xABCDEF, NOW - 2 * DAY, RevocationReason.UNSPECIFIED),
                RevokedEntry(7, NOW, RevocationReason.SUPERSEDED),
            )
        )
        return CRLRequest(
            authority=ca.intermediate,
            revoked=revoked,
            crl_number=42,
            this_update=NOW,
            next_update=NOW + 3 * DAY,
        )


class TestBuiltinExporterContract(ExporterContract):
    @pytest.fixture(params=EXPORTERS, ids=lambda cls: cls.slug)
    def exporter(self, request: pytest.FixtureRequest) -> Exporter[Any]:
        cls: type[Exporter[Any]] = request.param
        return cls(NoOptions(), make_context())

    @pytest.fixture
    def bundle(self, full_bundle: Bundle) -> Bundle:
        return full_bundle

    @pytest.fixture
    def passphrase(self) -> bytes:
        return PASSPHRASE

    def expected_certificates(
        self, exporter: Exporter[Any], bundle: Bundle
    ) -> list[x509.Certificate]:
        return {
            "pem-certificate": [bundle.certificate],
            "der-certificate": [bundle.certificate],
            "pem-chain": list(bundle.chain),
            "pkcs8-key": [],
        }.get(exporter.slug, [bundle.certificate, *bundle.chain])


class TestEmailNotifierContract(NotifierContract):
    @pytest.fixture
    def notifier(self, smtp_server: SMTPPeer, notifier_context: PluginContext) -> Notifier[Any]:
        return email_notifier(smtp_server, notifier_context)

    @pytest.fixture
    def unreachable_notifier(
        self, smtp_server: SMTPPeer, notifier_context: PluginContext
    ) -> Notifier[Any]:
        return email_notifier(smtp_server, notifier_context, port=closed_port())

    @pytest.fixture
    def recipients(self) -> list[Recipient]:
        return [Recipient("ops@example.test")]

    @pytest.fixture
    def deliveries(self, smtp_server: SMTPPeer) -> Callable[[], list[str]]:
        return lambda: [m.raw.decode() for m in smtp_server.messages]


class TestSESNotifierContract(NotifierContract):
    @pytest.fixture
    def notifier(self, moto_server: MotoServer, notifier_context: PluginContext) -> Notifier[Any]:
        moto_server.verify_ses_identity(SENDER)
        return ses_notifier(moto_server, notifier_context)

    @pytest.fixture
    def unreachable_notifier(
        self, moto_server: MotoServer, notifier_context: PluginContext
    ) -> Notifier[Any]:
        return ses_notifier(
            moto_server, notifier_context, endpoint_url=f"http://127.0.0.1:{closed_port()}"
        )

    @pytest.fixture
    def recipients(self) -> list[Recipient]:
        return [Recipient("ops@example.test")]

    @pytest.fixture
    def deliveries(self, moto_server: MotoServer) -> Callable[[], list[str]]:
        return lambda: [m.raw for m in moto_server.ses_messages()]


class TestSlackNotifierContract(NotifierContract):
    @pytest.fixture
    def notifier(
        self, slack_receiver: SlackReceiver, notifier_context: PluginContext
    ) -> Notifier[Any]:
        return slack_notifier(slack_receiver.url, notifier_context)

    @pytest.fixture
    def unreachable_notifier(self, notifier_context: PluginContext) -> Notifier[Any]:
        return slack_notifier(
            f"http://127.0.0.1:{closed_port()}/services/T1/B1/tok", notifier_context
        )

    @pytest.fixture
    def recipients(self) -> list[Recipient]:
        return [Recipient("#certificates")]

    @pytest.fixture
    def deliveries(self, slack_receiver: SlackReceiver) -> Callable[[], list[str]]:
        return lambda: [r.body.decode() for r in slack_receiver.requests if r.answered == 200]


class TestWebhookNotifierContract(NotifierContract):
    @pytest.fixture
    def notifier(
        self, webhook_receiver: WebhookReceiver, notifier_context: PluginContext
    ) -> Notifier[Any]:
        return webhook_notifier(webhook_receiver.url, notifier_context)

    @pytest.fixture
    def unreachable_notifier(self, notifier_context: PluginContext) -> Notifier[Any]:
        return webhook_notifier(f"http://127.0.0.1:{closed_port()}/hooks", notifier_context)

    @pytest.fixture
    def recipients(self) -> list[Recipient]:
        return [Recipient("ops@example.test")]

    @pytest.fixture
    def deliveries(self, webhook_receiver: WebhookReceiver) -> Callable[[], list[str]]:
        return lambda: [r.body.decode() for r in webhook_receiver.verified()]
