"""The cfssl issuer as users reach it: an authority created through Lemur's API (which
checks the connection), a certificate requested from it, revoked at cfssl."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lemur.clock import FrozenClock
from tests.api.certs_helpers import issue_raw
from tests.api.conftest import World
from tests.peers.cfssl import CFSSLPeer

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


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
