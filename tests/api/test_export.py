"""Exporting certificates: every exporter's output parses back into the same certificate,
chain and key; key exports need the permission, a POST and (for PKCS#12) a passphrase, and
are audited without the passphrase; refusals write nothing."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from fastapi.testclient import TestClient

from lemur.container import Container
from tests.api.certs_helpers import (
    audit_rows,
    counts,
    error,
    export,
    issue,
    make_ca,
    make_csr,
    make_leaf,
    pem,
    same_public_key,
    stored_key,
)
from tests.api.conftest import World

PASSPHRASE = "export-passphrase-Zebra-42"


def issued(client: TestClient, world: World, **kwargs: Any) -> dict[str, Any]:
    return issue(client, world, dns_names=["*.shop.example.com", "shop.example.com"], **kwargs)


def chain_of(body: dict[str, Any]) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(c["pem"].encode()) for c in body["chain"]]


def key_of(container: Container, certificate_id: int) -> Any:
    der = container.keyring.decrypt(stored_key(container, certificate_id) or "")
    return serialization.load_der_private_key(der, None)


def test_public_formats_parse_back(client: TestClient, world: World) -> None:
    body = issued(client, world)
    cert = x509.load_pem_x509_certificate(body["pem"].encode())
    chain = chain_of(body)
    assert len(chain) == 2
    outputs: dict[str, bytes] = {}
    for fmt in ("pem-certificate", "pem-chain", "pem-bundle", "der-certificate", "pkcs7-bundle"):
        # GET (default member of the team) and POST give the same bytes; a reader may too.
        r = client.get(
            f"/api/v1/certificates/{body['id']}/export",
            params={"format": fmt},
            headers=world.headers("reader"),
        )
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["content-disposition"].startswith("attachment; filename=")
        assert "*" not in r.headers["content-disposition"]
        assert export(client, world, body["id"], fmt).content == r.content
        outputs[fmt] = r.content
    assert x509.load_pem_x509_certificates(outputs["pem-certificate"]) == [cert]
    assert x509.load_pem_x509_certificates(outputs["pem-chain"]) == chain
    assert x509.load_pem_x509_certificates(outputs["pem-bundle"]) == [cert, *chain]
    assert x509.load_der_x509_certificate(outputs["der-certificate"]) == cert
    assert set(pkcs7.load_der_pkcs7_certificates(outputs["pkcs7-bundle"])) == {cert, *chain}
    # The default GET format is the full PEM bundle.
    r = client.get(f"/api/v1/certificates/{body['id']}/export", headers=world.headers("member"))
    assert r.content == outputs["pem-bundle"]
    for content in outputs.values():
        assert b"PRIVATE KEY" not in content


def test_pkcs12_needs_a_passphrase_and_opens_with_it(
    client: TestClient, world: World, container: Container
) -> None:
    body = issued(client, world, key_type="rsa-2048")
    before = counts(container)
    r = export(client, world, body["id"], "pkcs12")
    error(r, 422, "passphrase_required", "passphrase")
    r = export(client, world, body["id"], "pkcs12", passphrase="")
    error(r, 422, "passphrase_required", "passphrase")
    assert counts(container) == before

    r = export(client, world, body["id"], "pkcs12", passphrase=PASSPHRASE)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pkcs12"
    assert PASSPHRASE.encode() not in r.content
    loaded = pkcs12.load_pkcs12(r.content, PASSPHRASE.encode())
    assert loaded.cert is not None
    assert loaded.cert.certificate == x509.load_pem_x509_certificate(body["pem"].encode())
    assert [c.certificate for c in loaded.additional_certs] == chain_of(body)
    assert loaded.key is not None
    assert same_public_key(loaded.key.public_key(), key_of(container, body["id"]).public_key())
    with pytest.raises(ValueError, match="password"):
        pkcs12.load_pkcs12(r.content, b"not the passphrase")


def test_pkcs8_key_with_and_without_passphrase(
    client: TestClient, world: World, container: Container
) -> None:
    body = issued(client, world)
    stored = key_of(container, body["id"])
    cert = x509.load_pem_x509_certificate(body["pem"].encode())

    r = export(client, world, body["id"], "pkcs8-key")
    assert r.status_code == 200, r.text
    assert r.content.startswith(b"-----BEGIN PRIVATE KEY-----")
    plain = serialization.load_pem_private_key(r.content, None)
    assert same_public_key(plain.public_key(), cert.public_key())
    assert same_public_key(plain.public_key(), stored.public_key())

    r = export(client, world, body["id"], "pkcs8-key", passphrase=PASSPHRASE, who="security")
    assert r.status_code == 200, r.text
    assert r.content.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(r.content, None)
    encrypted = serialization.load_pem_private_key(r.content, PASSPHRASE.encode())
    assert same_public_key(encrypted.public_key(), cert.public_key())


def test_key_exports_are_audited_without_the_passphrase(
    client: TestClient, world: World, container: Container
) -> None:
    body = issued(client, world)
    assert export(client, world, body["id"], "pkcs8-key").status_code == 200
    assert export(client, world, body["id"], "pkcs12", passphrase=PASSPHRASE).status_code == 200
    assert export(client, world, body["id"], "pem-bundle").status_code == 200  # not audited
    rows = [r for r in audit_rows(container) if r.action == "certificate.export_key"]
    assert [(r.actor, r.target_type, r.target_id) for r in rows] == [
        ("user:member", "certificate", str(body["id"])),
        ("user:member", "certificate", str(body["id"])),
    ]
    assert ['"pkcs8-key"' in r.details for r in rows] == [True, False]
    for row in audit_rows(container):
        assert PASSPHRASE not in " ".join(str(v) for v in vars(row).values())
    # The certificate's history shows who took the key.
    detail = client.get(f"/api/v1/certificates/{body['id']}", headers=world.headers("security"))
    actions = [h["action"] for h in detail.json()["history"]]
    assert actions.count("certificate.export_key") == 2


def test_key_export_refusals_write_nothing(
    client: TestClient, world: World, container: Container
) -> None:
    body = issued(client, world)
    from_csr = issue(client, world, csr=make_csr())
    before = counts(container)

    r = client.get(
        f"/api/v1/certificates/{body['id']}/export",
        params={"format": "pkcs8-key"},
        headers=world.headers("member"),
    )
    error(r, 422, "key_export_needs_post", "format")
    r = client.get(
        f"/api/v1/certificates/{body['id']}/export",
        params={"format": "pkcs12"},
        headers=world.headers("member"),
    )
    error(r, 422, "key_export_needs_post", "format")
    r = export(client, world, from_csr["id"], "pkcs8-key")
    error(r, 422, "no_private_key", "format")
    r = export(client, world, from_csr["id"], "pkcs12", passphrase=PASSPHRASE)
    error(r, 422, "no_private_key", "format")
    # Another team's certificate is not found (404); a reader may not take keys (403).
    for who, status in (("outsider", 404), ("reader", 403)):
        for fmt in ("pkcs8-key", "pkcs12"):
            r = export(client, world, body["id"], fmt, who=who, passphrase=PASSPHRASE)
            assert r.status_code == status, (who, fmt, r.text)
            assert b"PRIVATE KEY" not in r.content
    r = export(client, world, body["id"], "pem-bundle", who="outsider")
    assert r.status_code == 404, r.text
    # An unknown format is a bad value of the format field; the message lists the known ones.
    r = export(client, world, body["id"], "no-such-format")
    message = error(r, 422, "unknown_format", "format")
    assert "pem-bundle" in message
    assert "pkcs12" in message
    r = client.get(
        f"/api/v1/certificates/{body['id']}/export",
        params={"format": "no-such-format"},
        headers=world.headers("member"),
    )
    error(r, 422, "unknown_format", "format")
    r = export(client, world, 9999, "pem-bundle")
    error(r, 404, "certificate_not_found", "certificate_id")
    r = client.post(
        f"/api/v1/certificates/{body['id']}/export",
        json={"format": "pkcs8-key", "passphrase": PASSPHRASE, "extra": 1},
        headers=world.headers("member"),
    )
    error(r, 422, "unknown_field", "extra")
    r = export(client, world, body["id"], "pkcs8-key", passphrase="x" * 1025)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "passphrase"
    # Nothing written but the four refused key accesses, audited as denied.
    assert counts(container) == {**before, "audit_events": before["audit_events"] + 4}


def test_chain_export_of_a_certificate_without_chain(
    client: TestClient, world: World, container: Container
) -> None:
    ca = make_ca("Lonely CA")
    _, leaf = make_leaf(ca, "lonely.example.com")
    r = client.post(
        "/api/v1/certificates/import",
        json={"team_id": world.team_ids["own"], "certificate": pem(leaf)},
        headers=world.headers("member"),
    )
    assert r.status_code == 201, r.text
    cert_id = r.json()["id"]
    r = export(client, world, cert_id, "pem-chain")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "no_chain"
    r = export(client, world, cert_id, "pem-bundle")
    assert x509.load_pem_x509_certificates(r.content) == [leaf]
    r = export(client, world, cert_id, "pkcs8-key")
    error(r, 422, "no_private_key", "format")
