"""Malformed request bodies get one answer: 422 ``invalid_json``, a message saying what is
wrong (and that the body must be JSON sent as application/json), never the body itself.

Invalid UTF-8 and deeply nested JSON used to be 400 ``http_400``, other malformed JSON 422
``invalid_json``; a body without ``Content-Type: application/json`` got "Input should be a
valid dictionary"."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from lemur.accounts.models import ApiToken, Team, User
from lemur.container import Container
from tests.api.conftest import World
from tests.api.test_errors import assert_envelope, count

SECRET = "hunter2-correct-horse"
JSON = {"Content-Type": "application/json"}

MALFORMED: dict[str, tuple[bytes, dict[str, str], str]] = {
    # name: (body, headers, what the message must say)
    "invalid utf-8": (b'{"name": "caf\xe9 \xff"}', JSON, "UTF-8"),
    "nested too deeply": (b"[" * 100_000 + b"]" * 100_000, JSON, "nested too deeply"),
    "syntax error": (f'{{"password": "{SECRET}",'.encode(), JSON, "not valid JSON"),
    "a number with too many digits": (
        b'{"expires_in_days": 1' + b"0" * 5000 + b"}",
        JSON,
        "digits",
    ),
    "empty": (b"", JSON, "empty"),
    "no content type": (b'{"name": "ci"}', {}, "Content-Type: application/json"),
    "form encoded (curl -d)": (
        b'{"name": "ci"}',
        {"Content-Type": "application/x-www-form-urlencoded"},
        "Content-Type: application/json",
    ),
    "text/plain": (
        b'{"name": "ci"}',
        {"Content-Type": "text/plain"},
        "Content-Type: application/json",
    ),
}


def _json_operations(client: TestClient) -> Iterator[tuple[str, str]]:
    doc = client.get("/api/v1/openapi.json").json()
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if "application/json" in op.get("requestBody", {}).get("content", {}):
                url = path
                for name in (
                    "user_id",
                    "team_id",
                    "certificate_id",
                    "authority_id",
                    "channel_id",
                    "rule_id",
                    "destination_id",
                    "endpoint_id",
                ):
                    url = url.replace("{" + name + "}", "1")
                yield method, url


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_every_malformed_body_is_422_invalid_json_on_every_route(
    client: TestClient, world: World, container: Container, kind: str
) -> None:
    body, headers, says = MALFORMED[kind]
    before = [count(container, t) for t in (User, Team, ApiToken)]
    operations = list(_json_operations(client))
    assert len(operations) >= 10
    for method, url in operations:
        r = client.request(
            method, url, content=body, headers={**world.headers("admin2"), **headers}
        )
        err = assert_envelope(r, 422, "invalid_json")
        assert says in err["message"], (method, url, err)
        assert "application/json" in err["message"], (method, url, err)
        assert SECRET not in r.text
        assert "\\xff" not in err["message"]
    assert [count(container, t) for t in (User, Team, ApiToken)] == before


def test_a_json_array_is_invalid_body_with_a_message_saying_an_object_is_needed(
    client: TestClient, world: World
) -> None:
    r = client.post("/api/v1/tokens", json=["ci"], headers=world.headers("member"))
    err = assert_envelope(r, 422, "invalid_body")
    assert "JSON object" in err["message"]


def test_json_syntax_errors_say_where(client: TestClient, world: World) -> None:
    r = client.post(
        "/api/v1/tokens",
        content=b'{"name": "ci" "scope": "read"}',
        headers={**world.headers("member"), **JSON},
    )
    err = assert_envelope(r, 422, "invalid_json")
    assert "delimiter" in err["message"]
    assert "at character 14" in err["message"]
