"""Fixtures of the acme issuer's tests, against the real Pebble + BIND9 of
tests/peers/pebble.py."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lemur.builtin.acme import ACMEIssuer, ACMEOptions
from lemur.clock import SystemClock
from lemur.crypto.keys import KeySpec
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.profiles import Profile
from lemur.outbound import OutboundPolicy
from lemur.plugins.values import ChallengeResponder, IssuanceRequest, PluginContext
from tests.api.conftest import client, world  # noqa: F401  (the API fixtures, for test_through_lemur)
from tests.peers.pebble import PebblePeer

LOGGER = "lemur.issuers.acme"


def unique(label: str = "n") -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}"


def make_context(responder: ChallengeResponder | None) -> PluginContext:
    return PluginContext(
        clock=SystemClock(),
        logger=logging.getLogger(LOGGER),
        outbound=OutboundPolicy(timeout=5),
        challenges=responder,
    )


def base_options(peer: PebblePeer, **extra: Any) -> dict[str, Any]:
    return {
        "directory_url": peer.directory_url,
        "ca_bundle": peer.ca_bundle_pem,
        "contact_email": "pki-team@example.org",
        "agree_to_terms": True,
        **extra,
    }


def dns_options(peer: PebblePeer, **extra: Any) -> dict[str, Any]:
    return base_options(
        peer,
        challenge="dns-01",
        dns_server="127.0.0.1",
        dns_port=peer.dns_port,
        dns_zone=peer.zone,
        tsig_key_name=peer.tsig_name,
        tsig_algorithm=peer.tsig_algorithm,
        tsig_secret=peer.tsig_secret,
        **extra,
    )


def make_request(names: list[str], *, common_name: str | None = None) -> IssuanceRequest:
    """A request as Lemur builds it for an ACME authority: a fresh P-256 key and a CSR
    with the names (the CN, when given, is one of them)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else []
    )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    now = dt.datetime.now(dt.UTC)
    return IssuanceRequest(
        public_key=key.public_key(),
        key_spec=KeySpec.EC_P256,
        common_name=common_name,
        sans=SubjectAltNames(dns_names=tuple(names)),
        profile=Profile.SERVER,
        not_before=now,
        not_after=now + dt.timedelta(days=90),
        csr=csr,
    )


@pytest.fixture(scope="session")
def acme_account(pebble: PebblePeer) -> dict[str, Any]:
    """An account registered once per session: the options ``connect`` returned."""
    plugin = ACMEIssuer(ACMEOptions.model_validate(base_options(pebble)), make_context(None))
    stored = plugin.connect().options
    assert isinstance(stored, ACMEOptions)
    assert stored.account_key is not None
    return {
        "account_key": stored.account_key.get_secret_value(),
        "account_url": stored.account_url,
    }


@pytest.fixture
def http_issuer(pebble: PebblePeer, acme_account: dict[str, Any]) -> ACMEIssuer:
    options = ACMEOptions.model_validate(base_options(pebble, **acme_account))
    return ACMEIssuer(options, make_context(pebble.responder))


@pytest.fixture
def dns_issuer(pebble: PebblePeer, acme_account: dict[str, Any]) -> ACMEIssuer:
    options = ACMEOptions.model_validate(dns_options(pebble, **acme_account))
    return ACMEIssuer(options, make_context(None))
