"""What the local CA plugin adds on top of the crypto layer: authorities, URLs, chains.

(pkilint and `openssl verify` checks of the certificates live in tests/unit/crypto.)"""

from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

from lemur.crypto.keys import KeySpec, generate_private_key, key_spec_of
from lemur.crypto.revocation import RevocationReason
from lemur.errors import InvalidInput
from lemur.plugins.errors import PluginConfigurationError
from lemur.plugins.values import AuthoritySpec, Issued, RevocationRequest
from tests.plugins.conftest import BASE, CA, DAY, NOW, ca_name, leaf_request, local_ca, signing


def _urls(cert: x509.Certificate) -> tuple[list[str], list[str], list[str]]:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        aia = x509.AuthorityInformationAccess([])
    try:
        cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        crls = [str(n.value) for p in cdp for n in p.full_name or ()]
    except x509.ExtensionNotFound:
        crls = []
    ocsp = [
        str(d.access_location.value)
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
    ]
    issuers = [
        str(d.access_location.value)
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
    ]
    return ocsp, issuers, crls


def test_root_is_self_signed_without_revocation_urls(ca: CA) -> None:
    root = ca.root.certificate
    root.verify_directly_issued_by(root)
    assert root.subject == root.issuer == ca_name("Plugin Test Root")
    assert key_spec_of(root.public_key()) == KeySpec.EC_P384
    assert _urls(root) == ([], [], [])
    constraints = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert (constraints.value.ca, constraints.value.path_length) == (True, 1)


def test_intermediate_points_at_its_parents_crl_ocsp_and_certificate(ca: CA) -> None:
    intermediate = ca.intermediate.certificate
    intermediate.verify_directly_issued_by(ca.root.certificate)
    assert ca.intermediate.chain == (ca.root.certificate,)
    assert _urls(intermediate) == (
        [f"{BASE}/ocsp/root"],
        [f"{BASE}/ca/root.cer"],
        [f"{BASE}/crl/root.crl"],
    )


def test_leaf_carries_the_issuing_authoritys_urls_and_full_chain(
    ca: CA, issued_leaf: Issued
) -> None:
    assert issued_leaf.chain == (ca.intermediate.certificate, ca.root.certificate)
    assert _urls(issued_leaf.certificate) == (
        [f"{BASE}/ocsp/issuing"],
        [f"{BASE}/ca/issuing.cer"],
        [f"{BASE}/crl/issuing.crl"],
    )
    assert issued_leaf.external_id is None
    eku = issued_leaf.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_serial_numbers_are_random_and_distinct(ca: CA) -> None:
    key = generate_private_key(KeySpec.EC_P256)
    serials = set()
    for _ in range(5):
        result = local_ca().issue(leaf_request(ca.intermediate, key=key))
        assert isinstance(result, Issued)
        serials.add(result.certificate.serial_number)
    assert len(serials) == 5
    assert all(s.bit_length() > 64 for s in serials)


def test_issue_without_an_authority_key_is_a_configuration_error() -> None:
    request = leaf_request(None, key=generate_private_key(KeySpec.EC_P256))
    with pytest.raises(PluginConfigurationError) as caught:
        local_ca().issue(request)
    err = caught.value
    assert (err.code, err.field, err.status) == ("authority_key_required", "authority", 422)


def test_leaf_may_not_outlive_its_authority(ca: CA) -> None:
    request = leaf_request(ca.intermediate, key=generate_private_key(KeySpec.EC_P256), days=2000)
    with pytest.raises(InvalidInput) as caught:
        local_ca().issue(request)
    assert (caught.value.code, caught.value.field) == ("validity_exceeds_issuer", "not_after")


def test_path_length_of_the_parent_is_enforced(ca: CA) -> None:
    spec = AuthoritySpec(
        subject=ca_name("Too Deep"),
        key_spec=KeySpec.EC_P256,
        not_before=NOW,
        not_after=NOW + 365 * DAY,
        path_length=None,
        parent=ca.intermediate,  # path length 0: no CA below it
    )
    with pytest.raises(InvalidInput) as caught:
        local_ca().create_authority(spec)
    assert (caught.value.code, caught.value.field) == ("path_length_exceeded", "path_length")


def test_name_constrained_intermediate(ca: CA) -> None:
    created = local_ca().create_authority(
        AuthoritySpec(
            subject=ca_name("Constrained"),
            key_spec=KeySpec.RSA_2048,
            not_before=NOW,
            not_after=NOW + 365 * DAY,
            path_length=0,
            permitted_dns_subtrees=("Example.COM.",),
            excluded_dns_subtrees=("secret.example.com",),
            parent=ca.root,
        )
    )
    ext = created.certificate.extensions.get_extension_for_class(x509.NameConstraints)
    assert ext.critical
    assert ext.value.permitted_subtrees == [x509.DNSName("example.com")]
    assert ext.value.excluded_subtrees == [x509.DNSName("secret.example.com")]
    assert key_spec_of(created.private_key.public_key()) == KeySpec.RSA_2048


def test_cab_forum_authority_issues_baseline_requirements_leaves(ca: CA) -> None:
    http = replace(
        ca.intermediate,
        crl_url="http://pki.example.com/crl/issuing.crl",
        ocsp_url="http://pki.example.com/ocsp",
        ca_issuers_url="http://pki.example.com/issuing.cer",
        cab_forum=True,
    )
    result = local_ca().issue(leaf_request(http, key=generate_private_key(KeySpec.EC_P256)))
    assert isinstance(result, Issued)
    policies = result.certificate.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == ["2.23.140.1.2.1"]
    # the same authority refuses what the Baseline Requirements forbid (here: > 398 days)
    with pytest.raises(InvalidInput):
        local_ca().issue(leaf_request(http, key=generate_private_key(KeySpec.EC_P256), days=400))


def test_revoke_is_accepted_and_changes_nothing(ca: CA, issued_leaf: Issued) -> None:
    request = RevocationRequest(
        certificate=issued_leaf.certificate,
        reason=RevocationReason.KEY_COMPROMISE,
        revoked_at=NOW,
    )
    assert local_ca().revoke(request) is None


def test_authorities_can_be_chained_through_signing_authority(ca: CA) -> None:
    issuing = local_ca().create_authority(
        AuthoritySpec(
            subject=ca_name("Second Issuing CA"),
            key_spec=KeySpec.EC_P256,
            not_before=NOW,
            not_after=NOW + 700 * DAY,
            path_length=0,
            parent=ca.root,
        )
    )
    authority = signing(issuing.certificate, issuing.private_key, issuing.chain, "second")
    result = local_ca().issue(leaf_request(authority, key=generate_private_key(KeySpec.EC_P256)))
    assert isinstance(result, Issued)
    assert result.chain == (issuing.certificate, ca.root.certificate)
    result.certificate.verify_directly_issued_by(issuing.certificate)
