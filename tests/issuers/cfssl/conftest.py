"""Requests and issuers for the cfssl tests, against the session's real ``cfssl serve``
(tests/peers/cfssl.py)."""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from lemur.builtin.cfssl import CFSSLIssuer, CFSSLOptions
from lemur.clock import SystemClock
from lemur.crypto.keys import KeySpec, PrivateKey, generate_private_key, key_spec_of
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.profiles import Profile
from lemur.outbound import OutboundPolicy, plugin_context
from lemur.plugins.values import IssuanceRequest, PluginContext
from tests.api.conftest import client, world  # noqa: F401  (the API fixtures, for test_through_lemur)
from tests.peers.cfssl import CFSSLPeer

LOGGER = "lemur.plugins.cfssl"


def csr_for(
    key: PrivateKey, common_name: str | None, sans: SubjectAltNames
) -> x509.CertificateSigningRequest:
    """A CSR as Lemur builds it for external CAs: the CN and the SANs, signed by the key."""
    attributes = (
        [] if common_name is None else [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes))
    if not sans.is_empty:
        builder = builder.add_extension(sans.to_extension(), critical=False)
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, algorithm)


def make_request(
    *,
    common_name: str | None = "www.example.test",
    dns_names: tuple[str, ...] = ("www.example.test", "api.example.test"),
    ip_addresses: tuple[str, ...] = ("10.0.0.7",),
    emails: tuple[str, ...] = (),
    uris: tuple[str, ...] = (),
    profile: Profile = Profile.SERVER,
    key_spec: KeySpec = KeySpec.EC_P256,
    csr_sans: SubjectAltNames | None = None,
) -> IssuanceRequest:
    key = generate_private_key(key_spec)
    sans = SubjectAltNames(
        dns_names=dns_names,
        ip_addresses=tuple(ipaddress.ip_address(ip) for ip in ip_addresses),
        emails=emails,
        uris=uris,
    )
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return IssuanceRequest(
        public_key=key.public_key(),
        key_spec=key_spec_of(key.public_key()),
        common_name=common_name,
        sans=sans,
        profile=profile,
        not_before=now,
        not_after=now + dt.timedelta(days=30),
        csr=csr_for(key, common_name, sans if csr_sans is None else csr_sans),
    )


@pytest.fixture
def cfssl_context() -> Iterator[PluginContext]:
    """What Lemur hands an issuer: the guarded client and the default address policy
    (loopback allowed)."""
    with plugin_context(OutboundPolicy(timeout=5), SystemClock(), LOGGER) as context:
        yield context


IssuerFactory = Callable[..., CFSSLIssuer]


@pytest.fixture
def make_issuer(cfssl_peer: CFSSLPeer, cfssl_context: PluginContext) -> IssuerFactory:
    """``make_issuer(profile=..., auth_key=..., url=...)``: an issuer on the peer."""

    def make(**options: Any) -> CFSSLIssuer:
        options.setdefault("url", cfssl_peer.url)
        return CFSSLIssuer(CFSSLOptions.model_validate(options), cfssl_context)

    return make
