"""GET /api/v1/plugins: installed plugins with option schemas, and load errors."""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from lemur.app import create_app
from lemur.catalog.api import router as catalog_router
from lemur.container import Container
from lemur.plugins.registry import Registry
from tests.api.conftest import World


def build_app(container: Container) -> FastAPI:
    app = create_app(container)
    if not any(getattr(r, "path", None) == "/api/v1/plugins" for r in app.routes):
        app.include_router(catalog_router)
    if getattr(app.state, "plugins", None) is None:
        app.state.plugins = Registry.load()
    return app


@pytest.fixture
def app(container: Container) -> FastAPI:
    return build_app(container)


@pytest.fixture
def api(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, client=("192.0.2.10", 50000)) as c:
        yield c


def test_any_logged_in_user_sees_the_installed_plugins(api: TestClient, world: World) -> None:
    bodies = []
    for who in ("member", "reader", "security", "admin2"):
        r = api.get("/api/v1/plugins", headers=world.headers(who))
        assert r.status_code == 200, (who, r.text)
        bodies.append(r.json())
    assert all(b == bodies[0] for b in bodies)
    body = bodies[0]
    assert body["errors"] == []
    plugins = {(p["kind"], p["slug"]): p for p in body["plugins"]}
    local = plugins[("issuer", "local-ca")]
    assert local["title"] == "Local CA"
    assert local["capabilities"] == ["revoke", "publish_crl", "create_authority"]
    assert local["options_schema"]["type"] == "object"
    assert local["options_schema"]["properties"] == {}
    assert local["distribution"].startswith("lemur ")
    for slug in ("pem-certificate", "pem-chain", "pem-bundle", "der-certificate", "pkcs7-bundle"):
        assert plugins[("exporter", slug)]["includes_private_key"] is False
    assert plugins[("exporter", "pkcs12")]["includes_private_key"] is True
    assert plugins[("exporter", "pkcs12")]["needs_passphrase"] is True
    assert plugins[("exporter", "pkcs8-key")]["needs_passphrase"] is False
    assert plugins[("exporter", "jks")]["includes_private_key"] is True
    assert plugins[("exporter", "jks")]["needs_passphrase"] is True
    assert plugins[("exporter", "jks-truststore")]["includes_private_key"] is False
    assert plugins[("exporter", "jks-truststore")]["needs_passphrase"] is False


def test_session_cookie_user_sees_the_plugins(api: TestClient, world: World) -> None:
    login = api.get("/login")
    assert login.status_code == 200
    csrf = login.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = api.post(
        "/login",
        data={"username": "member", "password": "member-password-123", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    r = api.get("/api/v1/plugins")
    assert r.status_code == 200, r.text
    assert any(p["slug"] == "local-ca" for p in r.json()["plugins"])


def test_filter_by_kind(api: TestClient, world: World) -> None:
    r = api.get("/api/v1/plugins", params={"kind": "exporter"}, headers=world.headers("member"))
    assert r.status_code == 200, r.text
    kinds = {p["kind"] for p in r.json()["plugins"]}
    assert kinds == {"exporter"}
    r = api.get("/api/v1/plugins", params={"kind": "notifier"}, headers=world.headers("member"))
    assert [p["slug"] for p in r.json()["plugins"]] == ["email", "ses", "slack", "webhook"]
    r = api.get("/api/v1/plugins", params={"kind": "source"}, headers=world.headers("member"))
    assert r.json() == {"plugins": [], "errors": []}


def test_issuers_are_listed_with_their_capabilities_and_secret_options(
    api: TestClient, world: World
) -> None:
    r = api.get("/api/v1/plugins", params={"kind": "issuer"}, headers=world.headers("member"))
    issuers = {p["slug"]: p for p in r.json()["plugins"]}
    assert set(issuers) == {"local-ca", "acme", "cfssl", "aws-pca"}
    assert "create_authority" in issuers["local-ca"]["capabilities"]
    for slug in ("acme", "cfssl", "aws-pca"):
        assert {"connect", "revoke"} <= set(issuers[slug]["capabilities"]), slug
    assert {"poll", "cancel", "renewal_window"} <= set(issuers["acme"]["capabilities"])

    def write_only(slug: str) -> set[str]:
        props = issuers[slug]["options_schema"]["properties"]
        return {name for name, prop in props.items() if "writeOnly" in json.dumps(prop)}

    assert {"account_key", "eab_hmac_key", "tsig_secret"} <= write_only("acme")
    assert write_only("cfssl") == {"auth_key"}
    assert write_only("aws-pca") == {"secret_access_key"}


def test_unknown_kind_is_rejected(api: TestClient, world: World) -> None:
    r = api.get("/api/v1/plugins", params={"kind": "printer"}, headers=world.headers("member"))
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "kind"


def test_anonymous_and_bad_tokens_are_refused(api: TestClient) -> None:
    r = api.get("/api/v1/plugins")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "authentication_required"
    r = api.get("/api/v1/plugins", headers={"Authorization": "Bearer lmr_nope_nope"})
    assert r.status_code == 401


def ep(group: str, name: str, value: str) -> importlib.metadata.EntryPoint:
    return importlib.metadata.EntryPoint(name=name, value=value, group=group)


def test_load_errors_are_listed_with_the_working_plugins(app: FastAPI, world: World) -> None:
    app.state.plugins = Registry.load(
        [
            ep("lemur.issuers", "local-ca", "lemur.builtin.local_ca:LocalCAIssuer"),
            ep("lemur.issuers", "vendor-ca", "tests.plugins.broken_module:VendorIssuer"),
            ep(
                "lemur.destinations", "vault-store", "tests.plugins.sample_plugins:VaultDestination"
            ),
            ep("lemur.destinations", "wrong-name", "tests.plugins.sample_plugins:WrongSlugIssuer"),
        ]
    )
    with TestClient(app) as api:
        r = api.get("/api/v1/plugins", headers=world.headers("reader"))
        assert r.status_code == 200, r.text
        body = r.json()
        assert [(p["kind"], p["slug"]) for p in body["plugins"]] == [
            ("issuer", "local-ca"),
            ("destination", "vault-store"),
        ]
        errors = {(e["kind"], e["slug"]): e["message"] for e in body["errors"]}
        assert set(errors) == {("issuer", "vendor-ca"), ("destination", "wrong-name")}
        assert "pip install vendor-sdk" in errors[("issuer", "vendor-ca")]
        vault = body["plugins"][1]
        token = vault["options_schema"]["$defs"]["Auth"]["properties"]["token"]
        assert token["writeOnly"] is True
        assert vault["capabilities"] == ["verify"]
        assert vault["includes_private_key"] is None
        only = api.get(
            "/api/v1/plugins", params={"kind": "issuer"}, headers=world.headers("reader")
        ).json()
        assert [e["slug"] for e in only["errors"]] == ["vendor-ca"]
