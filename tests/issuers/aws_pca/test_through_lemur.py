"""The aws-pca issuer as users reach it through Lemur's API, against a real moto server: an
authority created (Lemur checks the CA is ACTIVE first), a certificate issued with the CA's
chain, revoked at AWS with its reason (wrong credentials need moto's IAM mode: see
test_access.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lemur.clock import FrozenClock
from tests.api.certs_helpers import issue_raw
from tests.api.conftest import World, client, world  # noqa: F401  (the API fixtures)
from tests.issuers.aws_pca.conftest import PrivateCA, pca_options, recorded_ca
from tests.peers.moto import SECRET_ACCESS_KEY, MotoServer

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def clock() -> FrozenClock:
    """Lemur's clock at the real time: moto dates its certificates by its own clock."""
    return FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))


def create(client: TestClient, world: World, options: dict[str, Any]) -> Any:  # noqa: F811
    return client.post(
        "/api/v1/authorities",
        json={"name": "private-ca", "plugin": "aws-pca", "options": options},
        headers=world.headers("admin2"),
    )


@SQLITE_ONLY
def test_issue_and_revoke_at_aws_private_ca(
    client: TestClient,  # noqa: F811
    world: World,  # noqa: F811
    moto_server: MotoServer,
    private_ca: PrivateCA,
) -> None:
    r = create(client, world, pca_options(moto_server, private_ca.arn))
    assert r.status_code == 201, r.text
    authority = r.json()
    assert authority["subject"] == private_ca.certificate.subject.rfc4514_string()
    assert "secret_access_key" in authority["options"]["secrets_set"]
    assert SECRET_ACCESS_KEY not in r.text

    r = issue_raw(client, world, authority_id=authority["id"], dns_names=("pca.example.test",))
    assert r.status_code == 201, r.text
    cert = r.json()
    assert cert["subject_alternative_names"]["dns_names"] == ["pca.example.test"]
    assert cert["issuer_dn"] == private_ca.certificate.subject.rfc4514_string()
    assert cert["has_private_key"] is True

    r = client.post(
        f"/api/v1/certificates/{cert['id']}/revoke",
        json={"reason": "superseded"},
        headers=world.headers("member"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["revocation_scope"] == "issuer"
    revoked = recorded_ca(moto_server, private_ca.arn).get("revoked_certificates", {})
    assert revoked, "moto recorded no revocation"
