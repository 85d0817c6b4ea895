"""A local-CA hierarchy made through the plugin itself, and bundles to export."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from lemur.builtin.local_ca import LocalCAIssuer
from lemur.clock import FrozenClock
from lemur.crypto.keys import KeySpec, PrivateKey, generate_private_key
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.profiles import Profile
from lemur.plugins.base import NoOptions
from lemur.plugins.values import (
    AuthoritySpec,
    Bundle,
    IssuanceRequest,
    Issued,
    PluginContext,
    SigningAuthority,
)

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
BASE = "https://lemur.example.test/pki"
PASSPHRASE = b"correct horse battery staple 4711"


def ca_name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Lemur Plugin Tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def make_context() -> PluginContext:
    return PluginContext(clock=FrozenClock(NOW), logger=logging.getLogger("tests.plugins"))


def local_ca() -> LocalCAIssuer:
    return LocalCAIssuer(NoOptions(), make_context())


def signing(
    created_cert: x509.Certificate, key: PrivateKey, chain: tuple[x509.Certificate, ...], slug: str
) -> SigningAuthority:
    return SigningAuthority(
        certificate=created_cert,
        private_key=key,
        chain=chain,
        crl_url=f"{BASE}/crl/{slug}.crl",
        ocsp_url=f"{BASE}/ocsp/{slug}",
        ca_issuers_url=f"{BASE}/ca/{slug}.cer",
    )


@dataclass(frozen=True)
class CA:
    root: SigningAuthority
    intermediate: SigningAuthority


@pytest.fixture(scope="session")
def ca() -> CA:
    """Local Root CA (EC P-384, path length 1) and Local Issuing CA (EC P-256) below it."""
    issuer = local_ca()
    root = issuer.create_authority(
        AuthoritySpec(
            subject=ca_name("Plugin Test Root"),
            key_spec=KeySpec.EC_P384,
            not_before=NOW - DAY,
            not_after=NOW + 3650 * DAY,
            path_length=1,
        )
    )
    root_authority = signing(root.certificate, root.private_key, (), "root")
    intermediate = issuer.create_authority(
        AuthoritySpec(
            subject=ca_name("Plugin Test Issuing CA"),
            key_spec=KeySpec.EC_P256,
            not_before=NOW - DAY,
            not_after=NOW + 1825 * DAY,
            path_length=0,
            parent=root_authority,
        )
    )
    return CA(
        root=root_authority,
        intermediate=signing(
            intermediate.certificate, intermediate.private_key, intermediate.chain, "issuing"
        ),
    )


def leaf_request(
    authority: SigningAuthority | None,
    *,
    key: PrivateKey,
    key_spec: KeySpec = KeySpec.EC_P256,
    common_name: str | None = "www.example.com",
    dns_names: tuple[str, ...] = ("www.example.com", "example.com"),
    ip_addresses: tuple[str, ...] = (),
    emails: tuple[str, ...] = (),
    uris: tuple[str, ...] = (),
    profile: Profile = Profile.SERVER,
    days: int = 90,
) -> IssuanceRequest:
    return IssuanceRequest(
        public_key=key.public_key(),
        key_spec=key_spec,
        common_name=common_name,
        sans=SubjectAltNames.create(
            dns_names=dns_names, ip_addresses=ip_addresses, emails=emails, uris=uris
        ),
        profile=profile,
        not_before=NOW,
        not_after=NOW + days * DAY,
        authority=authority,
    )


@pytest.fixture(scope="session")
def leaf_key() -> PrivateKey:
    return generate_private_key(KeySpec.EC_P256)


@pytest.fixture(scope="session")
def issued_leaf(ca: CA, leaf_key: PrivateKey) -> Issued:
    result = local_ca().issue(leaf_request(ca.intermediate, key=leaf_key))
    assert isinstance(result, Issued)
    return result


@pytest.fixture(scope="session")
def full_bundle(issued_leaf: Issued, leaf_key: PrivateKey) -> Bundle:
    return Bundle(
        certificate=issued_leaf.certificate,
        chain=issued_leaf.chain,
        private_key=leaf_key,
        name="www.example.com",
    )


# The API tests reuse the users and tokens of tests/api.
from tests.api.conftest import world  # noqa: E402, F401
