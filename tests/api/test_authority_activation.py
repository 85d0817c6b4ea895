"""Deactivating an authority (and activating it again): new issuance refused with 409
``authority_inactive``, the certificates it issued untouched, its CRL and OCSP still served
and refreshed; each change audited, a repeat a 409. And the issuer plugin of a new authority
with its options: validated by the plugin, secrets stored encrypted and shown as set."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy import select

from lemur.app import create_app
from lemur.authorities.models import Authority
from lemur.builtin.local_ca import LocalCAIssuer
from lemur.clock import FrozenClock
from lemur.container import Container
from lemur.jobs.maintenance import crls_due
from lemur.plugins.registry import Registry
from tests.api.certs_helpers import (
    audit_rows,
    authority,
    counts,
    create_authority,
    error,
    issue,
    issue_raw,
    x509_from_pem,
)
from tests.api.conftest import World

URL = "/api/v1/authorities"


def detail(client: TestClient, world: World, authority_id: int) -> dict[str, Any]:
    r = client.get(f"{URL}/{authority_id}", headers=world.headers("reader"))
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def ocsp_status(
    client: TestClient, ca: x509.Certificate, leaf: x509.Certificate, authority_id: int
) -> ocsp.OCSPCertStatus:
    der = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(leaf, ca, hashes.SHA256())
        .build()
        .public_bytes(Encoding.DER)
    )
    encoded = base64.b64encode(der).decode()
    r = client.get(f"/ocsp/{authority_id}/{encoded}")
    assert r.status_code == 200
    answer = ocsp.load_der_ocsp_response(r.content)
    assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    return answer.certificate_status


def test_a_deactivated_authority_issues_nothing_new_and_keeps_its_crl_and_ocsp(
    client: TestClient, world: World, container: Container, clock: FrozenClock
) -> None:
    root = authority(client, world, "local-root-ca")
    ca = create_authority(client, world, "payments-ca", parent_id=root["id"])
    ca_cert = x509_from_pem(ca["certificate_pem"])
    first = issue(client, world, authority_id=ca["id"], dns_names=["pay.example.com"])
    second = issue(client, world, authority_id=ca["id"], dns_names=["shop.example.com"])

    r = client.post(f"{URL}/{ca['id']}/deactivate", headers=world.headers("security"))
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False
    assert detail(client, world, ca["id"])["active"] is False
    [event] = [e for e in audit_rows(container) if e.action == "authority.deactivate"]
    assert (event.actor, event.target_type, event.target_id) == (
        "user:security",
        "authority",
        str(ca["id"]),
    )

    # Nothing new: a request, a renewal, a CA below it.
    before = counts(container)
    refused = issue_raw(client, world, authority_id=ca["id"], dns_names=["new.example.com"])
    message = error(refused, 409, "authority_inactive", "authority_id")
    assert "'payments-ca' is deactivated" in message
    renewal = client.post(
        f"/api/v1/certificates/{first['id']}/renew", json={}, headers=world.headers("member")
    )
    error(renewal, 409, "authority_inactive", "authority_id")
    below = client.post(
        URL,
        json={"name": "below", "subject": {"common_name": "Below"}, "parent_id": ca["id"]},
        headers=world.headers("admin2"),
    )
    error(below, 409, "authority_inactive", "parent_id")
    assert counts(container) == before

    # What it issued is untouched, and still revocable: CRL and OCSP keep answering.
    shown = client.get(f"/api/v1/certificates/{first['id']}", headers=world.headers("member"))
    assert shown.json()["status"] == "valid"
    leaf = x509_from_pem(first["pem"])
    assert ocsp_status(client, ca_cert, leaf, ca["id"]) is ocsp.OCSPCertStatus.GOOD
    revoked = client.post(
        f"/api/v1/certificates/{first['id']}/revoke",
        json={"reason": "key_compromise"},
        headers=world.headers("member"),
    )
    assert revoked.status_code == 200, revoked.text
    crl = x509.load_der_x509_crl(client.get(f"/crl/{ca['id']}.crl").content)
    assert crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None
    assert crl.is_signature_valid(ca_cert.public_key())  # type: ignore[arg-type]
    assert ocsp_status(client, ca_cert, leaf, ca["id"]) is ocsp.OCSPCertStatus.REVOKED
    other = x509_from_pem(second["pem"])
    assert ocsp_status(client, ca_cert, other, ca["id"]) is ocsp.OCSPCertStatus.GOOD
    assert client.get(f"/ca/{ca['id']}.cer").status_code == 200

    # The refresh job keeps its CRL current too.
    clock.advance(dt.timedelta(days=2))
    with container.db.read() as session:
        assert ca["id"] in crls_due(session, clock.now())
    renewed_crl = x509.load_der_x509_crl(client.get(f"/crl/{ca['id']}.crl").content)
    assert renewed_crl.next_update_utc is not None
    assert renewed_crl.next_update_utc > clock.now()

    again = client.post(f"{URL}/{ca['id']}/deactivate", headers=world.headers("admin2"))
    error(again, 409, "authority_already_inactive", "authority_id")

    r = client.post(f"{URL}/{ca['id']}/activate", headers=world.headers("admin2"))
    assert r.status_code == 200, r.text
    assert r.json()["active"] is True
    assert issue(client, world, authority_id=ca["id"], dns_names=["new.example.com"])["id"]
    again = client.post(f"{URL}/{ca['id']}/activate", headers=world.headers("admin2"))
    error(again, 409, "authority_already_active", "authority_id")
    actions = [e.action for e in audit_rows(container) if e.action.startswith("authority.")]
    assert actions[-2:] == ["authority.deactivate", "authority.activate"]


def test_deactivating_needs_the_manage_role_and_an_existing_authority(
    client: TestClient, world: World, container: Container
) -> None:
    issuing = authority(client, world, "local-issuing-ca")
    before = counts(container)
    for who in ("member", "reader"):
        r = client.post(f"{URL}/{issuing['id']}/deactivate", headers=world.headers(who))
        error(r, 403, "permission_denied", None)
    r = client.post(f"{URL}/999999/deactivate", headers=world.headers("admin2"))
    error(r, 404, "authority_not_found", "authority_id")
    assert counts(container) == before
    assert detail(client, world, issuing["id"])["active"] is True


# -- the issuer plugin and its options -------------------------------------------------------


class VaultOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mount: str = Field(min_length=1, description="where the CA lives")
    token: SecretStr = Field(description="stored encrypted")
    retries: int = Field(2, ge=0, le=5)


class VaultCA(LocalCAIssuer):
    """A local CA that also has options (with a secret), as a third-party issuer would."""

    slug = "vault-ca"
    title = "Vault CA"
    Options = VaultOptions  # type: ignore[assignment]


@pytest.fixture
def vault_client(container: Container) -> Iterator[TestClient]:
    registry = Registry.from_classes([LocalCAIssuer, VaultCA])
    with_vault = dataclasses.replace(container, plugins=registry)
    with TestClient(create_app(with_vault), client=("192.0.2.10", 50000)) as c:
        yield c


def test_a_new_authority_takes_its_issuer_plugins_options_with_secrets_encrypted(
    vault_client: TestClient, world: World, container: Container
) -> None:
    client = vault_client
    before = counts(container)
    missing = create_authority(
        client, world, "vault-1", expect=422, plugin="vault-ca", options={"token": "s3cret"}
    )
    assert missing["error"] == {
        "code": "invalid_plugin_options",
        "message": missing["error"]["message"],
        "field": "options.mount",
    }
    unknown = create_authority(client, world, "vault-1", expect=404, plugin="no-such-ca")
    assert (unknown["error"]["code"], unknown["error"]["field"]) == ("plugin_not_found", "plugin")
    extra = create_authority(client, world, "local-1", expect=422, options={"mount": "x"})
    assert extra["error"]["field"] == "options.mount"
    assert counts(container) == before

    created = create_authority(
        client,
        world,
        "vault-1",
        plugin="vault-ca",
        options={"mount": "pki/prod", "token": "s3cret-token-value"},
    )
    assert created["plugin"] == "vault-ca"
    assert created["options"] == {
        "mount": "pki/prod",
        "token": None,
        "retries": 2,
        "secrets_set": ["token"],
    }
    with container.db.read() as session:
        stored = session.scalar(select(Authority.options).where(Authority.id == created["id"]))
    assert stored is not None
    assert "s3cret-token-value" not in stored
    assert json.loads(stored)["token"]["$encrypted"]
    # Issuance loads the stored options into the plugin.
    leaf = issue(client, world, authority_id=created["id"], dns_names=["vault.example.com"])
    assert leaf["authority"]["id"] == created["id"]
    local = create_authority(client, world, "local-1")
    assert (local["plugin"], local["options"]) == ("local-ca", {"secrets_set": []})
