"""Regression tests for the authority defects of issue 8, through the HTTP API only.

Each test names the defect it pins down; all run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from lemur.container import Container
from tests.api.certs_helpers import (
    authority,
    client_with_base_url,
    counts,
    create_authority,
    create_cab_forum_pair,
    error,
    export,
    issue_raw,
    same_public_key,
    x509_from_pem,
)
from tests.api.conftest import World

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def public_client(container: Container) -> Iterator[TestClient]:
    """CA/B Forum authorities need a public base URL for their CRL and OCSP URLs."""
    with client_with_base_url(container, "http://pki.example.com") as c:
        yield c


def audit(client: TestClient, world: World, **params: str) -> list[dict[str, Any]]:
    r = client.get("/api/v1/audit-events", params=params, headers=world.headers("admin2"))
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


# -- an intermediate's default validity ------------------------------------------------------


def test_intermediate_without_validity_days_lives_as_long_as_its_parent_allows(
    client: TestClient, world: World
) -> None:
    root = authority(client, world, "local-root-ca")
    sub = create_authority(client, world, "team-issuing", parent_id=root["id"])
    assert dt.datetime.fromisoformat(sub["not_after"]) <= dt.datetime.fromisoformat(
        root["not_after"]
    )
    assert dt.datetime.fromisoformat(sub["not_after"]) > dt.datetime.fromisoformat(
        root["not_after"]
    ) - dt.timedelta(days=1)


# -- one effective maximum for CA/B Forum authorities ----------------------------------------


def test_cab_forum_authority_shows_the_maximum_it_enforces(
    public_client: TestClient, world: World
) -> None:
    client = public_client
    _root, sub = create_cab_forum_pair(client, world, max_validity_days=397)
    # From 2026-03-15 the Baseline Requirements allow 200 days (199 days and one second).
    assert sub["max_validity_days"] == 199
    assert sub["default_validity_days"] == 90
    assert authority(client, world, "public-sub")["max_validity_days"] == 199
    shown = client.get(f"/api/v1/authorities/{sub['id']}", headers=world.headers("reader")).json()
    assert shown["max_validity_days"] == 199

    r = issue_raw(client, world, authority_id=sub["id"], validity_days=sub["max_validity_days"])
    assert r.status_code == 201, r.text
    r = issue_raw(client, world, authority_id=sub["id"], validity_days=sub["max_validity_days"] + 1)
    message = error(r, 422, "validity_exceeds_maximum", "validity_days")
    assert "199" in message
    # An authority without the BR keeps its own maximum.
    plain = create_authority(client, world, "private-root")
    assert plain["max_validity_days"] == 397


# -- CA keys ---------------------------------------------------------------------------------


def test_ca_keys_are_not_exportable_unless_created_exportable(
    client: TestClient, world: World, container: Container
) -> None:
    for name in ("local-root-ca", "local-issuing-ca"):
        ca = authority(client, world, name)
        assert ca["exportable"] is False
        before = counts(container)
        for who in ("admin2", "security"):
            for fmt in ("pkcs8-key", "pkcs12"):
                r = export(client, world, ca["certificate_id"], fmt, who=who, passphrase=PASSPHRASE)
                message = error(r, 403, "key_not_exportable", "format")
                assert name in message
                assert b"PRIVATE KEY" not in r.content
        # Four refusals, each audited as a denied authority key export.
        assert counts(container) == {**before, "audit_events": before["audit_events"] + 4}
        denied = audit(
            client, world, action="authority.export_key", target_id=str(ca["id"]), outcome="denied"
        )
        assert len(denied) == 4
        assert {e["actor"] for e in denied} == {"user:admin2", "user:security"}

    exportable = create_authority(
        client,
        world,
        "escrowed-ca",
        parent_id=authority(client, world, "local-root-ca")["id"],
        exportable=True,
    )
    assert exportable["exportable"] is True
    r = export(client, world, exportable["certificate_id"], "pkcs8-key", who="security")
    assert r.status_code == 200, r.text
    key = serialization.load_pem_private_key(r.content, password=None)
    assert same_public_key(
        key.public_key(), x509_from_pem(exportable["certificate_pem"]).public_key()
    )
    events = audit(client, world, action="authority.export_key", target_id=str(exportable["id"]))
    assert [(e["actor"], e["outcome"]) for e in events] == [("user:security", "success")]
    assert events[0]["details"]["certificate_id"] == exportable["certificate_id"]
    # Members never see CA certificates; readers may not take keys.
    r = export(client, world, exportable["certificate_id"], "pkcs8-key", who="member")
    error(r, 404, "certificate_not_found", "certificate_id")
    r = export(client, world, exportable["certificate_id"], "pkcs8-key", who="reader")
    error(r, 403, "permission_denied", None)
