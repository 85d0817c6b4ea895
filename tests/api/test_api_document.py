"""The API document: every status a route answers is documented, with the error envelope.

The walk below provokes, on every operation of the document, the errors any caller can
cause (no credentials, a read-only token, an id that names nothing, an id of the wrong
type, a body over the limit, a body that is not text, a body of the wrong shape) and checks
that each answer's status is among those the document lists for the operation, and that
each error answer is the envelope.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from lemur.accounts.models import TokenScope
from lemur.ids import MAX_ID
from tests.api.conftest import World

ENVELOPE_REF = "#/components/schemas/ErrorEnvelope"
METHODS = {"get", "post", "put", "patch", "delete"}


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def documented(self) -> set[int]:
        return {int(status) for status in self.spec["responses"]}

    @property
    def has_json_body(self) -> bool:
        content = self.spec.get("requestBody", {}).get("content", {})
        return "application/json" in content

    def url(self, value: object) -> str:
        return re.sub(r"\{[^}]+\}", str(value), self.path)


def operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, item in document["paths"].items():
        for method, spec in item.items():
            if method in METHODS:
                yield Operation(method.upper(), path, spec)


def assert_documented(op: Operation, r: Response, why: str) -> None:
    assert r.status_code in op.documented, (
        f"{op.method} {op.path} ({why}) answered {r.status_code}, "
        f"documented {sorted(op.documented)}: {r.text[:300]}"
    )
    if r.status_code >= 400 and r.headers.get("content-type", "").startswith("application/json"):
        body = r.json()
        if op.path != "/ready":
            assert set(body) == {"error"}, body
            assert set(body["error"]) == {"code", "message", "field"}, body


def test_every_error_answer_references_the_one_envelope(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert "ValidationError" not in schemas
    assert schemas["ErrorEnvelope"]["required"] == ["error"]
    assert set(schemas["ErrorDetail"]["required"]) == {"code", "message", "field"}
    for op in operations(document):
        for status, answer in op.spec["responses"].items():
            if int(status) < 400 or (op.path == "/ready" and status == "503"):
                continue
            refs = {c["schema"].get("$ref") for c in answer["content"].values()}
            assert refs == {ENVELOPE_REF}, (op.method, op.path, status)


def test_kinds_of_routes_document_their_common_statuses(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for op in operations(document):
        assert 431 in op.documented, op
        # /metrics: outside /api/v1 where scrapers expect it, authenticated all the same
        if op.path.startswith("/api/v1/") or op.path == "/metrics":
            assert {401, 403, 503, 507} <= op.documented, op
            assert op.spec["security"] == [{"bearerAuth": []}], op
        else:
            assert "security" not in op.spec, op
        if "{" in op.path:
            assert 422 in op.documented, op
        if op.has_json_body:
            assert {413, 422} <= op.documented, op


@pytest.fixture
def read_only_headers(world: World) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.add_token('admin2', scope=TokenScope.READ)}"}


def test_every_provoked_error_is_documented(
    client: TestClient, world: World, read_only_headers: dict[str, str]
) -> None:
    admin = world.headers("admin2")
    limit = world.container.settings.max_body_bytes
    seen: set[int] = set()
    for op in operations(client.get("/api/v1/openapi.json").json()):
        tried: list[tuple[str, Response]] = []

        def call(why: str, url: str, **kwargs: Any) -> None:
            r = client.request(op.method, url, **kwargs)  # noqa: B023
            tried.append((why, r))  # noqa: B023

        body = {"json": {}} if op.has_json_body else {}
        call("no credentials", op.url(1), **body)
        call("unknown token", op.url(1), headers={"Authorization": "Bearer lmr_0_x"}, **body)
        if op.method != "GET":
            call("read-only token", op.url(1), headers=read_only_headers, **body)
        if "{" in op.path:
            call("id that names nothing", op.url(MAX_ID), headers=admin, **body)
            call("id of the wrong type", op.url("abc"), headers=admin, **body)
            call("id out of range", op.url(MAX_ID + 1), headers=admin, **body)
        if op.has_json_body:
            call("empty object", op.url(1), headers=admin, json={})
            call("not an object", op.url(1), headers=admin, json=[1])
            call("unknown field", op.url(1), headers=admin, json={"no_such_field": 1})
            json_type = {**admin, "Content-Type": "application/json"}
            call("not JSON", op.url(1), headers=json_type, content=b'{"a":')
            call("not UTF-8", op.url(1), headers=json_type, content=b"\xff\xfe{")
            call("over the limit", op.url(1), headers=json_type, content=b" " * (limit + 1))
        for why, r in tried:
            assert_documented(op, r, why)
            seen.add(r.status_code)
    # The walk did provoke the statuses it is about.
    assert {401, 403, 404, 413, 422} <= seen
