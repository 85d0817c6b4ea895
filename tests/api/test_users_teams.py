"""Users and teams through the API: the happy paths and every kind of bad input, each
answered with a stable code and a field, and nothing half-written left behind."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lemur.accounts.login import ThrottlePolicy
from lemur.accounts.models import ApiToken, Team, TeamMember, User, WebSession
from lemur.audit.models import AuditEvent
from lemur.container import Container
from lemur.errors import AuthenticationRequired
from tests.api.conftest import World
from tests.login_helpers import Logins

TABLES: tuple[type[Any], ...] = (User, Team, TeamMember, ApiToken, WebSession, AuditEvent)


def counts(container: Container) -> dict[str, int]:
    with container.db.read() as session:
        return {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in TABLES
        }


def error(r: httpx.Response, status: int, code: str, field: str | None) -> str:
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code, r.text
    assert r.json()["error"]["field"] == field, r.text
    message: str = r.json()["error"]["message"]
    return message


def logins(container: Container) -> Logins:
    return Logins(
        container, ThrottlePolicy(50, 50, dt.timedelta(minutes=15)), hasher=container.hasher
    )


def can_log_in(container: Container, username: str, password: str) -> bool:
    try:
        logins(container).login(username, password, client_address="192.0.2.10")
    except AuthenticationRequired:
        return False
    return True


# -- users ---------------------------------------------------------------------------------


def test_create_user_without_password_returns_a_one_time_password(
    client: TestClient, world: World, container: Container
) -> None:
    r = client.post(
        "/api/v1/users",
        headers=world.headers("admin2"),
        json={
            "username": "alice",
            "role": "security",
            "display_name": "Alice",
            "email": "a@example.com",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["username"] == "alice"
    assert body["role"] == "security"
    assert body["must_change_password"] is True
    assert body["disabled"] is False
    assert body["teams"] == []
    otp = body["one_time_password"]
    assert isinstance(otp, str)
    assert len(otp) >= 12
    assert can_log_in(container, "alice", otp)
    # the one-time password is not shown again
    again = client.get(f"/api/v1/users/{body['id']}", headers=world.headers("admin2")).json()
    assert "one_time_password" not in again
    assert again["username"] == "alice"


def test_create_user_with_password(client: TestClient, world: World, container: Container) -> None:
    r = client.post(
        "/api/v1/users",
        headers=world.headers("admin2"),
        json={"username": "bob", "password": "bob-password-123"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["one_time_password"] is None
    assert r.json()["must_change_password"] is False
    assert r.json()["role"] == "member"
    assert can_log_in(container, "bob", "bob-password-123")


def test_duplicate_username_is_409_and_writes_nothing(
    client: TestClient, world: World, container: Container
) -> None:
    before = counts(container)
    r = client.post("/api/v1/users", headers=world.headers("admin2"), json={"username": "member"})
    assert "member" in error(r, 409, "user_exists", "username")
    assert counts(container) == before


INVALID_USERNAMES = [
    ("Alice", "alice"),
    ("alice smith", "alice-smith"),
    ("a" * 65, "a" * 64),
    ("", "jane.doe"),
    ("-alice", "alice"),
    ("élise", "lise"),
]


def test_invalid_username_is_422_with_a_suggestion(
    client: TestClient, world: World, container: Container
) -> None:
    before = counts(container)
    for username, suggestion in INVALID_USERNAMES:
        r = client.post(
            "/api/v1/users", headers=world.headers("admin2"), json={"username": username}
        )
        message = error(r, 422, "invalid_username", "username")
        assert f"for example '{suggestion}'" in message, username
    assert counts(container) == before


def test_weak_password_is_refused(client: TestClient, world: World, container: Container) -> None:
    before = counts(container)
    r = client.post(
        "/api/v1/users",
        headers=world.headers("admin2"),
        json={"username": "carol", "password": "short"},
    )
    assert "12" in error(r, 422, "password_too_short", "password")
    r = client.post(
        "/api/v1/users",
        headers=world.headers("admin2"),
        json={"username": "carol", "password": "x" * 1025},
    )
    error(r, 422, "password_too_long", "password")
    assert counts(container) == before


def test_disabled_user_loses_tokens_and_sessions(
    client: TestClient, world: World, container: Container
) -> None:
    member_id = world.user_ids["member"]
    session_token = (
        logins(container)
        .login("member", "member-password-123", client_address="192.0.2.10")
        .session_token
    )
    cookie_client = TestClient(client.app, cookies={"lemur_session": session_token})
    assert cookie_client.get("/api/v1/me").status_code == 200
    assert client.get("/api/v1/me", headers=world.headers("member")).status_code == 200

    r = client.patch(
        f"/api/v1/users/{member_id}", headers=world.headers("admin2"), json={"disabled": True}
    )
    assert r.status_code == 200, r.text
    assert r.json()["disabled"] is True

    error(client.get("/api/v1/me", headers=world.headers("member")), 401, "account_disabled", None)
    with container.db.read() as session:
        assert session.scalar(select(func.count()).where(WebSession.user_id == member_id)) == 0
    error(cookie_client.get("/api/v1/me"), 401, "session_expired", None)
    assert not can_log_in(container, "member", "member-password-123")

    # enabling again restores the tokens (they were never revoked), not the sessions
    r = client.patch(
        f"/api/v1/users/{member_id}", headers=world.headers("admin2"), json={"disabled": False}
    )
    assert r.json()["disabled"] is False
    assert client.get("/api/v1/me", headers=world.headers("member")).status_code == 200
    assert cookie_client.get("/api/v1/me").status_code == 401


def test_cannot_disable_yourself(client: TestClient, world: World, container: Container) -> None:
    before = counts(container)
    me = world.user_ids["admin2"]
    r = client.patch(
        f"/api/v1/users/{me}", headers=world.headers("admin2"), json={"disabled": True}
    )
    error(r, 422, "cannot_disable_self", "user_id")
    assert client.get("/api/v1/me", headers=world.headers("admin2")).json()["disabled"] is False
    assert counts(container) == before


def test_role_change_takes_effect_at_once(
    client: TestClient, world: World, container: Container
) -> None:
    reader = world.user_ids["reader"]
    error(
        client.get("/api/v1/users", headers=world.headers("reader")), 403, "permission_denied", None
    )
    r = client.patch(
        f"/api/v1/users/{reader}", headers=world.headers("admin2"), json={"role": "security"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "security"
    assert client.get("/api/v1/users", headers=world.headers("reader")).status_code == 200
    # an admin cannot remove their own admin role (someone must be left to undo mistakes)
    before = counts(container)
    me = world.user_ids["admin2"]
    r = client.patch(
        f"/api/v1/users/{me}", headers=world.headers("admin2"), json={"role": "member"}
    )
    error(r, 422, "cannot_demote_self", "role")
    assert client.get("/api/v1/me", headers=world.headers("admin2")).json()["role"] == "admin"
    assert counts(container) == before
    # an unknown role
    r = client.patch(
        f"/api/v1/users/{reader}", headers=world.headers("admin2"), json={"role": "superuser"}
    )
    error(r, 422, "validation_error", "role")


def test_reset_password_gives_a_working_one_time_password(
    client: TestClient, world: World, container: Container
) -> None:
    member = world.user_ids["member"]
    r = client.post(f"/api/v1/users/{member}/reset-password", headers=world.headers("admin2"))
    assert r.status_code == 200, r.text
    otp = r.json()["one_time_password"]
    assert can_log_in(container, "member", otp)
    assert not can_log_in(container, "member", "member-password-123")
    assert (
        client.get("/api/v1/me", headers=world.headers("member")).json()["must_change_password"]
        is True
    )
    # changing it clears the flag
    r = client.post(
        "/api/v1/me/password",
        headers=world.headers("member"),
        json={"current_password": otp, "new_password": "my-own-new-password"},
    )
    assert r.status_code == 204, r.text
    assert (
        client.get("/api/v1/me", headers=world.headers("member")).json()["must_change_password"]
        is False
    )


def test_change_own_password(client: TestClient, world: World, container: Container) -> None:
    url, headers = "/api/v1/me/password", world.headers("member")
    before = counts(container)
    r = client.post(
        url,
        headers=headers,
        json={"current_password": "wrong-password-000", "new_password": "another-password-1"},
    )
    error(r, 401, "invalid_credentials", "current_password")
    r = client.post(
        url,
        headers=headers,
        json={"current_password": "member-password-123", "new_password": "member-password-123"},
    )
    error(r, 422, "password_unchanged", "new_password")
    r = client.post(
        url,
        headers=headers,
        json={"current_password": "member-password-123", "new_password": "short"},
    )
    error(r, 422, "password_too_short", "new_password")
    r = client.post(url, headers=headers, json={"current_password": "member-password-123"})
    error(r, 422, "missing_field", "new_password")
    assert counts(container) == before
    assert can_log_in(container, "member", "member-password-123")

    r = client.post(
        url,
        headers=headers,
        json={"current_password": "member-password-123", "new_password": "member-password-456"},
    )
    assert r.status_code == 204, r.text
    assert can_log_in(container, "member", "member-password-456")
    assert not can_log_in(container, "member", "member-password-123")


def test_unknown_user_is_404(client: TestClient, world: World, container: Container) -> None:
    before = counts(container)
    for method, path, body in (
        ("GET", "/api/v1/users/99999", None),
        ("PATCH", "/api/v1/users/99999", {"role": "member"}),
        ("POST", "/api/v1/users/99999/reset-password", None),
    ):
        r = client.request(method, path, headers=world.headers("admin2"), json=body)
        assert "99999" in error(r, 404, "user_not_found", "user_id")
    assert counts(container) == before


# -- teams ---------------------------------------------------------------------------------


def test_create_team_and_manage_members(
    client: TestClient, world: World, container: Container
) -> None:
    admin = world.headers("admin2")
    r = client.post(
        "/api/v1/teams", headers=admin, json={"name": "payments", "description": "Payments"}
    )
    assert r.status_code == 201, r.text
    team = r.json()
    assert (team["name"], team["description"], team["members"]) == ("payments", "Payments", [])

    r = client.post(
        f"/api/v1/teams/{team['id']}/members", headers=admin, json={"username": "member"}
    )
    assert r.status_code == 201, r.text
    assert [m["username"] for m in r.json()["members"]] == ["member"]
    r = client.post(
        f"/api/v1/teams/{team['id']}/members", headers=admin, json={"username": "reader"}
    )
    assert [m["username"] for m in r.json()["members"]] == ["member", "reader"]

    me = client.get("/api/v1/me", headers=world.headers("member")).json()
    assert [t["name"] for t in me["teams"]] == ["own", "payments"]
    listed = {
        t["name"]: t for t in client.get("/api/v1/teams", headers=world.headers("member")).json()
    }
    assert [m["username"] for m in listed["payments"]["members"]] == ["member", "reader"]

    r = client.delete(
        f"/api/v1/teams/{team['id']}/members/{world.user_ids['member']}", headers=admin
    )
    assert r.status_code == 204
    shown = client.get(f"/api/v1/teams/{team['id']}", headers=admin).json()
    assert [m["username"] for m in shown["members"]] == ["reader"]


def test_duplicate_team_is_409_and_writes_nothing(
    client: TestClient, world: World, container: Container
) -> None:
    before = counts(container)
    r = client.post("/api/v1/teams", headers=world.headers("admin2"), json={"name": "own"})
    assert "own" in error(r, 409, "team_exists", "name")
    assert counts(container) == before


def test_invalid_team_name_is_422_with_a_suggestion(
    client: TestClient, world: World, container: Container
) -> None:
    before = counts(container)
    for name, suggestion in (
        ("Payments Team", "payments-team"),
        ("", "web-team"),
        ("x" * 65, "x" * 64),
        ("web/prod", "web-prod"),
    ):
        r = client.post("/api/v1/teams", headers=world.headers("admin2"), json={"name": name})
        assert f"for example '{suggestion}'" in error(r, 422, "invalid_team_name", "name"), name
    assert counts(container) == before


def test_member_bad_input(client: TestClient, world: World, container: Container) -> None:
    admin = world.headers("admin2")
    own, other = world.team_ids["own"], world.team_ids["other"]
    before = counts(container)

    r = client.post(f"/api/v1/teams/{own}/members", headers=admin, json={"username": "member"})
    assert "already a member" in error(r, 409, "already_member", "username")
    r = client.delete(f"/api/v1/teams/{other}/members/{world.user_ids['member']}", headers=admin)
    assert "not a member" in error(r, 404, "not_a_member", "username")
    r = client.post("/api/v1/teams/99999/members", headers=admin, json={"username": "member"})
    error(r, 404, "team_not_found", "team_id")
    r = client.post(f"/api/v1/teams/{own}/members", headers=admin, json={"username": "ghost"})
    assert "ghost" in error(r, 404, "user_not_found", "username")
    r = client.delete(f"/api/v1/teams/{own}/members/99999", headers=admin)
    error(r, 404, "user_not_found", "user_id")
    r = client.delete(f"/api/v1/teams/99999/members/{world.user_ids['member']}", headers=admin)
    error(r, 404, "team_not_found", "team_id")
    error(client.get("/api/v1/teams/99999", headers=admin), 404, "team_not_found", "team_id")
    r = client.post(f"/api/v1/teams/{own}/members", headers=admin, json={"user": "member"})
    error(r, 422, "unknown_field", "user")

    assert counts(container) == before
