"""Issuing certificates through the API: key types, profiles and their extensions, validity
rules, serial numbers, external checks (openssl verify, pkilint), CSRs, and every kind of
bad input answered with a code and a field and nothing written."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID
from fastapi.testclient import TestClient

from lemur.container import Container
from tests.api.certs_helpers import (
    authority,
    client_with_base_url,
    counts,
    create_authority,
    create_cab_forum_pair,
    error,
    issue,
    issue_raw,
    issuing_ca,
    make_csr,
    new_key,
    openssl_verify,
    stored_key,
    x509_from_pem,
)
from tests.api.conftest import World
from tests.pkilint_checks import cabf_errors, pkix_errors

SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
PROFILE_EKU = {
    "server": [SERVER_AUTH],
    "client": [CLIENT_AUTH],
    "server-client": [SERVER_AUTH, CLIENT_AUTH],
}


def cert_of(body: dict[str, Any]) -> x509.Certificate:
    return x509_from_pem(body["pem"])


def days(cert: x509.Certificate) -> float:
    return (cert.not_valid_after_utc - cert.not_valid_before_utc) / dt.timedelta(days=1)


def ext(cert: x509.Certificate, kind: type[Any]) -> Any:
    return cert.extensions.get_extension_for_class(kind)


@pytest.fixture
def public_client(container: Container) -> Iterator[TestClient]:
    """A client of this Lemur configured with a public base URL (the CA/B Forum rules
    forbid internal names such as 127.0.0.1 in AIA and CRL URLs)."""
    with client_with_base_url(container, "http://pki.example.com") as c:
        yield c


# -- key types and profiles ----------------------------------------------------------------

KEY_TYPES: dict[str, tuple[type[Any], int | None]] = {
    "ec-p256": (ec.EllipticCurvePublicKey, 256),
    "ec-p384": (ec.EllipticCurvePublicKey, 384),
    "rsa-2048": (rsa.RSAPublicKey, 2048),
    "rsa-3072": (rsa.RSAPublicKey, 3072),
    "rsa-4096": (rsa.RSAPublicKey, 4096),
    "ed25519": (ed25519.Ed25519PublicKey, None),
}


def test_default_request_is_an_ec_p256_server_certificate_without_the_key(
    client: TestClient, world: World, container: Container
) -> None:
    r = issue_raw(client, world, common_name="www.example.com", dns_names=["api.example.com"])
    assert r.status_code == 201, r.text
    body = r.json()
    assert "PRIVATE KEY" not in r.text
    assert not {k for k in body if "private_key" in k and k != "has_private_key"}
    assert body["key_spec"] == "ec-p256"
    assert body["profile"] == "server"
    assert body["has_private_key"] is True
    assert body["origin"] == "issued"
    assert body["team"] == {"id": world.team_ids["own"], "name": "own"}
    assert body["authority"]["name"] == "local-issuing-ca"
    cert = cert_of(body)
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert cert.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    # The CN is also a SAN (clients ignore the CN).
    sans = ext(cert, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sans == ["www.example.com", "api.example.com"]
    assert body["names"] == ["www.example.com", "api.example.com"]
    # The key is kept, encrypted, and matches the certificate.
    ciphertext = stored_key(container, body["id"])
    assert ciphertext is not None
    assert ciphertext.startswith(container.keyring.primary_kid + ":")
    key = serialization.load_der_private_key(container.keyring.decrypt(ciphertext), None)
    assert key.public_key() == cert.public_key()
    # The detail a reader gets later has no key either.
    r = client.get(f"/api/v1/certificates/{body['id']}", headers=world.headers("reader"))
    assert r.status_code == 200
    assert "PRIVATE KEY" not in r.text


@pytest.mark.parametrize(
    "request_body",
    [
        {"common_name": "same.example.com"},
        {"key_type": "rsa-2048", "dns_names": ["a.example.com", "*.b.example.com"]},
        {"profile": "server-client", "subject_alternative_names": {"ip_addresses": ["10.1.2.3"]}},
        {"profile": "client", "common_name": "Jane Doe", "dns_names": []},
    ],
    ids=["cn", "rsa-wildcard", "ip", "client"],
)
def test_the_answer_to_a_request_is_the_detail_a_later_read_gives(
    client: TestClient, world: World, request_body: dict[str, Any]
) -> None:
    """The 201 body is rendered from what was written, not read back: it must not differ
    from GET in any field (names, lineage, history, chain, extensions, timestamps)."""
    created = issue(client, world, **request_body)
    r = client.get(f"/api/v1/certificates/{created['id']}", headers=world.headers("member"))
    assert r.status_code == 200
    assert created == r.json()
    assert created["lineage"] == [
        {k: created[k] for k in ("id", "not_before", "not_after", "status")}
    ]
    assert [e["action"] for e in created["history"]] == ["certificate.issue"]
    assert len(created["chain"]) >= 1


def test_every_key_type(client: TestClient, world: World) -> None:
    for key_type, (cls, size) in KEY_TYPES.items():
        body = issue(client, world, key_type=key_type, dns_names=[f"{key_type}.example.com"])
        key = cert_of(body).public_key()
        assert isinstance(key, cls), key_type
        if size is not None:
            assert key.key_size == size  # type: ignore[attr-defined]
            assert body["key_size"] == size
        assert body["key_spec"] == key_type
        # RSA keys may encipher (TLS 1.2 key transport); EC and Ed25519 keys only sign.
        usage = ext(cert_of(body), x509.KeyUsage).value
        assert usage.digital_signature
        assert usage.key_encipherment is (key_type.startswith("rsa"))
        assert not usage.key_cert_sign


@pytest.mark.parametrize("profile", sorted(PROFILE_EKU))
def test_profile_extensions_point_at_this_lemur(
    client: TestClient, world: World, container: Container, tmp_path: Path, profile: str
) -> None:
    issuing = issuing_ca(client, world)
    root = authority(client, world, "local-root-ca")
    body = issue(
        client,
        world,
        profile=profile,
        common_name="svc.example.com" if profile != "client" else "alice",
        dns_names=["svc.example.com"],
        subject_alternative_names={"emails": ["alice@example.com"]} if profile == "client" else {},
    )
    cert = cert_of(body)
    base = container.settings.effective_base_url
    assert body["profile"] == profile
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == PROFILE_EKU[profile]
    assert body["extended_key_usage"] == [
        {SERVER_AUTH: "serverAuth", CLIENT_AUTH: "clientAuth"}[o] for o in PROFILE_EKU[profile]
    ]
    bc = ext(cert, x509.BasicConstraints)
    assert bc.critical
    assert bc.value.ca is False
    ku = ext(cert, x509.KeyUsage)
    assert ku.critical
    assert ku.value.digital_signature
    # SKI is the SHA-1 of the public key; AKI is the issuer's SKI.
    ski = ext(cert, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    issuer_cert = x509_from_pem(body["chain"][0]["pem"])
    issuer_ski = ext(issuer_cert, x509.SubjectKeyIdentifier).value.digest
    assert ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == issuer_ski
    # Revocation information points at this Lemur's own endpoints for the issuing CA.
    aia = {
        d.access_method: d.access_location.value
        for d in ext(cert, x509.AuthorityInformationAccess).value
    }
    assert aia == {
        AuthorityInformationAccessOID.OCSP: f"{base}/ocsp/{issuing['id']}",
        AuthorityInformationAccessOID.CA_ISSUERS: f"{base}/ca/{issuing['id']}.cer",
    }
    crl = ext(cert, x509.CRLDistributionPoints).value
    assert [p.full_name for p in crl] == [
        [x509.UniformResourceIdentifier(f"{base}/crl/{issuing['id']}.crl")]
    ]
    assert issuing["crl_url"] == f"{base}/crl/{issuing['id']}.crl"
    # The CA-issuers URL really serves the issuer.
    served = client.get(f"/ca/{issuing['id']}.cer")
    assert x509.load_der_x509_certificate(served.content) == issuer_cert

    # External checks, on the certificate as fetched back from the API.
    fetched = client.get(
        f"/api/v1/certificates/{body['id']}/export",
        params={"format": "pem-certificate"},
        headers=world.headers("member"),
    )
    assert fetched.status_code == 200
    root_pem = client.get(
        f"/api/v1/authorities/{root['id']}", headers=world.headers("member")
    ).json()["certificate_pem"]
    result = openssl_verify(tmp_path, root_pem, [body["chain"][0]["pem"]], fetched.text)
    assert result.returncode == 0, result.stdout + result.stderr
    assert pkix_errors(x509.load_pem_x509_certificate(fetched.content)) == []


def test_urls_follow_the_configured_base_url(public_client: TestClient, world: World) -> None:
    body = issue(public_client, world)
    issuing = issuing_ca(public_client, world)
    assert issuing["ocsp_url"] == f"http://pki.example.com/ocsp/{issuing['id']}"
    cert = cert_of(body)
    urls = [d.access_location.value for d in ext(cert, x509.AuthorityInformationAccess).value]
    assert urls == [
        f"http://pki.example.com/ocsp/{issuing['id']}",
        f"http://pki.example.com/ca/{issuing['id']}.cer",
    ]
    crl = ext(cert, x509.CRLDistributionPoints).value[0].full_name[0].value
    assert crl == f"http://pki.example.com/crl/{issuing['id']}.crl"


# -- validity ------------------------------------------------------------------------------


def test_validity_default_and_maximum_per_profile(
    client: TestClient, world: World, container: Container
) -> None:
    root = authority(client, world, "local-root-ca")
    roomy = create_authority(
        client,
        world,
        "roomy",
        parent_id=root["id"],
        path_length=0,
        default_validity_days=3650,
        max_validity_days=3650,
    )
    expected = {"server": (90, 397), "client": (365, 825), "server-client": (90, 397)}
    for profile, (default, maximum) in expected.items():
        cert = cert_of(issue(client, world, authority_id=roomy["id"], profile=profile))
        assert days(cert) == default
        assert cert.not_valid_before_utc == container.clock.now() - dt.timedelta(minutes=5)
        longest = issue(
            client, world, authority_id=roomy["id"], profile=profile, validity_days=maximum
        )
        assert days(cert_of(longest)) == maximum
        before = counts(container)
        r = issue_raw(
            client, world, authority_id=roomy["id"], profile=profile, validity_days=maximum + 1
        )
        message = error(r, 422, "validity_exceeds_maximum", "validity_days")
        assert str(maximum) in message
        assert counts(container) == before


def test_validity_default_and_maximum_per_authority(
    client: TestClient, world: World, container: Container
) -> None:
    root = authority(client, world, "local-root-ca")
    short = create_authority(
        client,
        world,
        "short-lived",
        parent_id=root["id"],
        path_length=0,
        default_validity_days=30,
        max_validity_days=60,
    )
    assert days(cert_of(issue(client, world, authority_id=short["id"]))) == 30
    assert days(cert_of(issue(client, world, authority_id=short["id"], validity_days=60))) == 60
    before = counts(container)
    r = issue_raw(client, world, authority_id=short["id"], validity_days=61)
    assert "short-lived" in error(r, 422, "validity_exceeds_maximum", "validity_days")
    r = issue_raw(client, world, authority_id=short["id"], validity_days=0)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "validity_days"
    assert counts(container) == before


def test_a_certificate_never_outlives_its_issuer(
    client: TestClient, world: World, container: Container
) -> None:
    root = authority(client, world, "local-root-ca")
    dying = create_authority(
        client, world, "dying", parent_id=root["id"], path_length=0, validity_days=10
    )
    before = counts(container)
    for validity in (None, 11):
        extra = {} if validity is None else {"validity_days": validity}
        r = issue_raw(client, world, authority_id=dying["id"], **extra)
        message = error(r, 422, "validity_exceeds_issuer", "validity_days")
        assert "dying" in message
        assert "at most 10 days" in message
    assert counts(container) == before
    ok = cert_of(issue(client, world, authority_id=dying["id"], validity_days=10))
    assert ok.not_valid_after_utc <= x509_from_pem(dying["certificate_pem"]).not_valid_after_utc


def test_serial_numbers_are_random_positive_and_unique(client: TestClient, world: World) -> None:
    serials = [
        cert_of(issue(client, world, dns_names=[f"host{i}.example.com"])).serial_number
        for i in range(20)
    ]
    assert len(set(serials)) == 20
    assert all(0 < s < 2**159 for s in serials)  # positive, at most 20 octets in DER
    # Random, not sequential: at least 64 bits of entropy shows up as large values.
    assert sum(s.bit_length() > 100 for s in serials) >= 18


# -- external linters ------------------------------------------------------------------------


def test_cab_forum_authority_issues_br_compliant_server_certificates(
    public_client: TestClient,
    client: TestClient,
    world: World,
    container: Container,
    tmp_path: Path,
) -> None:
    default_client, client = client, public_client
    root, sub = create_cab_forum_pair(client, world)
    body = issue(
        client,
        world,
        authority_id=sub["id"],
        common_name="shop.example.com",
        dns_names=["shop.example.com", "www.shop.example.com"],
    )
    cert = cert_of(body)
    cert_type, errors = cabf_errors(cert)
    assert errors == [], (cert_type, errors)
    assert "DV_FINAL_CERTIFICATE" in cert_type
    assert pkix_errors(cert) == []
    result = openssl_verify(
        tmp_path, root["certificate_pem"], [sub["certificate_pem"]], body["pem"]
    )
    assert result.returncode == 0, result.stdout + result.stderr

    # The Baseline Requirements' limits are refused with the request's fields.
    before = counts(container)
    r = issue_raw(client, world, authority_id=sub["id"], key_type="ed25519")
    error(r, 422, "unsupported_key_type", "key_type")
    r = issue_raw(client, world, authority_id=sub["id"], validity_days=300)
    error(r, 422, "validity_exceeds_maximum", "validity_days")
    r = issue_raw(client, world, authority_id=sub["id"], profile="client")
    error(r, 422, "invalid_profile", "profile")
    r = issue_raw(
        client,
        world,
        authority_id=sub["id"],
        subject_alternative_names={"emails": ["a@example.com"]},
    )
    error(r, 422, "prohibited_san_type", "subject_alternative_names")
    assert counts(container) == before

    # Served under an internal base URL, the CA/B authority refuses to issue: its
    # certificates would carry internal CRL/OCSP URLs that the BRs forbid.
    r = issue_raw(default_client, world, authority_id=sub["id"])
    assert "LEMUR_BASE_URL" in error(r, 422, "base_url_not_public", "authority_id")
    # An https:// base URL is public but still refused (BR §7.1.2.7.7: CRL and OCSP URLs
    # are plain http://), for issuance and renewal alike, naming the field at fault.
    with client_with_base_url(container, "https://pki.example.com") as https_client:
        r = issue_raw(https_client, world, authority_id=sub["id"])
        assert "http://" in error(r, 422, "base_url_not_public", "authority_id")
        r = https_client.post(
            f"/api/v1/certificates/{body['id']}/renew", json={}, headers=world.headers("member")
        )
        assert "http://" in error(r, 422, "base_url_not_public", "certificate_id")
    assert counts(container) == before


# -- CSR -----------------------------------------------------------------------------------


def test_csr_issuance_takes_the_names_from_the_csr_and_stores_no_key(
    client: TestClient, world: World, container: Container, tmp_path: Path
) -> None:
    key = new_key()
    body = issue(client, world, csr=make_csr(key), profile="server-client")
    cert = cert_of(body)
    assert cert.public_key() == key.public_key()
    assert body["common_name"] == "csr.example.com"
    assert body["subject_alternative_names"]["dns_names"] == ["csr.example.com", "alt.example.com"]
    assert body["has_private_key"] is False
    assert stored_key(container, body["id"]) is None
    assert list(ext(cert, x509.ExtendedKeyUsage).value) == PROFILE_EKU["server-client"]
    root = authority(client, world, "local-root-ca")
    root_pem = client.get(
        f"/api/v1/authorities/{root['id']}", headers=world.headers("member")
    ).json()["certificate_pem"]
    result = openssl_verify(tmp_path, root_pem, [body["chain"][0]["pem"]], body["pem"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_csr_names_are_checked_like_any_request(
    client: TestClient, world: World, container: Container
) -> None:
    before = counts(container)
    r = issue_raw(
        client, world, csr=make_csr(common_name=None, dns_names=("bad_name.example.com",))
    )
    error(r, 422, "invalid_dns_name", "csr.subject_alternative_names.dns_names[0]")
    assert counts(container) == before


def _tampered_csr() -> str:
    pem = make_csr().encode()
    der = bytearray(x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the signature
    return x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()


def test_csr_refusals(client: TestClient, world: World, container: Container) -> None:
    before = counts(container)
    r = issue_raw(client, world, csr=_tampered_csr())
    error(r, 422, "csr_signature_invalid", "csr")
    r = client.post(
        "/api/v1/certificates",
        json={
            "team_id": world.team_ids["own"],
            "authority_id": issuing_ca(client, world)["id"],
            "csr": make_csr(),
            "subject_alternative_names": {"dns_names": ["other.example.com"]},
        },
        headers=world.headers("member"),
    )
    error(r, 422, "names_with_csr", "csr")
    good = make_csr()
    lines = good.splitlines()
    truncated = "\n".join(lines[: len(lines) // 2]) + "\n"
    r = issue_raw(client, world, csr=truncated)
    assert "truncated" in error(r, 422, "invalid_pem", "csr")
    malformed = (
        "-----BEGIN CERTIFICATE REQUEST-----\nbm90IGEgY3Ny\n-----END CERTIFICATE REQUEST-----\n"
    )
    r = issue_raw(client, world, csr=malformed)
    error(r, 422, "invalid_csr", "csr")
    r = issue_raw(client, world, csr="not a csr at all")
    error(r, 422, "invalid_csr", "csr")
    r = issue_raw(client, world, csr="-----BEGIN CERTIFICATE REQUEST-----\n%%%\n")
    assert r.json()["error"]["field"] == "csr"
    assert counts(container) == before


# -- names ---------------------------------------------------------------------------------


INVALID_DNS_NAMES = [
    ("a..example.com", "invalid_dns_name"),
    (".example.com", "invalid_dns_name"),
    ("a" * 64 + ".example.com", "invalid_dns_name"),
    ("exa mple.com", "invalid_dns_name"),
    ("ex!ample.com", "invalid_dns_name"),
    ("_dmarc.example.com", "invalid_dns_name"),
    ("-lead.example.com", "invalid_dns_name"),
    ("www.*.example.com", "invalid_wildcard"),
    ("w*.example.com", "invalid_wildcard"),
    ("*.com", "invalid_wildcard"),
    ("192.0.2.1", "ip_as_dns_name"),
    ("2001:db8::1", "ip_as_dns_name"),
]


def test_invalid_dns_names_are_refused_naming_the_entry(
    client: TestClient, world: World, container: Container
) -> None:
    before = counts(container)
    for name, code in INVALID_DNS_NAMES:
        r = issue_raw(client, world, dns_names=["ok.example.com", name])
        error(r, 422, code, "subject_alternative_names.dns_names[1]")
    assert counts(container) == before


def test_names_are_normalised(client: TestClient, world: World) -> None:
    body = issue(
        client,
        world,
        dns_names=["Bücher.Example.", "WWW.Example.COM.", "*.Apps.Example.com"],
        subject_alternative_names={"ip_addresses": ["192.0.2.7", "[2001:db8::1]"]},
    )
    sans = body["subject_alternative_names"]
    assert sans["dns_names"] == ["xn--bcher-kva.example", "www.example.com", "*.apps.example.com"]
    assert sans["ip_addresses"] == ["192.0.2.7", "2001:db8::1"]
    cert = cert_of(body)
    assert ext(cert, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == [
        "xn--bcher-kva.example",
        "www.example.com",
        "*.apps.example.com",
    ]
    # Stored in the search index as A-labels: the inventory finds it by the A-label.
    r = client.get(
        "/api/v1/certificates",
        params={"name": "xn--bcher-kva.example"},
        headers=world.headers("member"),
    )
    assert [c["id"] for c in r.json()["items"]] == [body["id"]]


def test_other_bad_names(client: TestClient, world: World, container: Container) -> None:
    before = counts(container)
    r = issue_raw(client, world, subject_alternative_names={"ip_addresses": ["999.1.1.1"]})
    error(r, 422, "invalid_ip_address", "subject_alternative_names.ip_addresses[0]")
    r = issue_raw(client, world, subject_alternative_names={"emails": ["not-an-email"]})
    error(r, 422, "invalid_email", "subject_alternative_names.emails[0]")
    r = issue_raw(client, world, subject_alternative_names={"uris": ["no scheme"]})
    error(r, 422, "invalid_uri", "subject_alternative_names.uris[0]")
    r = issue_raw(client, world, dns_names=[])
    error(r, 422, "names_required", "subject_alternative_names.dns_names")
    r = issue_raw(client, world, common_name="bad_name.example.com", dns_names=[])
    error(r, 422, "invalid_dns_name", "common_name")
    assert counts(container) == before


# -- who may issue, and where ------------------------------------------------------------------


def test_unknown_authority_and_team(client: TestClient, world: World, container: Container) -> None:
    before = counts(container)
    r = issue_raw(client, world, authority_id=9999)
    error(r, 404, "authority_not_found", "authority_id")
    r = client.post(
        "/api/v1/certificates",
        json={
            "team_id": 9999,
            "authority_id": issuing_ca(client, world)["id"],
            "subject_alternative_names": {"dns_names": ["x.example.com"]},
        },
        headers=world.headers("member"),
    )
    error(r, 404, "team_not_found", "team_id")
    assert counts(container) == before


def test_members_issue_only_for_their_own_teams(
    client: TestClient, world: World, container: Container
) -> None:
    before = counts(container)
    r = issue_raw(client, world, who="member", team="other")
    assert r.status_code == 403, r.text
    r = issue_raw(client, world, who="reader", team="own")
    assert r.status_code == 403, r.text
    assert counts(container) == before
    # Security and admins issue for any team.
    assert issue(client, world, who="security", team="other")["team"]["name"] == "other"
    assert issue(client, world, who="admin2", team="own")["team"]["name"] == "own"


def test_oversized_and_unknown_fields(
    client: TestClient, world: World, container: Container
) -> None:
    before = counts(container)
    limit = container.settings.max_body_bytes
    r = issue_raw(client, world, csr="A" * (limit + 10))
    error(r, 413, "payload_too_large", None)
    r = issue_raw(client, world, colour="red")
    error(r, 422, "unknown_field", "colour")
    r = issue_raw(client, world, subject_alternative_names={"dns_names": ["a.example.com"], "x": 1})
    error(r, 422, "unknown_field", "subject_alternative_names.x")
    r = issue_raw(client, world, key_type="dsa-1024")
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "key_type"
    r = issue_raw(client, world, profile="codesigning")
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "profile"
    assert counts(container) == before


def test_issuance_is_audited_with_the_names(
    client: TestClient, world: World, container: Container
) -> None:
    body = issue(client, world, dns_names=["audited.example.com"])
    history = body["history"]
    assert [h["action"] for h in history] == ["certificate.issue"]
    assert history[0]["actor"] == "user:member"
    assert history[0]["details"]["names"] == ["audited.example.com"]
    # Nothing secret in the audit trail.
    r = client.get("/api/v1/audit-events", headers=world.headers("admin2"))
    assert "PRIVATE KEY" not in r.text
    digest = hashlib.sha256(body["pem"].encode()).hexdigest()
    assert digest not in r.text
