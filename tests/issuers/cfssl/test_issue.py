"""Issuing through a real ``cfssl serve``: what the certificate says, and what the user is
told when cfssl or the options are wrong."""

from __future__ import annotations

import ipaddress
import logging
import socket
import sqlite3
from collections.abc import Callable, Iterator

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lemur.builtin.cfssl import CFSSLIssuer, CFSSLOptions
from lemur.clock import SystemClock
from lemur.crypto.keys import KeySpec, public_keys_equal
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.profiles import Profile
from lemur.outbound import OutboundPolicy, plugin_context
from lemur.plugins.errors import PluginConfigurationError, PluginRejected, PluginTransientError
from lemur.plugins.values import IssuanceRequest, Issued
from tests.issuers.cfssl.conftest import LOGGER, IssuerFactory, make_request
from tests.peers.cfssl import PRIMARY_LABEL, SECOND_LABEL, CFSSLPeer
from tests.peers.server import free_port


def sans_of(certificate: x509.Certificate) -> SubjectAltNames:
    ext = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return SubjectAltNames.from_extension(ext)


def usages_of(certificate: x509.Certificate) -> set[x509.ObjectIdentifier]:
    return set(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def issued(result: object) -> Issued:
    assert isinstance(result, Issued)
    return result


def test_names_are_the_requested_ones_not_the_csrs(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    """hosts replaces the CSR's SANs: a CSR carrying an extra name gets only the request's."""
    request = make_request(
        dns_names=("www.example.test",),
        ip_addresses=("192.0.2.10", "2001:db8::1"),
        emails=("pki@example.test",),
        csr_sans=SubjectAltNames(dns_names=("www.example.test", "sneaky.example.test")),
    )
    result = issued(make_issuer(profile=cfssl_peer.server_profile).issue(request))
    names = sans_of(result.certificate)
    assert names.dns_names == ("www.example.test",)
    assert sorted(map(str, names.ip_addresses)) == ["192.0.2.10", "2001:db8::1"]
    assert names.emails == ("pki@example.test",)
    assert result.chain == (cfssl_peer.ca_certificate,)
    assert result.external_id == str(result.certificate.serial_number)


def test_a_request_without_names_gets_none(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    request = make_request(
        common_name="Build Agent 7",
        dns_names=(),
        ip_addresses=(),
        profile=Profile.CLIENT,
        csr_sans=SubjectAltNames(dns_names=("leftover.example.test",)),
    )
    result = issued(make_issuer(profile=cfssl_peer.client_profile).issue(request))
    with pytest.raises(x509.ExtensionNotFound):
        result.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_client_profile_gives_client_authentication(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    request = make_request(profile=Profile.CLIENT)
    result = issued(make_issuer(profile=cfssl_peer.client_profile).issue(request))
    assert usages_of(result.certificate) == {ExtendedKeyUsageOID.CLIENT_AUTH}


def test_server_profile_gives_server_authentication(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    result = issued(make_issuer(profile=cfssl_peer.server_profile).issue(make_request()))
    assert usages_of(result.certificate) == {ExtendedKeyUsageOID.SERVER_AUTH}


def test_a_profile_without_the_requested_usage_is_an_options_error(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    with pytest.raises(PluginConfigurationError) as caught:
        make_issuer(profile=cfssl_peer.server_profile).issue(make_request(profile=Profile.CLIENT))
    assert caught.value.field == "options.profile"
    assert "'server'" in caught.value.message
    assert "client_auth" in caught.value.message


def test_an_unknown_profile_name_is_caught_by_the_usages(
    make_issuer: IssuerFactory,
) -> None:
    """cfssl falls back to its default profile (server auth) for a name it does not know;
    a client request then fails instead of getting a server certificate."""
    with pytest.raises(PluginConfigurationError) as caught:
        make_issuer(profile="clinet").issue(make_request(profile=Profile.CLIENT))
    assert caught.value.field == "options.profile"


def test_the_cas_refusal_is_shown_in_its_words(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    request = make_request(dns_names=("www.example.org",), ip_addresses=())
    with pytest.raises(PluginRejected) as caught:
        make_issuer(profile=cfssl_peer.restricted_profile).issue(request)
    assert caught.value.message == (
        "cfssl refused the request: Request does not match policy whitelist"
    )
    allowed = make_request(dns_names=("www.example.test",), ip_addresses=())
    assert issued(make_issuer(profile=cfssl_peer.restricted_profile).issue(allowed))


def test_a_key_type_cfssl_cannot_sign_for_is_refused_in_its_words(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    """cfssl 1.2 cannot verify an Ed25519 CSR's signature and says so."""
    with pytest.raises(PluginRejected) as caught:
        make_issuer(profile=cfssl_peer.server_profile).issue(make_request(key_spec=KeySpec.ED25519))
    assert caught.value.message == (
        "cfssl refused the request: x509: cannot verify signature: algorithm unimplemented"
    )


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(lambda: make_request(common_name=None), id="no-common-name"),
        pytest.param(lambda: make_request(key_spec=KeySpec.EC_P384), id="ec-p384"),
        pytest.param(lambda: make_request(key_spec=KeySpec.RSA_3072), id="rsa-3072"),
        pytest.param(lambda: make_request(dns_names=("*.example.test",)), id="wildcard"),
    ],
)
def test_other_shapes_of_request_get_exactly_what_they_ask(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer, request_: Callable[[], IssuanceRequest]
) -> None:
    request = request_()
    result = issued(make_issuer(profile=cfssl_peer.server_profile).issue(request))
    assert public_keys_equal(result.certificate.public_key(), request.public_key)
    assert sorted(sans_of(result.certificate).dns_names) == sorted(request.sans.dns_names)
    common_names = result.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [a.value for a in common_names] == (
        [] if request.common_name is None else [request.common_name]
    )


def test_uri_names_are_refused_before_asking(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    signed = '"POST /api/v1/cfssl/sign"'
    issuer = make_issuer(profile=cfssl_peer.server_profile)
    before = cfssl_peer.log.count(signed)
    with pytest.raises(PluginRejected, match="URI names"):
        issuer.issue(make_request(uris=("spiffe://example.test/api",)))
    issued(issuer.issue(make_request()))
    assert cfssl_peer.log.count(signed) == before + 1  # only the second request reached cfssl


def test_auth_profile_issues_with_the_key_and_is_recorded_at_the_ca(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    issuer = make_issuer(profile=cfssl_peer.authed_profile, auth_key=cfssl_peer.auth_key_hex)
    result = issued(issuer.issue(make_request()))
    row = cfssl_peer.certdb_row(result.certificate.serial_number)
    assert row is not None
    assert row.status == "good"
    assert '"POST /api/v1/cfssl/authsign" 200' in cfssl_peer.log


def test_auth_profile_without_a_key_says_so(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    issuer = make_issuer(profile=cfssl_peer.authed_profile)
    with pytest.raises(PluginConfigurationError) as on_issue:
        issuer.issue(make_request())
    with pytest.raises(PluginConfigurationError) as on_connect:
        issuer.connect()
    for caught in (on_issue, on_connect):
        assert caught.value.field == "options.auth_key"
        assert caught.value.message == (
            "the cfssl profile 'authed' requires an auth key; set options.auth_key"
        )


WRONG_KEY = "fedcba9876543210fedcba9876543210"


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


def test_a_wrong_auth_key_is_an_options_error_without_the_key(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer, all_logs: pytest.LogCaptureFixture
) -> None:
    issuer = make_issuer(profile=cfssl_peer.authed_profile, auth_key=WRONG_KEY)
    with pytest.raises(PluginConfigurationError) as on_issue:
        issuer.issue(make_request())
    with pytest.raises(PluginConfigurationError) as on_connect:
        issuer.connect()
    for caught in (on_issue, on_connect):
        assert caught.value.field == "options.auth_key"
        assert "did not accept the auth key" in caught.value.message
        assert "invalid token" in caught.value.message
        shown = f"{caught.value} {caught.value.to_dict()} {caught.value.__cause__}"
        assert WRONG_KEY not in shown.lower()
    assert WRONG_KEY not in all_logs.text.lower()


def test_a_key_for_a_profile_without_one_says_so(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    issuer = make_issuer(profile=cfssl_peer.server_profile, auth_key=cfssl_peer.auth_key_hex)
    with pytest.raises(PluginConfigurationError) as caught:
        issuer.connect()
    assert caught.value.field == "options.auth_key"
    assert "has no auth key at the CA" in caught.value.message


def test_the_key_never_reaches_logs_or_errors(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer, all_logs: pytest.LogCaptureFixture
) -> None:
    issuer = make_issuer(profile=cfssl_peer.authed_profile, auth_key=cfssl_peer.auth_key_hex)
    issuer.connect()
    issued(issuer.issue(make_request()))
    with pytest.raises(PluginRejected) as caught:
        issuer.issue(make_request(uris=("urn:example:x",)))
    assert any(r.name == LOGGER for r in all_logs.records), "the issuer logged nothing"
    key = cfssl_peer.auth_key_hex.lower()
    assert key not in all_logs.text.lower()
    assert key not in str(caught.value).lower()
    assert key not in repr(issuer.options).lower()


def test_connect_names_the_ca_and_the_profile(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    connection = make_issuer(profile=cfssl_peer.client_profile).connect()
    assert connection.chain == (cfssl_peer.ca_certificate,)
    assert "CN=Lemur Test cfssl Root" in connection.summary
    assert "profile 'client'" in connection.summary
    assert "client auth" in connection.summary
    assert connection.summary.endswith("; no auth key needed")
    authed = make_issuer(profile=cfssl_peer.authed_profile, auth_key=cfssl_peer.auth_key_hex)
    assert authed.connect().summary.endswith("; auth key accepted")


def test_checking_the_key_issues_nothing(make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer) -> None:
    def count() -> int:
        with sqlite3.connect(cfssl_peer.db_path) as db:
            found: int = db.execute("SELECT count(*) FROM certificates").fetchone()[0]
            return found

    before = count()
    make_issuer(profile=cfssl_peer.authed_profile, auth_key=cfssl_peer.auth_key_hex).connect()
    assert count() == before


def test_an_unreachable_cfssl_is_transient(make_issuer: IssuerFactory) -> None:
    issuer = make_issuer(url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(PluginTransientError, match=r"cannot reach cfssl at 127\.0\.0\.1"):
        issuer.issue(make_request())
    with pytest.raises(PluginTransientError):
        issuer.connect()


def test_a_cfssl_that_does_not_answer_is_transient(make_issuer: IssuerFactory) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        issuer = make_issuer(url=f"http://127.0.0.1:{port}", timeout=0.5)
        with pytest.raises(PluginTransientError, match=r"did not answer within 0\.5 s"):
            issuer.issue(make_request())


def test_a_failure_inside_the_ca_is_transient(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    with cfssl_peer.with_broken_certdb() as url, pytest.raises(PluginTransientError) as caught:
        make_issuer(url=url, profile=cfssl_peer.server_profile).issue(make_request())
    assert caught.value.message == (
        "cfssl could not record the certificate in its database: no such table: certificates"
    )


def test_a_url_that_is_not_cfssl_is_an_options_error(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    with pytest.raises(PluginConfigurationError) as caught:
        make_issuer(url=f"{cfssl_peer.url}/not-cfssl").connect()
    assert caught.value.field == "options.url"
    assert "HTTP 404" in caught.value.message


def test_https_with_the_ca_bundle(make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer) -> None:
    issuer = make_issuer(
        url=cfssl_peer.tls_url, ca_bundle=cfssl_peer.tls_ca_pem, profile=cfssl_peer.server_profile
    )
    result = issued(issuer.issue(make_request()))
    assert result.chain == (cfssl_peer.ca_certificate,)


def test_https_without_the_ca_bundle_says_to_set_it(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    with pytest.raises(PluginConfigurationError) as caught:
        make_issuer(url=cfssl_peer.tls_url).connect()
    assert caught.value.field == "options.ca_bundle"
    assert "not trusted" in caught.value.message


def test_https_with_another_ca_bundle_is_refused(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    with pytest.raises(PluginConfigurationError) as caught:
        make_issuer(url=cfssl_peer.tls_url, ca_bundle=cfssl_peer.ca_pem).connect()
    assert caught.value.field == "options.ca_bundle"


def test_the_outbound_policy_applies(make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer) -> None:
    """An operator who denies loopback denies it to cfssl too, bundle or not."""
    policy = OutboundPolicy(
        denied=(ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
    )
    with plugin_context(policy, SystemClock(), LOGGER) as context:
        for options in (
            {"url": cfssl_peer.url},
            {"url": cfssl_peer.tls_url, "ca_bundle": cfssl_peer.tls_ca_pem},
        ):
            issuer = CFSSLIssuer(CFSSLOptions.model_validate(options), context)
            with pytest.raises(PluginRejected, match=r"refusing to connect to 127\.0\.0\.1"):
                issuer.connect()


def test_multirootca_label_chooses_the_signer(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    second = x509.load_pem_x509_certificate(cfssl_peer.second_ca_pem.encode())
    for label, ca in ((SECOND_LABEL, second), (PRIMARY_LABEL, cfssl_peer.ca_certificate)):
        issuer = make_issuer(
            url=cfssl_peer.multiroot_url,
            label=label,
            profile=cfssl_peer.authed_profile,
            auth_key=cfssl_peer.auth_key_hex,
        )
        assert issuer.connect().chain == (ca,)
        result = issued(issuer.issue(make_request()))
        assert result.chain == (ca,)
        assert result.certificate.issuer == ca.subject


def test_multirootca_unknown_label_is_an_options_error(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    issuer = make_issuer(
        url=cfssl_peer.multiroot_url,
        label="tertiary",
        profile=cfssl_peer.authed_profile,
        auth_key=cfssl_peer.auth_key_hex,
    )
    with pytest.raises(PluginConfigurationError) as caught:
        issuer.connect()
    assert caught.value.field == "options.label"
    assert caught.value.message == "cfssl does not know the signer label 'tertiary' (bad label)"


def test_multirootca_without_a_key_says_it_needs_one(
    make_issuer: IssuerFactory, cfssl_peer: CFSSLPeer
) -> None:
    issuer = make_issuer(url=cfssl_peer.multiroot_url, label=SECOND_LABEL, profile="server")
    with pytest.raises(PluginConfigurationError) as caught:
        issuer.issue(make_request())
    assert caught.value.field == "options.auth_key"
    assert "multirootca signs only with an auth key" in caught.value.message
