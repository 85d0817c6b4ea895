"""API tokens: created once, stored hashed, named, scoped, expiring, revocable, recorded."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from lemur.accounts.models import ApiToken, TokenScope
from lemur.app import create_app
from lemur.audit.models import AuditEvent
from lemur.clock import FrozenClock
from lemur.container import Container
from lemur.db import Base
from tests.api.conftest import World
from tests.conftest import START


def count(container: Container, model: type[Base]) -> int:
    with container.db.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def error(r: Any, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()["error"]
    return body


def create(client: TestClient, world: World, who: str = "member", **body: Any) -> dict[str, Any]:
    payload = {"name": "ci", "scope": "write", "expires_in_days": 30} | body
    r = client.post("/api/v1/tokens", json=payload, headers=world.headers(who))
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


# --- creation -----------------------------------------------------------------------------


def test_token_is_shown_once_and_stored_only_as_a_hash(
    client: TestClient, world: World, container: Container
) -> None:
    created = create(client, world, name="deploy bot", scope="read", expires_in_days=10)
    token = created["token"]
    assert token.startswith(f"lmr_{created['public_id']}_")
    secret = token.split("_", 2)[2]
    assert len(secret) >= 40
    assert created["name"] == "deploy bot"
    assert created["scope"] == "read"
    assert dt.datetime.fromisoformat(created["expires_at"]) == START + dt.timedelta(days=10)
    assert created["revoked_at"] is None
    assert created["last_used_at"] is None

    listed = client.get("/api/v1/tokens", headers=world.headers("member"))
    assert listed.status_code == 200
    assert "token" not in listed.json()[0]
    assert secret not in listed.text
    assert [t["name"] for t in listed.json()].count("deploy bot") == 1

    # No part of the secret is in the database: not the token rows, not the audit log.
    with container.db.read() as session:
        stored = " ".join(
            " ".join(str(v) for v in row)
            for table in ("api_tokens", "audit_events")
            for row in session.execute(text(f"SELECT * FROM {table}"))
        )
    for i in range(len(secret) - 8):
        assert secret[i : i + 8] not in stored

    # The token works.
    me = client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json()["username"] == "member"


def test_token_creation_is_audited(client: TestClient, world: World, container: Container) -> None:
    created = create(client, world, name="audited")
    with container.db.read() as session:
        event = session.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "token.create")
            .order_by(AuditEvent.seq.desc())
        ).first()
    assert event is not None
    assert event.actor == "user:member"
    assert event.target_id == str(created["id"])
    assert event.client_address == "192.0.2.10"


def test_default_scope_is_read(client: TestClient, world: World) -> None:
    r = client.post("/api/v1/tokens", json={"name": "defaults"}, headers=world.headers("member"))
    assert r.status_code == 201, r.text
    assert r.json()["scope"] == "read"


# --- bad input: nothing is written --------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"name": "dup"}, 409, "token_exists", "name"),
        ({"name": "x", "expires_in_days": 0}, 422, "validation_error", "expires_in_days"),
        ({"name": "x", "expires_in_days": 366}, 422, "invalid_token_lifetime", "expires_in_days"),
        # found by schemathesis: more days than a timedelta holds was a 500
        (
            {"name": "x", "expires_in_days": 10**9},
            422,
            "validation_error",
            "expires_in_days",
        ),
        ({"name": "x", "colour": "red"}, 422, "unknown_field", "colour"),
        ({"name": "   "}, 422, "invalid_token_name", "name"),
        ({"name": "n" * 101}, 422, "validation_error", "name"),
        ({"name": "x", "scope": "admin"}, 422, "validation_error", "scope"),
        ({}, 422, "missing_field", "name"),
    ],
)
def test_bad_token_requests_write_nothing(
    client: TestClient,
    world: World,
    container: Container,
    body: dict[str, Any],
    status: int,
    code: str,
    field: str,
) -> None:
    create(client, world, name="dup")
    tokens, events = count(container, ApiToken), count(container, AuditEvent)
    r = client.post("/api/v1/tokens", json=body, headers=world.headers("member"))
    err = error(r, status)
    assert err["code"] == code
    assert err["field"] == field
    assert err["message"]
    assert count(container, ApiToken) == tokens
    assert count(container, AuditEvent) == events


def test_same_name_for_another_user_is_fine(client: TestClient, world: World) -> None:
    create(client, world, "member", name="shared-name")
    create(client, world, "outsider", name="shared-name")


# --- authentication failures --------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    ["nonsense", "lmr_abc", "lmr__secret", "lmr_abc_", "xyz_0123456789abcdef_secret"],
)
def test_malformed_token(client: TestClient, world: World, token: str) -> None:
    err = error(client.get("/api/v1/me", headers=bearer(token)), 401)
    assert err["code"] == "token_malformed"


def test_unknown_token_and_wrong_secret(client: TestClient, world: World) -> None:
    err = error(client.get("/api/v1/me", headers=bearer("lmr_0123456789abcdef_" + "A" * 43)), 401)
    assert err["code"] == "token_invalid"
    created = create(client, world)
    forged = f"lmr_{created['public_id']}_{'B' * 43}"
    err = error(client.get("/api/v1/me", headers=bearer(forged)), 401)
    assert err["code"] == "token_invalid"


def test_other_auth_schemes_are_refused(client: TestClient, world: World) -> None:
    err = error(client.get("/api/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz"}), 401)
    assert err["code"] == "unsupported_auth_scheme"
    err = error(client.get("/api/v1/me"), 401)
    assert err["code"] == "authentication_required"


def test_expired_token(
    client: TestClient, world: World, container: Container, clock: FrozenClock
) -> None:
    token = create(client, world, expires_in_days=1)["token"]
    clock.advance(dt.timedelta(hours=23, minutes=59))
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    clock.advance(dt.timedelta(minutes=1))
    err = error(client.get("/api/v1/me", headers=bearer(token)), 401)
    assert err["code"] == "token_expired"
    assert "2026-11-28" in err["message"]


def test_revoked_token(client: TestClient, world: World, container: Container) -> None:
    created = create(client, world)
    r = client.delete(f"/api/v1/tokens/{created['id']}", headers=world.headers("member"))
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] is not None
    err = error(client.get("/api/v1/me", headers=bearer(created["token"])), 401)
    assert err["code"] == "token_revoked"
    # The list still shows it, marked revoked.
    listed = client.get("/api/v1/tokens", headers=world.headers("member")).json()
    [row] = [t for t in listed if t["id"] == created["id"]]
    assert row["revoked_at"] is not None
    with container.db.read() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(
                    AuditEvent.action == "token.revoke", AuditEvent.target_id == str(created["id"])
                )
            )
            == 1
        )


def test_a_token_can_revoke_itself(client: TestClient, world: World) -> None:
    created = create(client, world)
    r = client.delete(f"/api/v1/tokens/{created['id']}", headers=bearer(created["token"]))
    assert r.status_code == 200, r.text
    err = error(client.get("/api/v1/me", headers=bearer(created["token"])), 401)
    assert err["code"] == "token_revoked"


def test_disabled_owner(client: TestClient, world: World) -> None:
    token = create(client, world)["token"]
    r = client.patch(
        f"/api/v1/users/{world.user_ids['member']}",
        json={"disabled": True},
        headers=world.headers("admin2"),
    )
    assert r.status_code == 200, r.text
    err = error(client.get("/api/v1/me", headers=bearer(token)), 401)
    assert err["code"] == "account_disabled"


def test_someone_elses_token_is_not_found(
    client: TestClient, world: World, container: Container
) -> None:
    theirs = create(client, world, "outsider", name="theirs")
    events = count(container, AuditEvent)
    for who in ("member", "admin2"):
        err = error(
            client.delete(f"/api/v1/tokens/{theirs['id']}", headers=world.headers(who)), 404
        )
        assert err["code"] == "token_not_found"
    err = error(client.delete("/api/v1/tokens/999999", headers=world.headers("member")), 404)
    assert err["code"] == "token_not_found"
    assert client.get("/api/v1/me", headers=bearer(theirs["token"])).status_code == 200
    assert count(container, AuditEvent) == events


def test_tokens_list_shows_only_your_own(client: TestClient, world: World) -> None:
    create(client, world, "outsider", name="outsider-only")
    names = [
        t["name"] for t in client.get("/api/v1/tokens", headers=world.headers("member")).json()
    ]
    assert "outsider-only" not in names


# --- scope --------------------------------------------------------------------------------


def test_read_scope_may_read_but_not_write(
    client: TestClient, world: World, container: Container
) -> None:
    read = world.add_token("admin2", scope=TokenScope.READ)
    mine = create(client, world, "admin2", name="to-revoke")
    assert client.get("/api/v1/me", headers=bearer(read)).status_code == 200
    assert client.get("/api/v1/users", headers=bearer(read)).status_code == 200
    assert client.get("/api/v1/tokens", headers=bearer(read)).status_code == 200
    tokens, events = count(container, ApiToken), count(container, AuditEvent)
    attempts = [
        ("POST", "/api/v1/tokens", {"name": "escalate", "scope": "write"}),
        ("POST", "/api/v1/teams", {"name": "new-team"}),
        ("PATCH", f"/api/v1/users/{world.user_ids['member']}", {"role": "admin"}),
        ("DELETE", f"/api/v1/tokens/{mine['id']}", None),
    ]
    for method, path, body in attempts:
        r = client.request(method, path, json=body, headers=bearer(read))
        err = error(r, 403)
        assert err["code"] == "token_scope_insufficient", (method, path)
    assert count(container, ApiToken) == tokens
    assert count(container, AuditEvent) == events
    assert client.get("/api/v1/me", headers=bearer(mine["token"])).status_code == 200
    member = client.get(f"/api/v1/users/{world.user_ids['member']}", headers=bearer(read))
    assert member.json()["role"] == "member"


# --- last use -----------------------------------------------------------------------------


def _token_row(container: Container, token_id: int) -> ApiToken:
    with container.db.read() as session:
        row = session.get(ApiToken, token_id)
        assert row is not None
        return row


def test_last_use_is_recorded_at_most_once_a_minute(
    client: TestClient, world: World, container: Container, clock: FrozenClock
) -> None:
    created = create(client, world)
    clock.advance(dt.timedelta(minutes=5))
    first_use = clock.now()
    assert client.get("/api/v1/me", headers=bearer(created["token"])).status_code == 200
    row = _token_row(container, created["id"])
    assert row.last_used_at == first_use
    assert row.last_used_address == "192.0.2.10"

    # Within the minute, from another address: not rewritten.
    with TestClient(create_app(container), client=("198.51.100.20", 1)) as other:
        clock.advance(dt.timedelta(seconds=30))
        assert other.get("/api/v1/me", headers=bearer(created["token"])).status_code == 200
        row = _token_row(container, created["id"])
        assert row.last_used_at == first_use
        assert row.last_used_address == "192.0.2.10"
        clock.advance(dt.timedelta(seconds=31))
        assert other.get("/api/v1/me", headers=bearer(created["token"])).status_code == 200
    row = _token_row(container, created["id"])
    assert row.last_used_at == clock.now()
    assert row.last_used_address == "198.51.100.20"
    listed = client.get("/api/v1/tokens", headers=world.headers("member")).json()
    [shown] = [t for t in listed if t["id"] == created["id"]]
    assert dt.datetime.fromisoformat(shown["last_used_at"]) == clock.now()
    assert shown["last_used_address"] == "198.51.100.20"


def test_failed_authentication_does_not_touch_last_use(
    client: TestClient, world: World, container: Container
) -> None:
    created = create(client, world)
    forged = f"lmr_{created['public_id']}_{'C' * 43}"
    assert client.get("/api/v1/me", headers=bearer(forged)).status_code == 401
    assert _token_row(container, created["id"]).last_used_at is None


def test_many_tokens_all_authenticate(client: TestClient, world: World) -> None:
    """Secrets are url-safe base64 and often contain '_'; every one must parse."""
    tokens = [world.add_token("member", name=f"bulk-{i}") for i in range(40)]
    assert any("_" in t.split("_", 2)[2] for t in tokens)
    for token in tokens:
        assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200, token
