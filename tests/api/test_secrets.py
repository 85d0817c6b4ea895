"""Guessable passwords and export passphrases are refused with advice (lemur.strength).

Issue 8: "aaaaaaaaaaaa" was accepted as a password (only the length was checked), and a
PKCS#12 export accepted the one-character passphrase "x"."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from lemur.accounts.models import User
from lemur.audit.models import AuditEvent
from lemur.container import Container
from tests.api.certs_helpers import export, issue
from tests.api.conftest import World
from tests.api.test_errors import assert_envelope, count

WEAK = {
    "aaaaaaaaaaaa": "password_too_weak",
    "123456789012": "password_too_weak",
    "Password1234": "password_too_weak",
    "P@ssw0rd2026!": "password_too_weak",
    "carol2026!!!": "password_too_weak",  # the new user's name
    "x7!": "password_too_short",
}


@pytest.mark.parametrize(("password", "code"), WEAK.items())
def test_an_admin_cannot_set_a_guessable_password(
    client: TestClient, world: World, container: Container, password: str, code: str
) -> None:
    before = count(container, User)
    r = client.post(
        "/api/v1/users",
        json={"username": "carol", "password": password},
        headers=world.headers("admin2"),
    )
    err = assert_envelope(r, 422, code, "password")
    assert "random words" in err["message"]
    assert password not in err["message"]
    assert count(container, User) == before


@pytest.mark.parametrize(
    ("password", "code"),
    [
        *((p, c) for p, c in WEAK.items() if "carol" not in p),
        ("member2026!!!", "password_too_weak"),
    ],
)
def test_a_user_cannot_change_to_a_guessable_password(
    client: TestClient, world: World, container: Container, password: str, code: str
) -> None:
    r = client.post(
        "/api/v1/me/password",
        json={"current_password": "member-password-123", "new_password": password},
        headers=world.headers("member"),
    )
    err = assert_envelope(r, 422, code, "new_password")
    assert password not in r.text
    assert "12 characters" in err["message"] or "choose another" in err["message"]
    # the old password still works, the new one does not
    with container.db.read() as session:
        user = session.query(User).filter_by(username="member").one()
        assert container.hasher.verify(user.password_hash, "member-password-123")


def test_a_strong_password_is_accepted(client: TestClient, world: World) -> None:
    r = client.post(
        "/api/v1/users",
        json={"username": "carol", "password": "maple orbit lantern cobalt"},
        headers=world.headers("admin2"),
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("fmt", "passphrase", "code"),
    [
        ("pkcs12", "x", "passphrase_too_short"),
        ("pkcs12", "aaaaaaaaaaaaaaaa", "passphrase_too_weak"),
        ("pkcs12", "Password1234", "passphrase_too_weak"),
        ("pkcs8-key", "qwertyuiop[]", "passphrase_too_weak"),
        ("pkcs8-key", "x", "passphrase_too_short"),
    ],
)
def test_an_export_refuses_a_guessable_passphrase_and_writes_no_audit_event(
    client: TestClient, world: World, container: Container, fmt: str, passphrase: str, code: str
) -> None:
    body = issue(client, world, dns_names=["shop.example.com"])
    before = count(container, AuditEvent)
    r = export(client, world, body["id"], fmt, passphrase=passphrase)
    err = assert_envelope(r, 422, code, "passphrase")
    assert "random words" in err["message"]
    assert passphrase not in err["message"][len("passphrase") :]
    assert count(container, AuditEvent) == before
    r = export(client, world, body["id"], fmt, passphrase="maple orbit lantern cobalt")
    assert r.status_code == 200, r.text
