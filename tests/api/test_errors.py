"""The API's failure contract: one envelope, stable codes, a body size limit, no leaks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from lemur.accounts.models import Team, User
from lemur.app import create_app
from lemur.container import Container
from tests.api.conftest import World


def assert_envelope(
    r: httpx.Response, status: int, code: str, field: str | None = None
) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "field"}, body
    assert body["error"]["code"] == code, body
    assert body["error"]["field"] == field, body
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return dict(body["error"])


def count(container: Container, model: type[Any]) -> int:
    with container.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_unknown_route_is_404_route_not_found(client: TestClient, world: World) -> None:
    for path in ("/api/v1/nothing-here", "/api/v2/users", "/api/v1/users/1/nope"):
        err = assert_envelope(
            client.get(path, headers=world.headers("admin2")), 404, "route_not_found"
        )
        assert "openapi.json" in err["message"]
    # without credentials too: the route does not exist whoever asks
    assert_envelope(client.get("/api/v1/nothing-here"), 404, "route_not_found")


def test_wrong_method_is_405_with_allow_header(client: TestClient, world: World) -> None:
    r = client.put("/api/v1/users", headers=world.headers("admin2"), json={})
    assert_envelope(r, 405, "method_not_allowed")
    assert set(r.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    r = client.delete("/api/v1/me", headers=world.headers("member"))
    assert_envelope(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET"
    r = client.get("/api/v1/users/1/reset-password", headers=world.headers("admin2"))
    assert_envelope(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "POST"


def test_invalid_json_is_422_invalid_json_and_writes_nothing(
    client: TestClient, world: World, container: Container
) -> None:
    before = count(container, User)
    r = client.post(
        "/api/v1/users",
        headers={**world.headers("admin2"), "Content-Type": "application/json"},
        content=b'{"username": "alice",',
    )
    assert_envelope(r, 422, "invalid_json")
    assert count(container, User) == before


def test_unknown_field_names_the_field(
    client: TestClient, world: World, container: Container
) -> None:
    before = count(container, User)
    r = client.post(
        "/api/v1/users", headers=world.headers("admin2"), json={"username": "alice", "rol": "admin"}
    )
    err = assert_envelope(r, 422, "unknown_field", "rol")
    assert "rol" in err["message"]
    assert count(container, User) == before

    # a misspelt required field is reported as the unknown field, not as the missing one
    r = client.post("/api/v1/users", headers=world.headers("admin2"), json={"usernam": "alice"})
    assert_envelope(r, 422, "unknown_field", "usernam")
    assert count(container, User) == before

    before_teams = count(container, Team)
    r = client.post(
        "/api/v1/teams", headers=world.headers("admin2"), json={"name": "ops", "owner": "x"}
    )
    assert_envelope(r, 422, "unknown_field", "owner")
    assert count(container, Team) == before_teams


def test_missing_field_names_the_field(
    client: TestClient, world: World, container: Container
) -> None:
    before = count(container, User)
    r = client.post("/api/v1/users", headers=world.headers("admin2"), json={"role": "member"})
    err = assert_envelope(r, 422, "missing_field", "username")
    assert "username" in err["message"]
    assert count(container, User) == before


def test_wrong_type_names_the_field(client: TestClient, world: World, container: Container) -> None:
    before = count(container, User)
    r = client.post("/api/v1/users", headers=world.headers("admin2"), json={"username": 42})
    assert_envelope(r, 422, "validation_error", "username")
    r = client.post(
        "/api/v1/users", headers=world.headers("admin2"), json={"username": "bob", "role": "root"}
    )
    assert_envelope(r, 422, "validation_error", "role")
    assert count(container, User) == before
    # a body that is JSON but not an object
    r = client.post("/api/v1/users", headers=world.headers("admin2"), json=["bob"])
    assert r.status_code == 422
    assert r.json()["error"]["code"] in {"invalid_body", "validation_error"}
    assert count(container, User) == before
    # a path parameter of the wrong type
    assert_envelope(
        client.get("/api/v1/users/abc", headers=world.headers("admin2")),
        422,
        "validation_error",
        "user_id",
    )


def test_body_over_the_limit_with_content_length_is_413(
    client: TestClient, world: World, container: Container
) -> None:
    limit = container.settings.max_body_bytes
    before = count(container, User)
    payload = json.dumps({"username": "big", "display_name": "x" * limit}).encode()
    assert len(payload) > limit
    r = client.post(
        "/api/v1/users",
        headers={**world.headers("admin2"), "Content-Type": "application/json"},
        content=payload,
    )
    err = assert_envelope(r, 413, "payload_too_large")
    assert str(limit) in err["message"]
    assert count(container, User) == before


def test_chunked_body_over_the_limit_is_413(
    client: TestClient, world: World, container: Container
) -> None:
    limit = container.settings.max_body_bytes
    before = count(container, User)
    chunk = b"x" * 65536

    def body() -> Iterator[bytes]:
        yield b'{"username": "big", "display_name": "'
        for _ in range(limit // len(chunk) + 2):
            yield chunk
        yield b'"}'

    r = client.post(
        "/api/v1/users",
        headers={**world.headers("admin2"), "Content-Type": "application/json"},
        content=body(),
    )
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert_envelope(r, 413, "payload_too_large")
    assert count(container, User) == before


def test_chunked_body_under_the_limit_is_accepted(client: TestClient, world: World) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"username": '
        yield b'"chunky"}'

    r = client.post(
        "/api/v1/users",
        headers={**world.headers("admin2"), "Content-Type": "application/json"},
        content=body(),
    )
    assert r.status_code == 201, r.text
    assert r.json()["username"] == "chunky"


def test_openapi_document_is_served_and_lists_the_routes(client: TestClient) -> None:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for path, method in (
        ("/api/v1/me", "get"),
        ("/api/v1/me/password", "post"),
        ("/api/v1/users", "post"),
        ("/api/v1/users/{user_id}", "patch"),
        ("/api/v1/users/{user_id}/reset-password", "post"),
        ("/api/v1/teams/{team_id}/members", "post"),
        ("/api/v1/teams/{team_id}/members/{user_id}", "delete"),
        ("/api/v1/tokens", "post"),
        ("/api/v1/tokens/{token_id}", "delete"),
        ("/api/v1/audit-events", "get"),
        ("/api/v1/audit-events/verification", "get"),
    ):
        assert method in paths[path], (path, method)
    # the UI pages are not part of the API document
    assert "/login" not in paths


SECRET = "hunter2-database-password"


def test_unexpected_exception_is_500_without_traceback_or_secret(container: Container) -> None:
    app = create_app(container)

    def explode() -> None:
        raise RuntimeError(f"connection to postgresql://lemur:{SECRET}@db failed")

    app.add_api_route("/api/v1/explode", explode, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False, client=("192.0.2.10", 50000)) as c:
        r = c.get("/api/v1/explode")
    assert_envelope(r, 500, "internal_error")
    assert SECRET not in r.text
    assert "Traceback" not in r.text
    assert "RuntimeError" not in r.text


# SQLite only: every test gets its own database file, so dropping a table harms no other test.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_database_failure_is_500_internal_error_without_sql(
    container: Container, world: World
) -> None:
    with container.db.write_engine.begin() as conn:
        conn.execute(text("DROP TABLE team_members"))
    with TestClient(create_app(container), raise_server_exceptions=False) as c:
        r = c.get("/api/v1/teams", headers=world.headers("member"))
    assert_envelope(r, 500, "internal_error")
    assert "team_members" not in r.text
    assert "SELECT" not in r.text.upper()
    assert "Traceback" not in r.text


def test_every_error_has_exactly_the_envelope(client: TestClient, world: World) -> None:
    for method, path, body, status, code in (
        ("GET", "/api/v1/users/999999", None, 404, "user_not_found"),
        ("GET", "/api/v1/teams/999999", None, 404, "team_not_found"),
        ("POST", "/api/v1/users", {"username": "member"}, 409, "user_exists"),
        ("GET", "/api/v1/audit-events?since=2026-01-01T00:00:00", None, 422, "naive_datetime"),
        ("GET", "/api/v1/audit-events?limit=0", None, 422, "validation_error"),
        ("DELETE", "/api/v1/tokens/999999", None, 404, "token_not_found"),
        ("GET", "/api/v1/users", None, 403, "permission_denied"),
    ):
        who = "member" if status == 403 else "admin2"
        r = client.request(method, path, headers=world.headers(who), json=body)
        assert r.status_code == status, r.text
        assert set(r.json()) == {"error"}
        assert set(r.json()["error"]) == {"code", "message", "field"}
        assert r.json()["error"]["code"] == code


def test_authentication_errors_use_the_envelope(client: TestClient) -> None:
    assert_envelope(client.get("/api/v1/me"), 401, "authentication_required")
    assert_envelope(
        client.get("/api/v1/me", headers={"Authorization": "Basic abc"}),
        401,
        "unsupported_auth_scheme",
    )
    assert_envelope(
        client.get("/api/v1/me", headers={"Authorization": "Bearer nope"}), 401, "token_malformed"
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/users/{big}", None),
        ("GET", "/api/v1/teams/{big}", None),
        ("DELETE", "/api/v1/tokens/{big}", None),
        ("GET", "/api/v1/authorities/{big}", None),
        ("GET", "/api/v1/certificates/{big}", None),
        ("GET", "/api/v1/certificates?team_id={big}", None),
        ("POST", "/api/v1/certificates", {"team_id": "{big}", "authority_id": 1}),
        (
            "POST",
            "/api/v1/authorities",
            {"name": "x", "subject": {"common_name": "x"}, "parent_id": "{big}"},
        ),
    ],
)
def test_ids_beyond_the_database_range_are_invalid_input_not_server_errors(
    client: TestClient, world: World, method: str, path: str, body: dict[str, object] | None
) -> None:
    big = 2**40
    url = path.format(big=big)
    json_body = {k: big if v == "{big}" else v for k, v in body.items()} if body else None
    r = client.request(method, url, json=json_body, headers=world.headers("admin2"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
