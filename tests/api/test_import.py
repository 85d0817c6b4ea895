"""Importing existing certificates: PEM, DER and PKCS#12, with chain and key; the chain
repaired into leaf-to-root order, the key checked against the certificate and stored
encrypted, duplicates found by fingerprint, and every bad input refused with nothing
written."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from lemur.container import Container
from tests.api.certs_helpers import (
    ECKey,
    counts,
    der_b64,
    error,
    issue,
    key_pem,
    make_ca,
    make_leaf,
    p12_b64,
    pem,
    stored_key,
)
from tests.api.conftest import World

PASSPHRASE = "correct horse battery staple"


class PKI:
    """An external root, an intermediate and a leaf with its key."""

    def __init__(self) -> None:
        self.root = make_ca("Ext Root")
        self.intermediate = make_ca("Ext Intermediate", issuer=self.root)
        self.key, self.leaf = make_leaf(self.intermediate, "shop.example.com")


@pytest.fixture(scope="module")
def pki() -> PKI:
    return PKI()


def do_import(
    client: TestClient, world: World, who: str = "member", team: str = "own", **body: Any
) -> httpx.Response:
    payload = {"team_id": world.team_ids[team], **body}
    return client.post("/api/v1/certificates/import", json=payload, headers=world.headers(who))


def imported(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def assert_key_stored(container: Container, certificate_id: int, key: ECKey) -> None:
    ciphertext = stored_key(container, certificate_id)
    assert ciphertext is not None
    assert ciphertext.startswith(container.keyring.primary_kid + ":")
    assert "PRIVATE KEY" not in ciphertext
    der = container.keyring.decrypt(ciphertext)
    assert serialization.load_der_private_key(der, None).public_key() == key.public_key()


def test_pem_with_chain_out_of_order_and_key(
    client: TestClient, world: World, container: Container, pki: PKI
) -> None:
    r = do_import(
        client,
        world,
        certificate=pem(pki.leaf),
        chain=pem(pki.root[1], pki.intermediate[1]),  # root first: repaired
        private_key=key_pem(pki.key),
    )
    body = imported(r)
    assert "PRIVATE KEY" not in r.text
    assert body["origin"] == "imported"
    assert body["has_private_key"] is True
    assert body["team"] == {"id": world.team_ids["own"], "name": "own"}
    assert body["common_name"] == "shop.example.com"
    assert x509.load_pem_x509_certificate(body["pem"].encode()) == pki.leaf
    assert [c["pem"] for c in body["chain"]] == [pem(pki.intermediate[1]), pem(pki.root[1])]
    assert [c["subject"] for c in body["chain"]] == [
        "CN=Ext Intermediate,O=Example External PKI",
        "CN=Ext Root,O=Example External PKI",
    ]
    assert body["authority"] is None  # no authority of ours issued it
    assert_key_stored(container, body["id"], pki.key)
    assert [h["action"] for h in body["history"]] == ["certificate.import"]
    # The detail read later says the same.
    r = client.get(f"/api/v1/certificates/{body['id']}", headers=world.headers("security"))
    assert [c["pem"] for c in r.json()["chain"]] == [pem(pki.intermediate[1]), pem(pki.root[1])]


def test_pem_bundle_in_any_order_in_the_certificate_field(
    client: TestClient, world: World, pki: PKI
) -> None:
    r = do_import(client, world, certificate=pem(pki.root[1], pki.leaf, pki.intermediate[1]))
    body = imported(r)
    assert body["common_name"] == "shop.example.com"
    assert [c["pem"] for c in body["chain"]] == [pem(pki.intermediate[1]), pem(pki.root[1])]
    assert body["has_private_key"] is False


def test_der_base64_import(
    client: TestClient, world: World, container: Container, pki: PKI
) -> None:
    # DER key as base64 too.
    key_der = pki.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    body = imported(
        do_import(
            client,
            world,
            certificate=der_b64(pki.leaf),
            private_key=base64.b64encode(key_der).decode(),
        )
    )
    assert x509.load_pem_x509_certificate(body["pem"].encode()) == pki.leaf
    assert body["chain"] == []
    assert_key_stored(container, body["id"], pki.key)


def test_pkcs12_with_passphrase(
    client: TestClient, world: World, container: Container, pki: PKI
) -> None:
    data = p12_b64(pki.key, pki.leaf, [pki.root[1], pki.intermediate[1]], PASSPHRASE.encode())
    r = do_import(client, world, certificate=data, passphrase=PASSPHRASE)
    body = imported(r)
    assert PASSPHRASE not in r.text
    assert body["has_private_key"] is True
    assert [c["pem"] for c in body["chain"]] == [pem(pki.intermediate[1]), pem(pki.root[1])]
    assert_key_stored(container, body["id"], pki.key)
    audit = client.get("/api/v1/audit-events", headers=world.headers("admin2")).text
    assert PASSPHRASE not in audit


def test_encrypted_pem_key_with_passphrase(
    client: TestClient, world: World, container: Container, pki: PKI
) -> None:
    body = imported(
        do_import(
            client,
            world,
            certificate=pem(pki.leaf),
            private_key=key_pem(pki.key, PASSPHRASE.encode()),
            passphrase=PASSPHRASE,
        )
    )
    assert_key_stored(container, body["id"], pki.key)


def test_leaf_of_a_local_authority_is_linked_to_it(
    client: TestClient, world: World, container: Container
) -> None:
    issuing = next(
        a
        for a in client.get("/api/v1/authorities", headers=world.headers("member")).json()
        if a["name"] == "local-issuing-ca"
    )
    # A certificate our CA signed that is not in the inventory (say, from an old backup).
    ca_key = serialization.load_der_private_key(
        container.keyring.decrypt(stored_key(container, issuing["certificate_id"]) or ""), None
    )
    ca_cert = x509.load_pem_x509_certificate(
        client.get(f"/api/v1/authorities/{issuing['id']}", headers=world.headers("member"))
        .json()["certificate_pem"]
        .encode()
    )
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    _, leaf = make_leaf((ca_key, ca_cert), "restored.example.com")
    body = imported(do_import(client, world, certificate=pem(leaf)))
    assert body["authority"] == {"id": issuing["id"], "name": "local-issuing-ca"}

    # Re-importing one Lemur issued and still holds is a duplicate naming it.
    issued = issue(client, world, dns_names=["again.example.com"])
    before = counts(container)
    r = do_import(client, world, certificate=issued["pem"])
    message = error(r, 409, "certificate_exists", "certificate")
    assert f"certificate {issued['id']}" in message
    assert counts(container) == before


def test_duplicate_by_fingerprint_names_the_existing_certificate(
    client: TestClient, world: World, container: Container, pki: PKI
) -> None:
    first = imported(do_import(client, world, certificate=pem(pki.leaf)))
    before = counts(container)
    for variant in (
        {"certificate": pem(pki.leaf)},
        {"certificate": der_b64(pki.leaf)},
        {
            "certificate": p12_b64(pki.key, pki.leaf, [], PASSPHRASE.encode()),
            "passphrase": PASSPHRASE,
        },
    ):
        r = do_import(client, world, who="security", team="other", **variant)
        message = error(r, 409, "certificate_exists", "certificate")
        assert str(first["id"]) in message
    assert counts(container) == before


def test_refusals_write_nothing(
    client: TestClient, world: World, container: Container, pki: PKI
) -> None:
    foreign = make_ca("Foreign CA")
    other_key, _ = make_leaf(pki.intermediate, "other.example.com")
    leaf_pem = pem(pki.leaf)
    leaf_der = pki.leaf.public_bytes(serialization.Encoding.DER)
    p12 = p12_b64(pki.key, pki.leaf, [pki.intermediate[1]], PASSPHRASE.encode())
    before = counts(container)

    r = do_import(client, world, certificate=leaf_pem, chain=pem(pki.intermediate[1], foreign[1]))
    assert "Foreign CA" in error(r, 422, "chain_invalid", "chain")
    r = do_import(client, world, certificate=leaf_pem, private_key=key_pem(other_key))
    error(r, 422, "key_mismatch", "private_key")
    r = do_import(client, world, certificate=p12, passphrase="wrong passphrase")
    error(r, 422, "pkcs12_bad_passphrase", "passphrase")
    assert "wrong passphrase" not in r.text
    r = do_import(client, world, certificate=p12)
    error(r, 422, "pkcs12_bad_passphrase", "passphrase")
    r = do_import(
        client,
        world,
        certificate=leaf_pem,
        private_key=key_pem(pki.key, b"secret-1"),
        passphrase="secret-2",
    )
    error(r, 422, "private_key_bad_passphrase", "passphrase")
    assert "secret-2" not in r.text

    # Truncated or malformed material.
    truncated_pem = leaf_pem[: len(leaf_pem) // 2]
    r = do_import(client, world, certificate=truncated_pem)
    error(r, 422, "invalid_pem", "certificate")
    body_only = leaf_pem.replace("-----END CERTIFICATE-----\n", "")
    r = do_import(client, world, certificate=body_only)
    error(r, 422, "invalid_pem", "certificate")
    r = do_import(
        client, world, certificate=base64.b64encode(leaf_der[: len(leaf_der) // 2]).decode()
    )
    assert "truncated" in error(r, 422, "invalid_der", "certificate")
    r = do_import(client, world, certificate=base64.b64encode(b"\x30\x03\x02\x01\x03").decode())
    error(r, 422, "invalid_pkcs12", "certificate")
    r = do_import(client, world, certificate="certainly not base64 !!!")
    error(r, 422, "invalid_encoding", "certificate")
    r = do_import(client, world, certificate="")
    error(r, 422, "empty_input", "certificate")
    r = do_import(client, world, certificate=leaf_pem, chain=pem(pki.intermediate[1])[:150])
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "chain"
    r = do_import(client, world, certificate=leaf_pem, private_key=key_pem(pki.key)[:100])
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "private_key"
    r = do_import(
        client, world, certificate=p12, passphrase=PASSPHRASE, private_key=key_pem(pki.key)
    )
    error(r, 422, "duplicate_private_key", "private_key")

    # Who and where.
    r = do_import(client, world, team="other", certificate=leaf_pem)
    assert r.status_code == 403, r.text
    r = do_import(client, world, who="reader", certificate=leaf_pem)
    assert r.status_code == 403, r.text
    r = client.post(
        "/api/v1/certificates/import",
        json={"team_id": 9999, "certificate": leaf_pem},
        headers=world.headers("member"),
    )
    error(r, 404, "team_not_found", "team_id")
    r = do_import(client, world, certificate=leaf_pem, colour="red")
    error(r, 422, "unknown_field", "colour")
    r = do_import(client, world, certificate="A" * (container.settings.max_body_bytes + 1))
    error(r, 413, "payload_too_large", None)
    assert counts(container) == before
