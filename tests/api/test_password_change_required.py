"""A session made with a one-time password reaches only the password change (and logout and
static files) until the password is changed: every other route, API or page, refuses it."""

from __future__ import annotations

import re

from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from lemur.app import create_app
from lemur.container import Container, InitReport
from tests.api.conftest import World
from tests.api.test_login import form_token, post_login

NEW_PASSWORD = "a-new-password-Heron-58"
# Reachable with the session: the password change itself, and logout.
ALLOWED = {("POST", "/api/v1/me/password"), ("GET", "/password"), ("POST", "/password")}
ALLOWED |= {("POST", "/logout")}


def every_route(container: Container) -> list[tuple[str, str]]:
    """(method, concrete path) for every route of the app, path parameters filled in."""
    out = []
    for route in iter_route_contexts(create_app(container).routes):
        if route.path is None:
            continue
        if not route.methods:  # the static files mount
            out.append(("GET", f"{route.path}/lemur.css"))
            continue
        path = re.sub(r"\{[^}:]+(:path)?\}", "1", route.path)
        for method in sorted(route.methods - {"HEAD"}):
            out.append((method, path))
    return out


def sign_in_with_one_time_password(client: TestClient, password: str) -> str:
    r = post_login(client, "admin", password)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/password"
    return form_token(client, "/password")


def test_one_time_password_session_reaches_only_the_password_change(
    client: TestClient, world: World, container: Container, init_report: InitReport
) -> None:
    assert init_report.admin_password
    csrf = sign_in_with_one_time_password(client, init_report.admin_password)
    routes = every_route(container)
    assert len(routes) > 30, routes
    refused = 0
    with TestClient(create_app(container), client=("192.0.2.10", 50000)) as anonymous:
        for method, path in routes:
            if (method, path) in ALLOWED:
                continue
            r = client.request(
                method, path, headers={"X-CSRF-Token": csrf}, json={}, follow_redirects=False
            )
            if path.startswith("/api/") or path == "/metrics":  # JSON answers
                if r.status_code == 403 and r.json()["error"]["code"] == "password_change_required":
                    refused += 1
                    continue
            elif r.status_code == 303 and r.headers["location"] == "/password":
                refused += 1
                continue
            # Otherwise the route must be one that does not look at the session at all:
            # anyone gets the same answer (health, CRL, OCSP, the API document, the login
            # form post, static files).
            bare = anonymous.request(method, path, json={}, follow_redirects=False)
            assert bare.status_code not in (401, 303), (method, path, r.status_code, r.text)
            assert r.status_code == bare.status_code, (method, path, r.text)
    assert refused > 25
    assert client.get("/api/v1/me").status_code == 403
    # The password change itself works, and then everything does.
    r = client.post(
        "/api/v1/me/password",
        json={"current_password": init_report.admin_password, "new_password": NEW_PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 204, r.text
    assert client.get("/api/v1/me").json()["username"] == "admin"
    assert client.get("/api/v1/users").status_code == 200
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 200


def test_password_page_works_and_logout_is_allowed(
    client: TestClient, world: World, container: Container, init_report: InitReport
) -> None:
    assert init_report.admin_password
    csrf = sign_in_with_one_time_password(client, init_report.admin_password)
    assert client.get("/", follow_redirects=False).headers["location"] == "/password"
    assert client.get("/login", follow_redirects=False).headers["location"] == "/password"
    r = client.post(
        "/password",
        data={
            "current_password": init_report.admin_password,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
            "csrf_token": csrf,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    home = client.get("/", follow_redirects=False)
    assert home.status_code == 200
    assert client.get("/api/v1/users").status_code == 200
    r = client.post("/logout", data={"csrf_token": form_token(client, "/")}, follow_redirects=False)
    assert r.headers["location"] == "/login"


def test_logout_works_before_the_password_change(
    client: TestClient, world: World, init_report: InitReport
) -> None:
    assert init_report.admin_password
    csrf = sign_in_with_one_time_password(client, init_report.admin_password)
    r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    assert client.get("/api/v1/me").status_code == 401
