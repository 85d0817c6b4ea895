"""Authorities through the API: the CAs created at first start, new roots and intermediates
of every key type, path length and name constraints, CA/B Forum authorities, external CAs
imported without a key, and every refusal with nothing written."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
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
    make_ca,
    make_leaf,
    openssl_verify,
    pem,
    stored_key,
    x509_from_pem,
)
from tests.api.conftest import World
from tests.pkilint_checks import pkix_errors


def detail(client: TestClient, world: World, authority_id: int) -> dict[str, Any]:
    r = client.get(f"/api/v1/authorities/{authority_id}", headers=world.headers("reader"))
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def root_of(client: TestClient, world: World) -> dict[str, Any]:
    return authority(client, world, "local-root-ca")


# -- first start ---------------------------------------------------------------------------


def test_first_start_creates_a_root_and_an_issuing_ca_that_chain(
    client: TestClient, world: World, container: Container, tmp_path: Path
) -> None:
    root = detail(client, world, root_of(client, world)["id"])
    issuing = detail(client, world, authority(client, world, "local-issuing-ca")["id"])
    base = container.settings.effective_base_url

    assert root["parent_id"] is None
    assert root["has_key"]
    assert root["plugin"] == "local-ca"
    assert issuing["parent_id"] == root["id"]
    assert issuing["has_key"]
    assert (root["key_type"], root["key_size"]) == ("EC", 384)
    assert (issuing["key_type"], issuing["key_size"]) == ("EC", 256)
    assert issuing["crl_url"] == f"{base}/crl/{issuing['id']}.crl"
    assert issuing["ocsp_url"] == f"{base}/ocsp/{issuing['id']}"
    assert issuing["ca_issuers_url"] == f"{base}/ca/{issuing['id']}.cer"

    # Detail: the authority's own certificate first, its root last.
    assert len(root["chain_pem"]) == 1
    assert root["chain_pem"][0] == root["certificate_pem"]
    assert len(issuing["chain_pem"]) == 2
    assert issuing["chain_pem"] == [issuing["certificate_pem"], root["certificate_pem"]]

    root_cert = x509_from_pem(root["certificate_pem"])
    issuing_cert = x509_from_pem(issuing["certificate_pem"])
    assert root_cert.subject == root_cert.issuer
    assert issuing_cert.issuer == root_cert.subject
    assert (
        root_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    )
    bc = issuing_cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical
    assert bc.value.ca
    assert bc.value.path_length == 0

    result = openssl_verify(tmp_path, root["certificate_pem"], [], issuing["certificate_pem"])
    assert result.returncode == 0, result.stdout + result.stderr
    for cert in (root_cert, issuing_cert):
        assert pkix_errors(cert) == []

    # The public CA-issuers URL serves the same certificate (DER).
    r = client.get(f"/ca/{issuing['id']}.cer")
    assert r.status_code == 200
    assert x509.load_der_x509_certificate(r.content) == issuing_cert


def test_ca_private_keys_are_stored_encrypted_by_the_key_ring(
    client: TestClient, world: World, container: Container
) -> None:
    for name in ("local-root-ca", "local-issuing-ca"):
        ca = authority(client, world, name)
        ciphertext = stored_key(container, ca["certificate_id"])
        assert ciphertext is not None
        assert ciphertext.startswith(container.keyring.primary_kid + ":")
        assert "PRIVATE KEY" not in ciphertext
        # The stored value decrypts to the CA's key and nothing readable is left in the clear.
        der = container.keyring.decrypt(ciphertext)
        key = serialization.load_der_private_key(der, password=None)
        cert = x509_from_pem(detail(client, world, ca["id"])["certificate_pem"])
        assert key.public_key() == cert.public_key()
        assert base64.b64encode(der).decode()[:40] not in ciphertext


# -- creating roots and intermediates --------------------------------------------------------

KEY_TYPES = {
    "rsa-2048": (rsa.RSAPublicKey, 2048),
    "rsa-3072": (rsa.RSAPublicKey, 3072),
    "rsa-4096": (rsa.RSAPublicKey, 4096),
    "ec-p256": (ec.EllipticCurvePublicKey, 256),
    "ec-p384": (ec.EllipticCurvePublicKey, 384),
    "ed25519": (ed25519.Ed25519PublicKey, None),
}


@pytest.mark.parametrize("key_type", sorted(KEY_TYPES))
def test_create_root_and_intermediate_of_every_key_type(
    client: TestClient, world: World, container: Container, tmp_path: Path, key_type: str
) -> None:
    subject = {
        "common_name": f"Test Root {key_type}",
        "organization": "Example Corp",
        "organizational_unit": "PKI",
        "country": "DE",
        "state": "Berlin",
        "locality": "Berlin",
    }
    root = create_authority(
        client,
        world,
        f"root-{key_type}",
        subject=subject,
        key_type=key_type,
        validity_days=3000,
        path_length=1,
        description="a test root",
    )
    root_cert = x509_from_pem(root["certificate_pem"])
    key_class, size = KEY_TYPES[key_type]
    assert isinstance(root_cert.public_key(), key_class)
    if size is not None:
        assert root_cert.public_key().key_size == size  # type: ignore[union-attr]
    assert root["key_size"] == (size or 256) or key_type == "ed25519"
    attrs = {a.oid: a.value for a in root_cert.subject}
    assert attrs == {
        NameOID.COMMON_NAME: f"Test Root {key_type}",
        NameOID.ORGANIZATION_NAME: "Example Corp",
        NameOID.ORGANIZATIONAL_UNIT_NAME: "PKI",
        NameOID.COUNTRY_NAME: "DE",
        NameOID.STATE_OR_PROVINCE_NAME: "Berlin",
        NameOID.LOCALITY_NAME: "Berlin",
    }
    assert (root_cert.not_valid_after_utc - root_cert.not_valid_before_utc).days == 3000
    assert root_cert.not_valid_before_utc <= container.clock.now()
    assert root["description"] == "a test root"
    assert root["parent_id"] is None

    intermediate = create_authority(
        client,
        world,
        f"intermediate-{key_type}",
        subject={"common_name": f"Test Intermediate {key_type}", "organization": "Example Corp"},
        key_type=key_type,
        validity_days=1000,
        parent_id=root["id"],
        path_length=0,
        default_validity_days=30,
        max_validity_days=60,
    )
    assert intermediate["parent_id"] == root["id"]
    assert intermediate["chain_pem"] == [intermediate["certificate_pem"], root["certificate_pem"]]
    inter_cert = x509_from_pem(intermediate["certificate_pem"])
    bc = inter_cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca
    assert bc.path_length == 0
    # The intermediate points at its issuer's revocation endpoints.
    base = container.settings.effective_base_url
    crl = inter_cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert crl[0].full_name == [x509.UniformResourceIdentifier(f"{base}/crl/{root['id']}.crl")]
    assert pkix_errors(root_cert) == []
    assert pkix_errors(inter_cert) == []

    result = openssl_verify(tmp_path, root["certificate_pem"], [], intermediate["certificate_pem"])
    assert result.returncode == 0, result.stdout + result.stderr

    # The new intermediate issues leaves that verify up to the new root, with its own
    # default validity.
    leaf = issue(client, world, authority_id=intermediate["id"], key_type="ec-p256")
    assert (
        x509_from_pem(leaf["pem"]).not_valid_after_utc
        - x509_from_pem(leaf["pem"]).not_valid_before_utc
    ).days == 30
    result = openssl_verify(
        tmp_path, root["certificate_pem"], [intermediate["certificate_pem"]], leaf["pem"]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert [c["pem"] for c in leaf["chain"]] == [
        intermediate["certificate_pem"],
        root["certificate_pem"],
    ]

    # Listed, and the CA key is kept encrypted.
    r = client.get("/api/v1/authorities", headers=world.headers("member"))
    assert {f"root-{key_type}", f"intermediate-{key_type}"} <= {a["name"] for a in r.json()}
    ciphertext = stored_key(container, intermediate["certificate_id"])
    assert ciphertext is not None
    assert ciphertext.startswith(container.keyring.primary_kid + ":")


def test_path_length_is_enforced_below_the_issuing_ca(
    client: TestClient, world: World, container: Container
) -> None:
    issuing = authority(client, world, "local-issuing-ca")  # pathLen 0
    root = root_of(client, world)  # pathLen 1
    before = counts(container)
    r = client.post(
        "/api/v1/authorities",
        json={"name": "too-deep", "subject": {"common_name": "x"}, "parent_id": issuing["id"]},
        headers=world.headers("admin2"),
    )
    assert "local-issuing-ca" in error(r, 422, "path_length_exceeded", "parent_id")
    r = client.post(
        "/api/v1/authorities",
        json={
            "name": "too-long",
            "subject": {"common_name": "x"},
            "parent_id": root["id"],
            "path_length": 1,
        },
        headers=world.headers("admin2"),
    )
    error(r, 422, "path_length_exceeded", "path_length")
    assert counts(container) == before


def test_intermediate_cannot_outlive_its_parent(
    client: TestClient, world: World, container: Container
) -> None:
    root = root_of(client, world)
    before = counts(container)
    r = client.post(
        "/api/v1/authorities",
        json={
            "name": "long-lived",
            "subject": {"common_name": "x"},
            "parent_id": root["id"],
            "path_length": 0,
            "validity_days": 5000,
        },
        headers=world.headers("admin2"),
    )
    message = error(r, 422, "validity_exceeds_issuer", "validity_days")
    assert "local-root-ca" in message
    assert counts(container) == before


# -- name constraints ----------------------------------------------------------------------


def test_name_constraints_are_in_the_ca_and_enforced_at_issuance(
    client: TestClient, world: World, container: Container, tmp_path: Path
) -> None:
    root = detail(client, world, root_of(client, world)["id"])
    constrained = create_authority(
        client,
        world,
        "constrained",
        parent_id=root["id"],
        path_length=0,
        validity_days=365,
        permitted_dns_domains=["example.com", "Example.ORG."],
        excluded_dns_domains=["secret.example.com"],
    )
    cert = x509_from_pem(constrained["certificate_pem"])
    ext = cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert ext.critical
    assert ext.value.permitted_subtrees == [
        x509.DNSName("example.com"),
        x509.DNSName("example.org"),
    ]
    assert ext.value.excluded_subtrees == [x509.DNSName("secret.example.com")]

    ok = issue(
        client,
        world,
        authority_id=constrained["id"],
        dns_names=["www.example.com", "example.org", "*.api.example.com"],
    )
    result = openssl_verify(
        tmp_path, root["certificate_pem"], [constrained["certificate_pem"]], ok["pem"]
    )
    assert result.returncode == 0, result.stdout + result.stderr

    before = counts(container)
    for names, bad_index, bad in (
        (["www.example.com", "www.example.net"], 1, "www.example.net"),
        (["notexample.com"], 0, "notexample.com"),
        (["db.secret.example.com"], 0, "db.secret.example.com"),
    ):
        r = issue_raw(client, world, authority_id=constrained["id"], dns_names=names)
        message = error(
            r, 422, "name_not_permitted", f"subject_alternative_names.dns_names[{bad_index}]"
        )
        assert bad in message
        assert "constrained" in message
    assert counts(container) == before


def test_invalid_name_constraint_is_refused_with_the_request_field(
    client: TestClient, world: World, container: Container
) -> None:
    before = counts(container)
    r = client.post(
        "/api/v1/authorities",
        json={
            "name": "bad-constraint",
            "subject": {"common_name": "x"},
            "permitted_dns_domains": ["example.com", "bad_name.example.com"],
        },
        headers=world.headers("admin2"),
    )
    error(r, 422, "invalid_dns_name", "permitted_dns_domains[1]")
    assert counts(container) == before


# -- CA/B Forum ----------------------------------------------------------------------------


@pytest.fixture
def public_client(container: Container) -> Iterator[TestClient]:
    with client_with_base_url(container, "http://pki.example.com") as c:
        yield c


def test_cab_forum_authorities_need_a_public_base_url(
    client: TestClient, world: World, container: Container
) -> None:
    before = counts(container)
    subject = {"common_name": "Public", "organization": "Example", "country": "US"}
    for base in (None, "http://localhost:8000", "http://10.1.2.3", "https://lemur.internal"):
        body = {"name": "public", "subject": subject, "cab_forum": True}
        if base is None:
            r = client.post("/api/v1/authorities", json=body, headers=world.headers("admin2"))
        else:
            with client_with_base_url(container, base) as c:
                r = c.post("/api/v1/authorities", json=body, headers=world.headers("admin2"))
        assert "LEMUR_BASE_URL" in error(r, 422, "base_url_not_public", "cab_forum")
    assert counts(container) == before


def test_cab_forum_authorities_refuse_ed25519_and_need_a_br_subject(
    public_client: TestClient, world: World, container: Container
) -> None:
    client = public_client
    before = counts(container)
    r = client.post(
        "/api/v1/authorities",
        json={
            "name": "public-ed",
            "subject": {"common_name": "Public", "organization": "Example", "country": "US"},
            "key_type": "ed25519",
            "cab_forum": True,
        },
        headers=world.headers("admin2"),
    )
    error(r, 422, "unsupported_key_type", "key_type")
    r = client.post(
        "/api/v1/authorities",
        json={"name": "public-no-o", "subject": {"common_name": "Public"}, "cab_forum": True},
        headers=world.headers("admin2"),
    )
    error(r, 422, "invalid_subject", "subject")
    assert counts(container) == before


def test_cab_forum_root_and_intermediate(
    public_client: TestClient, world: World, tmp_path: Path
) -> None:
    client = public_client
    root, sub = create_cab_forum_pair(client, world, sub_name="Public Sub")
    assert root["cab_forum"]
    assert sub["cab_forum"]
    sub_cert = x509_from_pem(sub["certificate_pem"])
    assert sub_cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert pkix_errors(x509_from_pem(root["certificate_pem"])) == []
    assert pkix_errors(sub_cert) == []
    result = openssl_verify(tmp_path, root["certificate_pem"], [], sub["certificate_pem"])
    assert result.returncode == 0, result.stdout + result.stderr


# -- external CAs --------------------------------------------------------------------------


def test_import_external_ca_then_a_leaf_it_signed_chains_to_it(
    client: TestClient, world: World, container: Container
) -> None:
    ca = make_ca("External Root")
    r = client.post(
        "/api/v1/authorities/import",
        json={"name": "external-root", "certificate": pem(ca[1]), "description": "theirs"},
        headers=world.headers("security"),
    )
    assert r.status_code == 201, r.text
    imported = r.json()
    assert imported["has_key"] is False
    assert imported["plugin"] == "external"
    assert imported["crl_url"] is None
    assert imported["ocsp_url"] is None
    assert imported["chain_pem"] == [pem(ca[1])]
    assert stored_key(container, imported["certificate_id"]) is None

    _leaf_key, leaf = make_leaf(ca)
    r = client.post(
        "/api/v1/certificates/import",
        json={"team_id": world.team_ids["own"], "certificate": pem(leaf)},
        headers=world.headers("member"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["authority"] == {"id": imported["id"], "name": "external-root"}

    # Lemur holds no key for it, so it cannot sign.
    before = counts(container)
    r = issue_raw(client, world, authority_id=imported["id"])
    error(r, 422, "authority_cannot_sign", "authority_id")
    assert counts(container) == before


def test_import_external_intermediate_links_to_its_known_parent(
    client: TestClient, world: World
) -> None:
    root = make_ca("External Root 2")
    intermediate = make_ca("External Intermediate 2", issuer=root)
    for name, cert in (("ext-root", root[1]), ("ext-intermediate", intermediate[1])):
        r = client.post(
            "/api/v1/authorities/import",
            json={"name": name, "certificate": pem(cert)},
            headers=world.headers("admin2"),
        )
        assert r.status_code == 201, r.text
    ext_root = authority(client, world, "ext-root")
    assert authority(client, world, "ext-intermediate")["parent_id"] == ext_root["id"]


def test_non_ca_certificate_cannot_be_imported_as_an_authority(
    client: TestClient, world: World, container: Container
) -> None:
    ca = make_ca("Some CA")
    _, leaf = make_leaf(ca)
    before = counts(container)
    r = client.post(
        "/api/v1/authorities/import",
        json={"name": "not-a-ca", "certificate": pem(leaf)},
        headers=world.headers("admin2"),
    )
    error(r, 422, "not_a_ca", "certificate")
    for bad in ("not a certificate", pem(ca[1])[:200]):
        r = client.post(
            "/api/v1/authorities/import",
            json={"name": "broken", "certificate": bad},
            headers=world.headers("admin2"),
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == "certificate"
    assert counts(container) == before


def test_duplicate_authority_name_is_a_conflict(
    client: TestClient, world: World, container: Container
) -> None:
    before = counts(container)
    r = client.post(
        "/api/v1/authorities",
        json={"name": "local-root-ca", "subject": {"common_name": "again"}},
        headers=world.headers("admin2"),
    )
    error(r, 409, "authority_exists", "name")
    r = client.post(
        "/api/v1/authorities/import",
        json={"name": "local-issuing-ca", "certificate": pem(make_ca("dup")[1])},
        headers=world.headers("admin2"),
    )
    error(r, 409, "authority_exists", "name")
    assert counts(container) == before


def test_importing_the_same_ca_certificate_twice_is_a_conflict(
    client: TestClient, world: World, container: Container
) -> None:
    ca_pem = pem(make_ca("Twice")[1])
    r = client.post(
        "/api/v1/authorities/import",
        json={"name": "twice-1", "certificate": ca_pem},
        headers=world.headers("admin2"),
    )
    assert r.status_code == 201
    before = counts(container)
    r = client.post(
        "/api/v1/authorities/import",
        json={"name": "twice-2", "certificate": ca_pem},
        headers=world.headers("admin2"),
    )
    message = error(r, 409, "certificate_exists", "certificate")
    assert str(authority(client, world, "twice-1")["certificate_id"]) in message
    assert counts(container) == before


@pytest.mark.parametrize("who", ["member", "reader"])
def test_members_and_readers_cannot_create_or_import_authorities(
    client: TestClient, world: World, container: Container, who: str
) -> None:
    before = counts(container)
    r = client.post(
        "/api/v1/authorities",
        json={"name": "mine", "subject": {"common_name": "mine"}},
        headers=world.headers(who),
    )
    assert r.status_code == 403, r.text
    r = client.post(
        "/api/v1/authorities/import",
        json={"name": "mine", "certificate": pem(make_ca("mine")[1])},
        headers=world.headers(who),
    )
    assert r.status_code == 403, r.text
    assert counts(container) == before
    # ... but they may read them.
    assert client.get("/api/v1/authorities", headers=world.headers(who)).status_code == 200


def test_authority_bad_input(client: TestClient, world: World, container: Container) -> None:
    before = counts(container)
    admin = world.headers("admin2")
    r = client.get("/api/v1/authorities/9999", headers=admin)
    error(r, 404, "authority_not_found", "authority_id")
    r = client.post(
        "/api/v1/authorities",
        json={"name": "orphan", "subject": {"common_name": "x"}, "parent_id": 9999},
        headers=admin,
    )
    error(r, 404, "authority_not_found", "parent_id")
    r = client.post(
        "/api/v1/authorities",
        json={"name": "x", "subject": {"common_name": "x"}, "colour": "red"},
        headers=admin,
    )
    error(r, 422, "unknown_field", "colour")
    r = client.post(
        "/api/v1/authorities",
        json={"name": "x", "subject": {"common_name": "x"}, "key_type": "dsa-1024"},
        headers=admin,
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "key_type"
    r = client.post(
        "/api/v1/authorities",
        json={
            "name": "x",
            "subject": {"common_name": "x"},
            "default_validity_days": 100,
            "max_validity_days": 50,
        },
        headers=admin,
    )
    error(r, 422, "invalid_validity", "default_validity_days")
    r = client.post(
        "/api/v1/authorities",
        json={"name": "x", "subject": {"common_name": "x", "country": "Germany"}},
        headers=admin,
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "subject.country"
    assert counts(container) == before
