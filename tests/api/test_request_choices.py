"""Leaf subject fields (O, OU, C, ST, L) and key / extended key usages in a request: the
issued certificate carries exactly what was asked (read back with cryptography and pkilint),
and whatever the authority does not allow is refused with a code and the field, writing
nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi.testclient import TestClient

from lemur.container import Container
from tests.api.certs_helpers import (
    CAB_SUBJECT,
    client_with_base_url,
    counts,
    create_authority,
    create_cab_forum_pair,
    error,
    issue,
    issue_raw,
    make_csr,
    x509_from_pem,
)
from tests.api.conftest import World
from tests.pkilint_checks import cabf_errors, pkix_errors

EKU = ExtendedKeyUsageOID


@pytest.fixture
def public_client(container: Container) -> Iterator[TestClient]:
    with client_with_base_url(container, "http://pki.example.com") as c:
        yield c


def cert_of(body: dict[str, Any]) -> x509.Certificate:
    return x509_from_pem(body["pem"])


def subject_pairs(cert: x509.Certificate) -> list[tuple[str, str]]:
    return [(a.oid._name, str(a.value)) for a in cert.subject]


def key_usage_bits(cert: x509.Certificate) -> set[str]:
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    names = ("digital_signature", "content_commitment", "key_encipherment")
    names += ("data_encipherment", "key_agreement", "key_cert_sign", "crl_sign")
    return {n for n in names if getattr(ku, n)}


def eku_of(cert: x509.Certificate) -> tuple[list[x509.ObjectIdentifier], bool]:
    ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    return list(ext.value), ext.critical


def test_the_certificate_carries_exactly_what_was_asked(client: TestClient, world: World) -> None:
    body = issue(
        client,
        world,
        common_name="pay.example.test",
        subject={
            "organization": "Example Payments GmbH",
            "organizational_unit": "Checkout",
            "country": "de",
            "state": "Berlin",
            "locality": "Berlin-Mitte",
        },
        key_usage=["digital_signature", "key_agreement"],
        extended_key_usage=["server_auth", "client_auth", "email_protection"],
    )
    cert = cert_of(body)
    # BR §7.1.4.2 order, the CN last; the country uppercased.
    assert subject_pairs(cert) == [
        ("countryName", "DE"),
        ("stateOrProvinceName", "Berlin"),
        ("localityName", "Berlin-Mitte"),
        ("organizationName", "Example Payments GmbH"),
        ("organizationalUnitName", "Checkout"),
        ("commonName", "pay.example.test"),
    ]
    assert key_usage_bits(cert) == {"digital_signature", "key_agreement"}
    assert eku_of(cert) == ([EKU.SERVER_AUTH, EKU.CLIENT_AUTH, EKU.EMAIL_PROTECTION], False)
    assert pkix_errors(cert) == []
    assert body["key_usage"] == ["digital_signature", "key_agreement"]
    assert body["extended_key_usage"] == ["serverAuth", "clientAuth", "emailProtection"]
    assert body["subject"].startswith("CN=pay.example.test,OU=Checkout,O=Example Payments GmbH")


def test_the_profile_stays_the_default(client: TestClient, world: World) -> None:
    rsa = cert_of(issue(client, world, key_type="rsa-2048", profile="client"))
    assert key_usage_bits(rsa) == {"digital_signature", "key_encipherment"}
    assert eku_of(rsa) == ([EKU.CLIENT_AUTH], False)
    # Usages alone: the subject is the CN only, as before.
    ec = cert_of(
        issue(client, world, common_name="www.example.com", extended_key_usage=["code_signing"])
    )
    assert eku_of(ec) == ([EKU.CODE_SIGNING], False)
    assert key_usage_bits(ec) == {"digital_signature"}
    assert subject_pairs(ec) == [("commonName", "www.example.com")]
    # RFC 3161 §2.3: a time-stamping certificate's EKU is critical and time stamping only.
    tsa = cert_of(issue(client, world, extended_key_usage=["time_stamping"]))
    assert eku_of(tsa) == ([EKU.TIME_STAMPING], True)
    assert pkix_errors(tsa) == []


def test_a_csr_key_gets_the_chosen_usages_checked_against_it(
    client: TestClient, world: World, container: Container
) -> None:
    body = issue(
        client, world, csr=make_csr(), key_usage=["digital_signature", "content_commitment"]
    )
    assert key_usage_bits(cert_of(body)) == {"digital_signature", "content_commitment"}
    before = counts(container)
    r = issue_raw(
        client, world, csr=make_csr(), key_usage=["digital_signature", "key_encipherment"]
    )
    message = error(r, 422, "key_usage_not_allowed", "key_usage[1]")
    assert "an EC key cannot be used for key_encipherment" in message
    assert "digital_signature, content_commitment, key_agreement" in message
    assert counts(container) == before


def test_what_the_authority_does_not_allow_is_refused(
    client: TestClient, world: World, container: Container
) -> None:
    ca = create_authority(
        client,
        world,
        "payments-ca",
        allowed_subject_fields=["organization", "country"],
        allowed_extended_key_usages=["server_auth", "client_auth"],
    )
    assert ca["allowed_subject_fields"] == ["organization", "country"]
    assert ca["allowed_extended_key_usages"] == ["server_auth", "client_auth"]
    detail = client.get(f"/api/v1/authorities/{ca['id']}", headers=world.headers("member")).json()
    assert detail["allowed_extended_key_usages"] == ["server_auth", "client_auth"]
    before = counts(container)
    r = issue_raw(
        client,
        world,
        authority_id=ca["id"],
        subject={"organization": "Example", "organizational_unit": "Ops"},
    )
    message = error(r, 422, "subject_field_not_allowed", "subject.organizational_unit")
    assert "'payments-ca'" in message
    assert message.endswith("the subject fields it allows: organization, country")
    r = issue_raw(
        client, world, authority_id=ca["id"], extended_key_usage=["server_auth", "code_signing"]
    )
    message = error(r, 422, "extended_key_usage_not_allowed", "extended_key_usage[1]")
    assert "code_signing" in message
    assert message.endswith("the extended key usages it allows: server_auth, client_auth")
    r = issue_raw(
        client, world, key_type="ed25519", key_usage=["digital_signature", "key_agreement"]
    )
    assert "an Ed25519 key" in error(r, 422, "key_usage_not_allowed", "key_usage[1]")
    r = issue_raw(client, world, extended_key_usage=["server_auth", "server_auth"])
    error(r, 422, "duplicate_usage", "extended_key_usage[1]")
    r = issue_raw(client, world, extended_key_usage=["time_stamping", "server_auth"])
    error(r, 422, "invalid_usage_combination", "extended_key_usage")
    r = issue_raw(client, world, extended_key_usage=["server_auth", "ocsp_signing"])
    error(r, 422, "validation_error", "extended_key_usage[1]")
    r = issue_raw(client, world, subject={"country": "XY"})
    assert "ISO 3166" in error(r, 422, "invalid_country", "subject.country")
    r = issue_raw(client, world, subject={"country": "USA"})
    error(r, 422, "validation_error", "subject.country")
    r = issue_raw(client, world, subject={"organization": "x" * 65})
    error(r, 422, "validation_error", "subject.organization")
    r = issue_raw(client, world, key_usage=[])
    error(r, 422, "validation_error", "key_usage")
    assert counts(container) == before


def test_cab_forum_authorities_allow_the_baseline_requirements_only(
    public_client: TestClient, world: World, container: Container
) -> None:
    client = public_client
    _, sub = create_cab_forum_pair(client, world)
    assert sub["allowed_subject_fields"] == ["country"]
    assert sub["allowed_extended_key_usages"] == ["server_auth", "client_auth"]
    # A domain-validated certificate with a country, both TLS purposes, a signature key.
    dv = issue(
        client,
        world,
        authority_id=sub["id"],
        dns_names=["shop.example.com"],
        subject={"country": "US"},
        key_usage=["digital_signature"],
        extended_key_usage=["server_auth", "client_auth"],
    )
    cert = cert_of(dv)
    cert_type, findings = cabf_errors(cert)
    assert (cert_type, findings) == ("DV_FINAL_CERTIFICATE", [])
    assert subject_pairs(cert) == [("countryName", "US")]

    before = counts(container)
    r = issue_raw(client, world, authority_id=sub["id"], subject={"organizational_unit": "Web"})
    assert "BR §7.1.2.7.4" in error(
        r, 422, "subject_field_not_allowed", "subject.organizational_unit"
    )
    r = issue_raw(client, world, authority_id=sub["id"], subject={"organization": "Example"})
    error(r, 422, "subject_field_not_allowed", "subject.organization")
    r = issue_raw(
        client, world, authority_id=sub["id"], extended_key_usage=["client_auth", "code_signing"]
    )
    assert "BR §7.1.2.7.10" in error(
        r, 422, "extended_key_usage_not_allowed", "extended_key_usage[1]"
    )
    r = issue_raw(client, world, authority_id=sub["id"], extended_key_usage=["client_auth"])
    error(r, 422, "extended_key_usage_required", "extended_key_usage")
    r = issue_raw(
        client, world, authority_id=sub["id"], key_usage=["key_encipherment"], key_type="rsa-2048"
    )
    error(r, 422, "key_usage_required", "key_usage")
    r = issue_raw(
        client, world, authority_id=sub["id"], key_usage=["digital_signature", "content_commitment"]
    )
    assert "BR §7.1.2.7.11" in error(r, 422, "key_usage_not_allowed", "key_usage[1]")
    assert counts(container) == before

    # A CA/B Forum authority never allows an OU, nor purposes beyond TLS.
    r = client.post(
        "/api/v1/authorities",
        json={
            "name": "public-ou",
            "subject": {**CAB_SUBJECT, "common_name": "OU Issuing"},
            "cab_forum": True,
            "parent_id": sub["parent_id"],
            "allowed_subject_fields": ["country", "organizational_unit"],
        },
        headers=world.headers("admin2"),
    )
    error(r, 422, "subject_field_not_allowed", "allowed_subject_fields[1]")
    r = client.post(
        "/api/v1/authorities",
        json={
            "name": "public-code",
            "subject": {**CAB_SUBJECT, "common_name": "Code Issuing"},
            "cab_forum": True,
            "parent_id": sub["parent_id"],
            "allowed_extended_key_usages": ["code_signing"],
        },
        headers=world.headers("admin2"),
    )
    error(r, 422, "extended_key_usage_not_allowed", "allowed_extended_key_usages[0]")


def test_cab_forum_organization_validated_certificates(
    public_client: TestClient, world: World
) -> None:
    client = public_client
    _, sub = create_cab_forum_pair(
        client, world, allowed_subject_fields=["organization", "country", "state", "locality"]
    )
    ov = cert_of(
        issue(
            client,
            world,
            authority_id=sub["id"],
            dns_names=["shop.example.com"],
            subject={"organization": "Example Inc.", "country": "US", "state": "California"},
        )
    )
    cert_type, findings = cabf_errors(ov)
    assert (cert_type, findings) == ("OV_FINAL_CERTIFICATE", [])
    assert ov.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example Inc."
    r = issue_raw(
        client, world, authority_id=sub["id"], subject={"organization": "Example", "country": "US"}
    )
    error(r, 422, "subject_incomplete", "subject.state")
    r = issue_raw(client, world, authority_id=sub["id"], subject={"state": "California"})
    error(r, 422, "subject_incomplete", "subject.organization")


def test_a_renewal_keeps_the_choices(client: TestClient, world: World) -> None:
    first = issue(
        client,
        world,
        subject={"organization": "Example", "country": "NL"},
        extended_key_usage=["client_auth"],
        key_usage=["digital_signature", "content_commitment"],
    )
    r = client.post(
        f"/api/v1/certificates/{first['id']}/renew", json={}, headers=world.headers("member")
    )
    assert r.status_code == 201, r.text
    old, new = cert_of(first), cert_of(r.json())
    assert subject_pairs(new) == subject_pairs(old)
    assert eku_of(new) == ([EKU.CLIENT_AUTH], False)
    assert key_usage_bits(new) == {"digital_signature", "content_commitment"}
