"""The cfssl issuer as users reach it: an authority created through Lemur's API (which
checks the connection), a certificate requested from it, revoked at cfssl."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from fastapi.testclient import TestClient

from lemur.clock import FrozenClock
from tests.api.certs_helpers import issue_raw
from tests.api.conftest import World
from tests.cli.test_cert_cli import TEAM, Lemur, lemur  # noqa: F401  (fixture)
from tests.peers.cfssl import CFSSLPeer

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def clock() -> FrozenClock:
    """Lemur's clock at the real time: cfssl dates its certificates by its own clock."""
    return FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))


def create(client: TestClient, world: World, name: str, options: dict[str, Any]) -> Any:
    return client.post(
        "/api/v1/authorities",
        json={"name": name, "plugin": "cfssl", "options": options},
        headers=world.headers("admin2"),
    )


@SQLITE_ONLY
def test_authority_certificate_and_revocation(
    client: TestClient, world: World, cfssl_peer: CFSSLPeer
) -> None:
    options = {
        "url": cfssl_peer.url,
        "profile": cfssl_peer.authed_profile,
        "auth_key": cfssl_peer.auth_key_hex,
    }
    r = create(client, world, "cfssl-ca", options)
    assert r.status_code == 201, r.text
    authority = r.json()
    assert authority["subject"] == cfssl_peer.ca_certificate.subject.rfc4514_string()
    shown = client.get(f"/api/v1/authorities/{authority['id']}", headers=world.headers("admin2"))
    assert cfssl_peer.auth_key_hex.lower() not in shown.text.lower()

    r = issue_raw(
        client,
        world,
        authority_id=authority["id"],
        dns_names=("www.example.test", "a.example.test"),
    )
    assert r.status_code == 201, r.text
    certificate = r.json()
    assert certificate["subject_alternative_names"]["dns_names"] == [
        "www.example.test",
        "a.example.test",
    ]
    assert certificate["issuer_dn"] == cfssl_peer.ca_certificate.subject.rfc4514_string()
    serial = int(certificate["serial_number_decimal"])
    row = cfssl_peer.certdb_row(serial)
    assert row is not None
    assert row.status == "good"

    r = client.post(
        f"/api/v1/certificates/{certificate['id']}/revoke",
        json={"reason": "key_compromise"},
        headers=world.headers("member"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "revoked"
    row = cfssl_peer.certdb_row(serial)
    assert row is not None
    assert (row.status, row.reason) == ("revoked", 1)


@SQLITE_ONLY
def test_a_wrong_key_is_refused_when_the_authority_is_created(
    client: TestClient, world: World, cfssl_peer: CFSSLPeer
) -> None:
    wrong = "ab" * 16
    r = create(
        client,
        world,
        "cfssl-bad",
        {"url": cfssl_peer.url, "profile": cfssl_peer.authed_profile, "auth_key": wrong},
    )
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "cfssl_auth_failed"
    assert error["field"] == "options.auth_key"
    assert "invalid token" in error["message"]
    assert wrong not in r.text


@SQLITE_ONLY
def test_lemur_does_not_mark_revoked_what_cfssl_cannot_revoke(
    client: TestClient, world: World, cfssl_peer: CFSSLPeer
) -> None:
    with cfssl_peer.without_certdb() as url:
        r = create(client, world, "cfssl-nodb", {"url": url, "profile": cfssl_peer.server_profile})
        assert r.status_code == 201, r.text
        r = issue_raw(client, world, authority_id=r.json()["id"], dns_names=("y.example.test",))
        assert r.status_code == 201, r.text
        certificate = r.json()
        r = client.post(
            f"/api/v1/certificates/{certificate['id']}/revoke",
            json={"reason": "key_compromise"},
            headers=world.headers("member"),
        )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "cfssl_revocation_unavailable"
    shown = client.get(f"/api/v1/certificates/{certificate['id']}", headers=world.headers("member"))
    assert shown.json()["status"] == "valid"
    assert shown.json()["revoked_at"] is None


def test_the_documented_cli_example(lemur: Lemur, cfssl_peer: CFSSLPeer, tmp_path: Path) -> None:  # noqa: F811
    """docs/issuers.md (cfssl): ``lemur authority create NAME --plugin cfssl --option ...``,
    the TLS bundle read with ``NAME=@FILE``, then a certificate requested from it."""
    bundle = tmp_path / "cfssl-tls-ca.pem"
    bundle.write_text(cfssl_peer.tls_ca_pem)
    created = lemur.json(
        "authority", "create", "example-cfssl", "--plugin", "cfssl",
        "--option", f"url={cfssl_peer.tls_url}",
        "--option", f"ca_bundle=@{bundle}",
        "--option", f"profile={cfssl_peer.authed_profile}",
        "--option", f"auth_key={cfssl_peer.auth_key_hex}",
    )  # fmt: skip
    assert created["subject"] == cfssl_peer.ca_certificate.subject.rfc4514_string()
    assert cfssl_peer.auth_key_hex not in json.dumps(created)
    item = lemur.json(
        "cert", "request", "www.example.test", "--team", TEAM, "--authority", "example-cfssl"
    )
    certificate = x509.load_pem_x509_certificate(item["pem"].encode())
    assert certificate.issuer == cfssl_peer.ca_certificate.subject
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["www.example.test"]
