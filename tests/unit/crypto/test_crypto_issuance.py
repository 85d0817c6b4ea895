"""Issued hierarchies checked by external tools: openssl verify and pkilint."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from _crypto_support import (
    CA_ISSUERS_BASE,
    CRL_BASE,
    DAY,
    NOW,
    OCSP_URL,
    HierarchyCache,
    ca_name,
    openssl,
    write_pem,
)
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tests.pkilint_checks import cabf_errors, pkix_errors

from lemur.crypto.inspection import describe_certificate
from lemur.crypto.issuance import build_ca_certificate, build_leaf_certificate
from lemur.crypto.keys import KeySpec, generate_private_key
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.profiles import Profile
from lemur.errors import InvalidInput

SPECS = [KeySpec.RSA_2048, KeySpec.EC_P256, KeySpec.EC_P384, KeySpec.ED25519]
SANS = SubjectAltNames.create(dns_names=["api.example.com", "www.example.com"])

CASES = [
    pytest.param(spec, profile, cab, id=f"{spec}-{profile}-{'cabf' if cab else 'private'}")
    for spec in SPECS
    for profile in Profile
    for cab in (False, True)
    if not (cab and (spec is KeySpec.ED25519 or profile is Profile.CLIENT))
]


def _leaf(h, spec: KeySpec, profile: Profile, *, cab_forum: bool, **overrides):  # type: ignore[no-untyped-def]
    args = {
        "issuer_cert": h.intermediate,
        "issuer_key": h.intermediate_key,
        "public_key": generate_private_key(spec).public_key(),
        "subject_cn": "API.example.com",
        "sans": SANS,
        "profile": profile,
        "not_before": NOW,
        "not_after": NOW + 90 * DAY,
        "ocsp_url": OCSP_URL,
        "ca_issuers_url": CA_ISSUERS_BASE + "intermediate.cer",
        "crl_url": CRL_BASE + "intermediate.crl",
        "cab_forum": cab_forum,
    }
    args.update(overrides)
    return build_leaf_certificate(**args)


@pytest.mark.parametrize(("spec", "profile", "cab_forum"), CASES)
def test_hierarchy_passes_openssl_and_pkilint(
    hierarchies: HierarchyCache, tmp_path: Path, spec: KeySpec, profile: Profile, cab_forum: bool
) -> None:
    h = hierarchies.get(spec, cab_forum=cab_forum)
    leaf = _leaf(h, spec, profile, cab_forum=cab_forum)

    root_pem = write_pem(tmp_path / "root.pem", h.root)
    intermediate_pem = write_pem(tmp_path / "intermediate.pem", h.intermediate)
    leaf_pem = write_pem(tmp_path / "leaf.pem", leaf)
    purpose = {"server": "sslserver", "client": "sslclient", "server-client": "sslserver"}
    result = openssl(
        "verify",
        "-attime", str(int(NOW.timestamp()) + 3600),
        "-purpose", purpose[profile],
        "-CAfile", root_pem,
        "-untrusted", intermediate_pem,
        leaf_pem,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout, result.stdout

    for label, cert in (("root", h.root), ("intermediate", h.intermediate), ("leaf", leaf)):
        errors = pkix_errors(cert)
        assert not errors, f"pkilint RFC 5280 findings for {label}: {errors}"
    if cab_forum:
        for label, cert in (("intermediate", h.intermediate), ("leaf", leaf)):
            cert_type, errors = cabf_errors(cert)
            assert not errors, f"pkilint CA/B findings for {label} ({cert_type}): {errors}"
        assert cabf_errors(leaf)[0] == "DV_FINAL_CERTIFICATE"
        assert cabf_errors(h.intermediate)[0] == "INTERNAL_UNCONSTRAINED_TLS_CA"


@pytest.mark.parametrize("spec", SPECS)
def test_leaf_profile_contents(hierarchies: HierarchyCache, spec: KeySpec) -> None:
    h = hierarchies.get(spec)
    leaf = _leaf(h, spec, Profile.SERVER_CLIENT, cab_forum=False)
    ext = leaf.extensions
    constraints = ext.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert not constraints.value.ca
    key_usage = ext.get_extension_for_class(x509.KeyUsage).value
    assert key_usage.digital_signature
    assert key_usage.key_encipherment is (spec is KeySpec.RSA_2048)
    assert list(ext.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    ski = h.intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    # The CN is stored in the same form as the matching SAN (BR §7.1.4.3).
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "api.example.com"
    assert not ext.get_extension_for_class(x509.SubjectAlternativeName).critical
    assert 0 < leaf.serial_number < 2**159
    expected_hash = {
        KeySpec.RSA_2048: "sha256",
        KeySpec.EC_P256: "sha256",
        KeySpec.EC_P384: "sha384",
        KeySpec.ED25519: None,
    }[spec]
    algorithm = leaf.signature_hash_algorithm
    assert (algorithm.name if algorithm else None) == expected_hash


def test_no_common_name_gives_empty_subject_and_critical_san(ec_ca) -> None:  # type: ignore[no-untyped-def]
    leaf = _leaf(ec_ca, KeySpec.EC_P256, Profile.SERVER, cab_forum=False, subject_cn=None)
    assert len(leaf.subject) == 0
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    assert not pkix_errors(leaf)


def test_leaf_must_not_outlive_issuer(ec_ca) -> None:  # type: ignore[no-untyped-def]
    too_late = ec_ca.intermediate.not_valid_after_utc + DAY
    with pytest.raises(InvalidInput) as exc:
        _leaf(ec_ca, KeySpec.EC_P256, Profile.SERVER, cab_forum=False, not_after=too_late)
    assert exc.value.code == "validity_exceeds_issuer"
    assert exc.value.field == "not_after"


def test_naive_and_inverted_times_are_rejected(ec_ca) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as exc:
        _leaf(ec_ca, KeySpec.EC_P256, Profile.SERVER, cab_forum=False,
              not_before=NOW.replace(tzinfo=None))  # fmt: skip
    assert exc.value.code == "invalid_validity"
    with pytest.raises(InvalidInput) as exc:
        _leaf(ec_ca, KeySpec.EC_P256, Profile.SERVER, cab_forum=False, not_after=NOW - DAY)
    assert exc.value.code == "invalid_validity"


def test_cab_forum_rules(hierarchies: HierarchyCache) -> None:
    h = hierarchies.get(KeySpec.EC_P256, cab_forum=True)

    def code(**overrides: object) -> str:
        with pytest.raises(InvalidInput) as exc:
            _leaf(h, KeySpec.EC_P256, Profile.SERVER, cab_forum=True, **overrides)
        return exc.value.code

    # Issued in November 2026, so the SC-081 maximum is 200 days (BR §6.3.2).
    _leaf(h, KeySpec.EC_P256, Profile.SERVER, cab_forum=True,
          not_after=NOW + 200 * DAY - datetime.timedelta(seconds=1))  # fmt: skip
    assert code(not_after=NOW + 200 * DAY) == "invalid_validity"
    assert code(public_key=ed25519.Ed25519PrivateKey.generate().public_key()) == (
        "unsupported_key_type"
    )
    assert code(
        sans=SubjectAltNames.create(dns_names=["a.example.com"], emails=["a@example.com"])
    ) == ("prohibited_san_type")
    assert code(subject_cn="other.example.com") == "common_name_not_in_sans"
    assert code(sans=SubjectAltNames.create(ip_addresses=["10.0.0.1"]), subject_cn=None) == (
        "invalid_ip_address"
    )
    assert code(sans=SubjectAltNames.create(dns_names=["intranet"]), subject_cn=None) == (
        "invalid_dns_name"
    )
    assert code(ocsp_url=None, crl_url=None) == "crl_url_required"
    assert code(crl_url="https://pki.example.com/x.crl") == "invalid_uri"
    with pytest.raises(InvalidInput) as exc:
        _leaf(h, KeySpec.EC_P256, Profile.CLIENT, cab_forum=True)
    assert exc.value.code == "invalid_profile"

    leaf = _leaf(h, KeySpec.EC_P256, Profile.SERVER, cab_forum=True)
    policies = leaf.extensions.get_extension_for_class(x509.CertificatePolicies).value
    assert [p.policy_identifier.dotted_string for p in policies] == ["2.23.140.1.2.1"]


def test_public_ip_leaf_is_cab_forum_clean(hierarchies: HierarchyCache) -> None:
    h = hierarchies.get(KeySpec.EC_P256, cab_forum=True)
    sans = SubjectAltNames.create(dns_names=["api.example.com"], ip_addresses=["8.8.8.8"])
    leaf = _leaf(h, KeySpec.EC_P256, Profile.SERVER, cab_forum=True, sans=sans, subject_cn=None)
    assert not cabf_errors(leaf)[1]


def test_root_and_intermediate_constraints(ec_ca) -> None:  # type: ignore[no-untyped-def]
    root = ec_ca.root.extensions
    assert root.get_extension_for_class(x509.BasicConstraints).critical
    usage = root.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    assert ec_ca.root.issuer == ec_ca.root.subject
    intermediate = describe_certificate(ec_ca.intermediate)
    assert intermediate.is_ca
    assert intermediate.path_length == 0

    # pathLen 0 forbids another CA below the intermediate.
    key = generate_private_key(KeySpec.EC_P256)
    with pytest.raises(InvalidInput) as exc:
        build_ca_certificate(
            subject=ca_name("Too deep"), public_key=key.public_key(),
            issuer_cert=ec_ca.intermediate, issuer_key=ec_ca.intermediate_key,
            not_before=NOW, not_after=NOW + 30 * DAY,
        )  # fmt: skip
    assert exc.value.code == "path_length_exceeded"
    # A leaf cannot issue.
    leaf_key = generate_private_key(KeySpec.EC_P256)
    leaf = _leaf(ec_ca, KeySpec.EC_P256, Profile.SERVER, cab_forum=False,
                 public_key=leaf_key.public_key())  # fmt: skip
    with pytest.raises(InvalidInput) as exc:
        _leaf(ec_ca, KeySpec.EC_P256, Profile.SERVER, cab_forum=False,
              issuer_cert=leaf, issuer_key=leaf_key, not_after=NOW + DAY)  # fmt: skip
    assert exc.value.code == "issuer_not_ca"
    with pytest.raises(InvalidInput) as exc:
        _leaf(ec_ca, KeySpec.EC_P256, Profile.SERVER, cab_forum=False, issuer_key=ec_ca.root_key)
    assert exc.value.code == "key_mismatch"


def test_name_constrained_intermediate(ec_ca, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    key = generate_private_key(KeySpec.EC_P256)
    constrained = build_ca_certificate(
        subject=ca_name("Constrained"), public_key=key.public_key(),
        issuer_cert=ec_ca.root, issuer_key=ec_ca.root_key,
        not_before=NOW, not_after=NOW + 365 * DAY, path_length=0,
        permitted_dns_subtrees=["Example.com"], excluded_dns_subtrees=["secret.example.com"],
    )  # fmt: skip
    constraints = constrained.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    assert constraints.value.permitted_subtrees == [x509.DNSName("example.com")]
    assert not pkix_errors(constrained)

    def verify(name: str) -> bool:
        leaf = _leaf(ec_ca, KeySpec.EC_P256, Profile.SERVER, cab_forum=False,
                     issuer_cert=constrained, issuer_key=key, subject_cn=None,
                     sans=SubjectAltNames.create(dns_names=[name]))  # fmt: skip
        result = openssl(
            "verify", "-attime", str(int(NOW.timestamp()) + 3600),
            "-CAfile", write_pem(tmp_path / "root.pem", ec_ca.root),
            "-untrusted", write_pem(tmp_path / "int.pem", constrained),
            write_pem(tmp_path / "leaf.pem", leaf),
        )  # fmt: skip
        return result.returncode == 0

    assert verify("api.example.com")
    assert not verify("api.example.org")
    assert not verify("x.secret.example.com")

    with pytest.raises(InvalidInput) as exc:
        build_ca_certificate(
            subject=ca_name("Constrained"), public_key=key.public_key(),
            issuer_cert=ec_ca.root, issuer_key=ec_ca.root_key, not_before=NOW,
            not_after=NOW + 365 * DAY, permitted_dns_subtrees=["example.com"],
            crl_url=CRL_BASE + "root.crl", cab_forum=True,
        )  # fmt: skip
    assert exc.value.code == "invalid_name_constraints"


def test_cab_forum_ca_requirements(hierarchies: HierarchyCache) -> None:
    h = hierarchies.get(KeySpec.RSA_2048, cab_forum=True)
    key = generate_private_key(KeySpec.RSA_2048)
    common = {
        "public_key": key.public_key(), "issuer_cert": h.root, "issuer_key": h.root_key,
        "not_before": NOW, "not_after": NOW + 365 * DAY, "cab_forum": True,
    }  # fmt: skip
    with pytest.raises(InvalidInput) as exc:
        build_ca_certificate(subject=ca_name("No CRL"), **common)  # type: ignore[arg-type]
    assert exc.value.code == "crl_url_required"
    only_cn = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Just a CN")])
    with pytest.raises(InvalidInput) as exc:
        build_ca_certificate(subject=only_cn, crl_url=CRL_BASE + "r.crl", **common)  # type: ignore[arg-type]
    assert exc.value.code == "invalid_subject"
    reversed_name = x509.Name(list(reversed(list(ca_name("Reversed")))))
    with pytest.raises(InvalidInput) as exc:
        build_ca_certificate(subject=reversed_name, crl_url=CRL_BASE + "r.crl", **common)  # type: ignore[arg-type]
    assert exc.value.code == "invalid_subject"
    with pytest.raises(InvalidInput) as exc:
        build_ca_certificate(
            subject=ca_name("Short root"), public_key=key.public_key(), issuer_cert=None,
            issuer_key=key, not_before=NOW, not_after=NOW + 365 * DAY, cab_forum=True,
        )  # fmt: skip
    assert exc.value.code == "invalid_validity"


def test_key_types_in_certificates(hierarchies: HierarchyCache) -> None:
    for spec, cls in (
        (KeySpec.RSA_2048, rsa.RSAPublicKey),
        (KeySpec.EC_P384, ec.EllipticCurvePublicKey),
    ):
        assert isinstance(hierarchies.get(spec).intermediate.public_key(), cls)
