"""Bad input: one text rule (lemur.text) for every string a request carries.

NUL in any string body field or query parameter was stored on SQLite and a 500 on
PostgreSQL; CR/LF reached certificate names and token names. These tests walk the OpenAPI
document (and, for fields it does not show, the application's routes) so that a new field
cannot escape the rule.
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Query
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from lemur.accounts.models import ApiToken, Team, User
from lemur.app import create_app
from lemur.authorities.models import Authority
from lemur.certificates.models import Certificate
from lemur.container import Container
from lemur.text import RULES
from tests.api.certs_helpers import issue_raw, issuing_ca, make_csr
from tests.api.conftest import World
from tests.api.test_errors import assert_envelope, count

# --- the rule covers every field --------------------------------------------------------------


def _rules_in(annotation: Any, metadata: list[Any]) -> set[Any]:
    found = {getattr(m, "func", None) for m in metadata} & RULES
    for arg in typing.get_args(annotation):
        if typing.get_origin(arg) is typing.Annotated or hasattr(arg, "__metadata__"):
            found |= {getattr(m, "func", None) for m in arg.__metadata__} & RULES
        found |= _rules_in(arg, [])
    return found


def _is_text(annotation: Any) -> bool:
    if annotation is str or annotation is SecretStr:
        return True
    return any(_is_text(arg) for arg in typing.get_args(annotation))


def _unchecked(info: FieldInfo, where: str) -> Iterator[str]:
    annotation = info.annotation
    if _is_text(annotation) and not _rules_in(annotation, list(info.metadata)):
        yield where
    for arg in (annotation, *typing.get_args(annotation)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            for name, sub in arg.model_fields.items():
                yield from _unchecked(sub, f"{where}.{name}")


def _params(dependant: Dependant) -> Iterator[Any]:
    """The request parameters of a route and of all its dependencies."""
    yield from dependant.query_params
    yield from dependant.body_params
    yield from dependant.header_params
    yield from dependant.cookie_params
    for sub in dependant.dependencies:
        yield from _params(sub)


def test_every_string_input_of_every_route_has_a_text_rule(container: Container) -> None:
    """Every str (or SecretStr) in a body model, query, form, header or cookie parameter
    is one of lemur.text's kinds; a new field without one fails here."""
    app = create_app(container)
    missing: list[str] = []
    checked = 0
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        for param in _params(route.dependant):
            checked += 1
            where = f"{sorted(route.methods)[0]} {context.path} {param.name}"
            missing += _unchecked(param.field_info, where)
    assert checked > 40
    assert missing == []


def test_the_walk_finds_a_field_without_a_rule(container: Container) -> None:
    """The check above is not vacuous: a plain ``str`` parameter is reported."""
    app = FastAPI()

    @app.get("/x")
    def x(q: str | None = Query(None)) -> None:
        return None

    route = next(r for r in app.routes if isinstance(r, APIRoute))
    (param,) = _params(route.dependant)
    assert list(_unchecked(param.field_info, "q")) == ["q"]


# --- NUL in every string field of every operation ---------------------------------------------


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _variants(doc: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(doc, schema)
    options = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return [_resolve(doc, o) for o in options if _resolve(doc, o).get("type") != "null"]


def _text_value(schema: dict[str, Any], char: str = "") -> str:
    """A value of the schema's length, holding ``char`` first when given."""
    if "enum" in schema and not char:
        return str(schema["enum"][0])
    size = max(schema.get("minLength", 1), 2)
    size = min(size, schema.get("maxLength", size))
    return (char + "a" * size)[:size] if char else "a" * size


def _sample(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A minimal value that passes the schema's shape (the service may still refuse it)."""
    (variant, *_rest) = _variants(doc, schema) or [{}]
    kind = variant.get("type")
    if kind == "object":
        required = variant.get("required", [])
        return {
            k: _sample(doc, v) for k, v in variant.get("properties", {}).items() if k in required
        }
    if kind == "array":
        return []
    if kind == "integer":
        return max(1, variant.get("minimum", 1))
    if kind == "boolean":
        return False
    if kind == "string":
        return _text_value(variant)
    return None


def _string_paths(
    doc: dict[str, Any], schema: dict[str, Any], path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """Every place in a body where a string goes, with the string's schema."""
    for variant in _variants(doc, schema):
        kind = variant.get("type")
        if kind == "string" and "enum" not in variant:
            yield path, variant
        elif kind == "object":
            for name, sub in variant.get("properties", {}).items():
                yield from _string_paths(doc, sub, (*path, name))
        elif kind == "array":
            yield from _string_paths(doc, variant.get("items", {}), (*path, 0))


def _with(
    body: Any, doc: dict[str, Any], schema: dict[str, Any], path: tuple[Any, ...], value: str
) -> Any:
    """``body`` with ``value`` placed at ``path``, creating the objects and lists on the way."""
    body = copy.deepcopy(body)
    node = body
    sub = schema
    for i, key in enumerate(path):
        (sub, *_rest) = _variants(doc, sub)
        last = i == len(path) - 1
        if isinstance(key, int):
            sub = sub.get("items", {})
            node.append(value if last else _sample(doc, sub))
            node = node[-1]
        else:
            sub = sub.get("properties", {}).get(key, {})
            if last:
                node[key] = value
            else:
                node.setdefault(
                    key, _sample(doc, sub) if _variants(doc, sub)[0].get("type") == "object" else []
                )
                node = node[key]
    return body


def _field_name(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _cases(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, str], Any, str, bool]]:
    """(method, url, query, body, field, free_text) for each string input of each operation."""
    for path, item in doc["paths"].items():
        url = path
        for name in ("user_id", "team_id", "token_id", "certificate_id", "authority_id"):
            url = url.replace("{" + name + "}", "1")
        for method, op in item.items():
            for param in op.get("parameters", []):
                if param["in"] != "query":
                    continue
                for variant in _variants(doc, param["schema"]):
                    if variant.get("type") == "string" and variant.get("format") != "date-time":
                        free = "enum" not in variant and "pattern" not in variant
                        yield (
                            method,
                            url,
                            {param["name"]: _text_value(variant, "\x00")},
                            None,
                            param["name"],
                            free,
                        )
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            schema = content["application/json"]["schema"]
            base = _sample(doc, schema)
            for where, sub in _string_paths(doc, schema):
                body = _with(base, doc, schema, where, _text_value(sub, "\x00"))
                yield method, url, {}, body, _field_name(where), "pattern" not in sub


TABLES = (User, Team, ApiToken, Authority, Certificate)


def test_nul_in_every_string_field_and_query_parameter_is_422_with_the_field(
    client: TestClient, world: World, container: Container
) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    before = {t.__name__: count(container, t) for t in TABLES}
    cases = list(_cases(doc))
    fields = {field for *_, field, _free in cases}
    # the fields of issue 8, as a check that the walk reaches them
    assert {
        "name",
        "name_contains",
        "issuer",
        "key_type",
        "actor",
        "action",
        "target_type",
        "target_id",
        "display_name",
        "email",
        "description",
        "username",
        "subject.common_name",
        "subject.organization",
        "common_name",
        "subject_alternative_names.dns_names[0]",
        "certificate",
        "private_key",
        "passphrase",
    } <= fields
    assert len(cases) > 40
    for method, url, query, body, field, free in cases:
        r = client.request(method, url, params=query, json=body, headers=world.headers("admin2"))
        where = f"{method.upper()} {url} {field}"
        assert r.status_code == 422, (where, r.text)
        error = r.json()["error"]
        assert error["field"] == field, (where, error)
        if free:
            assert error["code"] == "invalid_character", (where, error)
            assert "U+0000" in error["message"], (where, error)
    assert {t.__name__: count(container, t) for t in TABLES} == before


def test_nul_in_the_login_form_username_is_422_without_logging_in(
    client: TestClient, container: Container
) -> None:
    page = client.get("/login")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = client.post(
        "/login", data={"username": "adm\x00in", "password": "whatever", "csrf_token": token}
    )
    assert_envelope(r, 422, "invalid_character", "username")


# --- control characters in single-line fields -------------------------------------------------


@pytest.mark.parametrize("char", ["\r\n", "\n", "\r", "\t", "\x1b", "\x7f", "\x85", "\x9b"])
def test_control_characters_in_a_client_certificate_common_name_are_refused(
    client: TestClient, world: World, container: Container, char: str
) -> None:
    before = count(container, Certificate)
    r = issue_raw(
        client,
        world,
        profile="client",
        common_name=f"x{char}Set-Cookie: evil=1",
        dns_names=(),
        subject_alternative_names={"emails": ["x@example.com"]},
    )
    err = assert_envelope(r, 422, "invalid_character", "common_name")
    assert "position 1" in err["message"]
    assert count(container, Certificate) == before


@pytest.mark.parametrize("char", ["\r\n", "\n", "\x00", "\x1f", "\x9f"])
def test_control_characters_in_a_token_name_are_refused(
    client: TestClient, world: World, container: Container, char: str
) -> None:
    before = count(container, ApiToken)
    r = client.post(
        "/api/v1/tokens",
        json={"name": f"ci{char}deploy", "expires_in_days": 30},
        headers=world.headers("member"),
    )
    assert_envelope(r, 422, "invalid_character", "name")
    assert count(container, ApiToken) == before


def test_a_lone_surrogate_is_refused_not_a_server_error(
    client: TestClient, world: World, container: Container
) -> None:
    before = count(container, Team)
    r = client.post(
        "/api/v1/teams",
        content=b'{"name": "ops", "description": "bad \\ud800 half"}',
        headers={**world.headers("admin2"), "Content-Type": "application/json"},
    )
    assert_envelope(r, 422, "invalid_character", "description")
    assert count(container, Team) == before


def test_descriptions_keep_lf_and_tab_but_refuse_cr_and_other_controls(
    client: TestClient, world: World, container: Container
) -> None:
    r = client.post(
        "/api/v1/teams",
        json={"name": "ops", "description": "line one\n\tline two"},
        headers=world.headers("admin2"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["description"] == "line one\n\tline two"
    for bad in ("a\r\nb", "a\x0bb", "a\x00b"):
        r = client.post(
            "/api/v1/teams",
            json={"name": "ops2", "description": bad},
            headers=world.headers("admin2"),
        )
        assert_envelope(r, 422, "invalid_character", "description")


def test_pem_with_crlf_line_breaks_is_accepted(client: TestClient, world: World) -> None:
    ca = issuing_ca(client, world)
    r = client.get(f"/api/v1/authorities/{ca['id']}", headers=world.headers("admin2"))
    pem = r.json()["certificate_pem"].replace("\n", "\r\n")
    r = client.post(
        "/api/v1/authorities/import",
        json={"name": "crlf-ca", "certificate": pem},
        headers=world.headers("admin2"),
    )
    # the same certificate as an existing authority: refused for that, not for its CRs
    assert r.json()["error"]["code"] != "invalid_character", r.text


def test_secrets_are_never_quoted_in_the_message(client: TestClient, world: World) -> None:
    r = client.post(
        "/api/v1/me/password",
        json={"current_password": "member-password-123", "new_password": "s3cret\x07passw0rd!"},
        headers=world.headers("member"),
    )
    err = assert_envelope(r, 422, "invalid_character", "new_password")
    assert "s3cret" not in err["message"]
    assert "position" not in err["message"]


# --- the safety net at the edge ---------------------------------------------------------------


def _echo(q: str | None = Query(None)) -> dict[str, str | None]:
    return {"q": q}


class Loose(BaseModel):
    options: dict[str, Any]


def _loose(body: Loose) -> dict[str, Any]:
    return body.options


def test_the_edge_refuses_nul_where_a_route_forgot_the_rule(container: Container) -> None:
    """Routes declared without the text rule (a plain str, a free-form dict) still never
    see a NUL."""
    app = create_app(container)
    app.add_api_route("/api/v1/echo", _echo, methods=["GET"])
    app.add_api_route("/api/v1/loose", _loose, methods=["POST"])
    with TestClient(app) as c:
        assert c.get("/api/v1/echo", params={"q": "fine"}).json() == {"q": "fine"}
        assert_envelope(
            c.get("/api/v1/echo", params={"q": "a\x00b"}), 422, "invalid_character", "q"
        )
        r = c.post("/api/v1/loose", json={"options": {"hosts": ["ok", "b\x00d"]}})
        assert_envelope(r, 422, "invalid_character", "options.hosts[1]")
        # an escaped backslash followed by u0000 is not a NUL
        r = c.post("/api/v1/loose", json={"options": {"path": "C:\\u0000"}})
        assert r.status_code == 200, r.text
        assert r.json() == {"path": "C:\\u0000"}


# --- integers have a documented maximum ---------------------------------------------------------


def _integers(
    doc: dict[str, Any], schema: dict[str, Any], path: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    for variant in _variants(doc, schema):
        kind = variant.get("type")
        if kind == "integer":
            yield path, variant
        elif kind == "object":
            for name, sub in variant.get("properties", {}).items():
                yield from _integers(doc, sub, f"{path}.{name}" if path else name)
        elif kind == "array":
            yield from _integers(doc, variant.get("items", {}), f"{path}[]")


def test_every_integer_input_has_a_maximum(client: TestClient) -> None:
    """A number beyond what a date or a column can hold is refused by the schema (422)."""
    doc = client.get("/api/v1/openapi.json").json()
    unbounded = []
    for path, item in doc["paths"].items():
        if path.startswith("/ocsp/"):
            continue  # RFC 6960: every answer is an OCSP response; the id is range-checked
        for method, op in item.items():
            found = [(p["name"], p["schema"]) for p in op.get("parameters", [])]
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                found += _integers(doc, content["application/json"]["schema"], "")
            for name, schema in found:
                for where, variant in _integers(doc, schema, name):
                    if "maximum" not in variant:
                        unbounded.append(f"{method.upper()} {path} {where}")
    assert unbounded == []


@pytest.mark.parametrize("days", [1406017111, 2**63, 10**30, 0, -1])
def test_a_huge_token_lifetime_is_422_not_a_server_error(
    client: TestClient, world: World, container: Container, days: int
) -> None:
    before = count(container, ApiToken)
    r = client.post(
        "/api/v1/tokens",
        json={"name": "ci", "expires_in_days": days},
        headers=world.headers("member"),
    )
    err = assert_envelope(r, 422, "validation_error", "expires_in_days")
    assert "3650" in err["message"] or "1" in err["message"]
    assert count(container, ApiToken) == before


def test_a_csr_whose_common_name_holds_a_line_break_is_refused(
    client: TestClient, world: World, container: Container
) -> None:
    before = count(container, Certificate)
    csr = make_csr(common_name="x\r\nSet-Cookie: evil=1", dns_names=())
    r = issue_raw(client, world, profile="client", csr=csr, dns_names=())
    assert_envelope(r, 422, "invalid_character", "common_name")
    assert count(container, Certificate) == before
