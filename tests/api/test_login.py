"""Browser login through the real form: CSRF, session cookie, throttling, audit, logout."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable

import httpx2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lemur.accounts.models import ApiToken, LoginFailure, WebSession
from lemur.app import create_app
from lemur.audit.models import AuditEvent
from lemur.clock import FrozenClock
from lemur.config import Settings
from lemur.container import Container, InitReport, build_container
from lemur.db import Base
from tests.api.conftest import World
from tests.conftest import FAST_HASHER
from tests.login_helpers import Logins

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
ADDRESS = "192.0.2.10"


def count(container: Container, model: type[Base]) -> int:
    with container.db.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def form_token(client: TestClient, path: str = "/login") -> str:
    r = client.get(path, follow_redirects=False)
    assert r.status_code == 200, r.text
    found = CSRF_FIELD.search(r.text)
    assert found, "the page has no csrf_token field"
    return found.group(1)


def post_login(client: TestClient, username: str, password: str) -> httpx2.Response:
    token = form_token(client)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def set_cookie(response: httpx2.Response, name: str) -> str | None:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header
    return None


def login_events(container: Container) -> list[AuditEvent]:
    with container.db.read() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == "auth.login").order_by(AuditEvent.seq)
            )
        )


# --- success ------------------------------------------------------------------------------


def test_login_sets_httponly_samesite_session_cookie_and_redirects(
    client: TestClient, world: World, container: Container
) -> None:
    r = post_login(client, "member", "member-password-123")
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    cookie = set_cookie(r, "lemur_session")
    assert cookie is not None
    attrs = [a.strip().lower() for a in cookie.split(";")]
    assert "httponly" in attrs
    assert "samesite=lax" in attrs
    assert "path=/" in attrs
    assert count(container, WebSession) == 1
    # The home page now shows who is signed in and their team.
    home = client.get("/")
    assert home.status_code == 200
    assert "member" in home.text
    assert "own" in home.text


def test_username_is_case_insensitive_and_trimmed(client: TestClient, world: World) -> None:
    r = post_login(client, "  Member ", "member-password-123")
    assert r.status_code == 303


# --- wrong credentials --------------------------------------------------------------------


def test_wrong_password_and_unknown_user_get_one_answer(
    client: TestClient, world: World, container: Container
) -> None:
    wrong = post_login(client, "member", "not-the-password")
    unknown = post_login(client, "nobody-here", "member-password-123")
    for r in (wrong, unknown):
        assert r.status_code == 401
        assert "wrong username or password" in r.text
        assert set_cookie(r, "lemur_session") is None
    assert count(container, WebSession) == 0
    events = login_events(container)
    assert [(e.outcome, json.loads(e.details)["reason"]) for e in events] == [
        ("failure", "wrong_password"),
        ("failure", "unknown_user"),
    ]
    assert {e.client_address for e in events} == {ADDRESS}
    assert [e.target_id for e in events] == ["member", "nobody-here"]


def test_success_is_audited_with_client_address(
    client: TestClient, world: World, container: Container
) -> None:
    assert post_login(client, "member", "member-password-123").status_code == 303
    [event] = login_events(container)
    assert event.outcome == "success"
    assert event.client_address == ADDRESS
    assert event.target_type == "user"
    assert event.target_id == str(world.user_ids["member"])
    assert event.actor == "user:member"


def test_disabled_user_is_refused(client: TestClient, world: World, container: Container) -> None:
    r = client.patch(
        f"/api/v1/users/{world.user_ids['member']}",
        json={"disabled": True},
        headers=world.headers("admin2"),
    )
    assert r.status_code == 200, r.text
    r = post_login(client, "member", "member-password-123")
    assert r.status_code == 401
    assert "disabled" in r.text
    assert set_cookie(r, "lemur_session") is None
    assert count(container, WebSession) == 0
    [event] = login_events(container)
    assert event.outcome == "failure"
    assert json.loads(event.details) == {"reason": "disabled"}


# --- CSRF ---------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "0" * 64])
def test_login_without_valid_csrf_token_is_forbidden(
    client: TestClient, world: World, container: Container, token: str | None
) -> None:
    form_token(client)  # the pre-session cookie is there; the field is missing or wrong
    data = {"username": "member", "password": "member-password-123"}
    if token is not None:
        data["csrf_token"] = token
    r = client.post("/login", data=data, follow_redirects=False)
    assert r.status_code == 403
    assert "security token" in r.text
    assert set_cookie(r, "lemur_session") is None
    assert count(container, WebSession) == 0
    assert count(container, LoginFailure) == 0
    assert login_events(container) == []


def test_login_csrf_token_is_bound_to_the_pre_session_cookie(
    client: TestClient, world: World, container: Container, app_for: Callable[[str], TestClient]
) -> None:
    stolen = form_token(client)  # a token from another browser
    victim: TestClient = app_for(ADDRESS)
    form_token(victim)
    r = victim.post(
        "/login",
        data={"username": "member", "password": "member-password-123", "csrf_token": stolen},
        follow_redirects=False,
    )
    assert r.status_code == 403
    # Without any pre-session cookie the form post is refused too.
    fresh: TestClient = app_for(ADDRESS)
    r = fresh.post(
        "/login",
        data={"username": "member", "password": "member-password-123", "csrf_token": stolen},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert count(container, WebSession) == 0
    assert count(container, LoginFailure) == 0


# --- throttling ---------------------------------------------------------------------------


def test_throttle_per_account_refuses_even_the_right_password_then_lifts(
    client: TestClient, world: World, container: Container, clock: FrozenClock
) -> None:
    for _ in range(3):
        assert post_login(client, "member", "wrong-password-x").status_code == 401
    r = post_login(client, "member", "member-password-123")
    assert r.status_code == 429
    assert "too many failed logins" in r.text
    retry = int(r.headers["retry-after"])
    assert 1 <= retry <= 901
    assert set_cookie(r, "lemur_session") is None
    assert count(container, WebSession) == 0
    # The refused attempt is audited but does not extend the lock-out.
    assert count(container, LoginFailure) == 3
    last = login_events(container)[-1]
    assert last.outcome == "failure"
    assert json.loads(last.details) == {"reason": "throttled"}
    assert last.client_address == ADDRESS
    # Other accounts from the same address are not affected by this account's limit.
    assert post_login(client, "reader", "reader-password-123").status_code == 303
    client.cookies.clear()
    clock.advance(dt.timedelta(seconds=retry))
    r = post_login(client, "member", "member-password-123")
    assert r.status_code == 303
    # A successful login clears the account's failures.
    assert count(container, LoginFailure) == 0


def test_throttle_window_slides(
    client: TestClient, world: World, container: Container, clock: FrozenClock
) -> None:
    assert post_login(client, "member", "wrong-password-x").status_code == 401
    clock.advance(dt.timedelta(minutes=10))
    for _ in range(2):
        assert post_login(client, "member", "wrong-password-x").status_code == 401
    assert post_login(client, "member", "member-password-123").status_code == 429
    # After the first failure leaves the 15-minute window, two remain: below the limit.
    clock.advance(dt.timedelta(minutes=5, seconds=1))
    assert post_login(client, "member", "member-password-123").status_code == 303


def test_throttle_per_address_across_usernames(
    world: World, container: Container, app_for: Callable[[str], TestClient]
) -> None:
    attacker: TestClient = app_for("198.51.100.7")
    for name in ("admin", "admin2", "security", "outsider", "reader", "ghost"):
        assert post_login(attacker, name, "guess-password-1").status_code == 401
    r = post_login(attacker, "member", "member-password-123")
    assert r.status_code == 429
    assert "your address" in r.text
    assert int(r.headers["retry-after"]) >= 1
    # The same account from another address is fine: the limit was the address's.
    other: TestClient = app_for("203.0.113.9")
    assert post_login(other, "member", "member-password-123").status_code == 303
    assert count(container, LoginFailure) == 6


def test_throttle_holds_across_server_processes(
    client: TestClient,
    world: World,
    container: Container,
    settings: Settings,
    clock: FrozenClock,
) -> None:
    for _ in range(3):
        assert post_login(client, "member", "wrong-password-x").status_code == 401
    second = build_container(settings, init=False, clock=clock, hasher=FAST_HASHER)
    try:
        # The same client (address) on the other process.
        with TestClient(create_app(second), client=(ADDRESS, 1234)) as other:
            r = post_login(other, "member", "member-password-123")
            assert r.status_code == 429
            assert "retry-after" in r.headers
    finally:
        second.close()
    assert count(container, WebSession) == 0


# --- sessions -----------------------------------------------------------------------------


def test_session_expires(
    client: TestClient, world: World, container: Container, clock: FrozenClock
) -> None:
    assert post_login(client, "member", "member-password-123").status_code == 303
    assert client.get("/api/v1/me").status_code == 200
    clock.advance(dt.timedelta(minutes=container.settings.session_lifetime_minutes, seconds=1))
    r = client.get("/api/v1/me")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "session_expired"
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login"


def test_session_cookie_on_the_api_needs_csrf_header_for_writes(
    client: TestClient, world: World, container: Container
) -> None:
    assert post_login(client, "member", "member-password-123").status_code == 303
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["username"] == "member"
    tokens_before = count(container, ApiToken)
    body = {"name": "from-browser", "scope": "read", "expires_in_days": 7}
    r = client.post("/api/v1/tokens", json=body)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "csrf_failed"
    r = client.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": "f" * 64})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "csrf_failed"
    assert count(container, ApiToken) == tokens_before
    csrf = form_token(client, "/")  # the token the signed-in page carries
    r = client.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "from-browser"
    assert count(container, ApiToken) == tokens_before + 1


def test_logout_deletes_the_session(client: TestClient, world: World, container: Container) -> None:
    assert post_login(client, "member", "member-password-123").status_code == 303
    cookie = client.cookies.get("lemur_session")
    assert cookie
    csrf = form_token(client, "/")
    # Without the CSRF token the logout form is refused and the session stays.
    r = client.post("/logout", data={}, follow_redirects=False)
    assert r.status_code == 403
    assert count(container, WebSession) == 1
    r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    assert count(container, WebSession) == 0
    # The old cookie, replayed, no longer works.
    client.cookies.clear()
    r = client.get("/api/v1/me", headers={"Cookie": f"lemur_session={cookie}"})
    assert r.status_code == 401
    with container.db.read() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "auth.logout")
            )
            == 1
        )


def test_admin_with_one_time_password_is_sent_to_change_it(
    client: TestClient, container: Container, init_report: InitReport
) -> None:
    password = init_report.admin_password
    assert password
    r = post_login(client, "admin", password)
    assert r.status_code == 303
    assert r.headers["location"] == "/password"


def test_concurrent_guesses_cannot_exceed_the_limits(container: Container, world: World) -> None:
    """Simultaneous wrong passwords: from one address only the first three (the limit in
    the test settings) get their password checked; from forty addresses, thirty (the
    ceiling for unknown clients). The rest are throttled."""
    from concurrent.futures import ThreadPoolExecutor

    from lemur.accounts.login import ACCOUNT_CEILING, ThrottlePolicy
    from lemur.errors import AuthenticationRequired, TooManyRequests

    service = Logins(
        container, ThrottlePolicy(3, 100, dt.timedelta(minutes=15)), hasher=FAST_HASHER
    )

    def attempt(username: str, address: str) -> str:
        try:
            service.login(username, "guess", client_address=address)
        except TooManyRequests:
            return "throttled"
        except AuthenticationRequired:
            return "checked"
        return "logged-in"

    with ThreadPoolExecutor(max_workers=12) as pool:
        one = list(pool.map(attempt, ["member"] * 12, ["198.51.100.1"] * 12))
        many = list(pool.map(attempt, ["reader"] * 40, [f"203.0.113.{i}" for i in range(40)]))
    assert one.count("checked") == 3, one
    assert one.count("throttled") == 9
    assert many.count("checked") == 3 * ACCOUNT_CEILING, many
    assert many.count("throttled") == 40 - 3 * ACCOUNT_CEILING
    wrong = [
        e
        for e in login_events(container)
        if json.loads(e.details).get("reason") == "wrong_password"
    ]
    assert len(wrong) == 3 + 3 * ACCOUNT_CEILING
