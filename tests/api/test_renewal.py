"""Renewal: a new certificate with the same names, profile, team and authority and a new key
of the same type, linked into the old one's lineage; superseded certificates leave the
default list; what cannot be renewed and who may not renew."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from lemur.certificates.models import Certificate, PrivateKey
from lemur.clock import FrozenClock
from lemur.container import Container
from lemur.crypto.keys import KeySpec
from lemur.crypto.profiles import Profile
from tests.api.conftest import World
from tests.api.inventory_helpers import (
    ISSUING_NAME,
    authority_ids,
    certificate_count,
    insert_leaf,
    issue,
    list_ids,
    throwaway_ca,
)

URL = "/api/v1/certificates"


def detail(client: TestClient, world: World, certificate_id: int) -> dict[str, Any]:
    response = client.get(f"{URL}/{certificate_id}", headers=world.headers("admin2"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def public_key_der(container: Container, certificate_id: int) -> bytes:
    with container.db.read() as session:
        row = session.get(Certificate, certificate_id)
        assert row is not None
        cert = x509.load_der_x509_certificate(row.der)
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def stored_key_spec(container: Container, certificate_id: int) -> str | None:
    with container.db.read() as session:
        key = session.get(PrivateKey, certificate_id)
        return key.key_spec if key else None


@pytest.mark.parametrize(
    ("key_spec", "profile"),
    [(KeySpec.EC_P256, Profile.SERVER), (KeySpec.RSA_2048, Profile.CLIENT)],
)
def test_renewal_keeps_names_profile_team_authority_and_key_type(
    container: Container,
    clock: FrozenClock,
    client: TestClient,
    world: World,
    key_spec: KeySpec,
    profile: Profile,
) -> None:
    own = world.team_ids["own"]
    old_id = issue(
        container,
        team_id=own,
        common_name="app.example.com",
        dns_names=["app.example.com", "alt.example.com"],
        ip_addresses=["192.0.2.40"],
        emails=["ops@example.com"] if profile is Profile.CLIENT else (),
        profile=profile,
        key_spec=key_spec,
        validity_days=40,
    )
    clock.advance(dt.timedelta(days=25))  # expiring soon; the API tokens last 30 days
    response = client.post(f"{URL}/{old_id}/renew", json={}, headers=world.headers("member"))
    assert response.status_code == 201, response.text
    new = response.json()
    old = detail(client, world, old_id)

    assert new["id"] != old_id
    assert new["common_name"] == old["common_name"] == "app.example.com"
    assert new["subject_alternative_names"] == old["subject_alternative_names"]
    assert sorted(new["names"]) == sorted(old["names"])
    assert new["profile"] == old["profile"] == profile.value
    assert new["extended_key_usage"] == old["extended_key_usage"]
    assert new["team"] == old["team"] == {"id": own, "name": "own"}
    assert new["authority"] == old["authority"]
    assert new["authority"]["name"] == ISSUING_NAME
    assert (new["key_type"], new["key_size"], new["key_spec"]) == (
        old["key_type"],
        old["key_size"],
        key_spec.value,
    )
    assert public_key_der(container, new["id"]) != public_key_der(container, old_id)
    assert stored_key_spec(container, new["id"]) == key_spec.value
    assert new["has_private_key"] is True
    assert new["serial_number"] != old["serial_number"]
    assert new["fingerprint_sha256"] != old["fingerprint_sha256"]
    # Validity starts now, not where the old certificate started.
    assert dt.datetime.fromisoformat(new["not_before"]) > dt.datetime.fromisoformat(
        old["not_before"]
    ) + dt.timedelta(days=24)

    # Lineage: replaces / replaced by, one lineage id, listed oldest first.
    assert old["replaced_by_id"] == new["id"]
    assert new["replaces_id"] == old_id
    assert old["replaces_id"] is None
    assert new["replaced_by_id"] is None
    assert new["lineage_id"] == old["lineage_id"] == old_id
    assert [entry["id"] for entry in new["lineage"]] == [old_id, new["id"]]
    assert [entry["id"] for entry in old["lineage"]] == [old_id, new["id"]]
    assert new["history"][0]["action"] == "certificate.renew"
    assert new["history"][0]["actor"] == "user:member"
    assert new["history"][0]["details"]["replaces"] == old_id

    # The new certificate chains to the same CA.
    leaf = x509.load_pem_x509_certificate(new["pem"].encode())
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(new["chain"][0]["pem"].encode()))

    # The superseded certificate leaves the default list.
    member = world.headers("member")
    assert list_ids(client, member) == [new["id"]]
    assert set(list_ids(client, member, include_superseded="true")) == {old_id, new["id"]}
    assert list_ids(client, member, name="app.example.com") == [new["id"]]


def test_renewing_again_extends_the_lineage(
    container: Container, client: TestClient, world: World
) -> None:
    first = issue(container, team_id=world.team_ids["own"], common_name="chain.example.com")
    member = world.headers("member")
    second = client.post(f"{URL}/{first}/renew", json={}, headers=member).json()["id"]
    third_response = client.post(
        f"{URL}/{second}/renew", json={"validity_days": 30}, headers=world.headers("security")
    )
    assert third_response.status_code == 201, third_response.text
    third = third_response.json()
    assert third["lineage_id"] == first
    assert [entry["id"] for entry in third["lineage"]] == [first, second, third["id"]]
    assert [entry["status"] for entry in third["lineage"]] == ["valid", "valid", "valid"]
    not_before = dt.datetime.fromisoformat(third["not_before"])
    assert dt.datetime.fromisoformat(third["not_after"]) - not_before == dt.timedelta(days=30)
    assert detail(client, world, second)["replaced_by_id"] == third["id"]
    assert list_ids(client, member) == [third["id"]]
    assert set(list_ids(client, member, include_superseded=True)) == {first, second, third["id"]}


def test_what_cannot_be_renewed(container: Container, client: TestClient, world: World) -> None:
    admin = world.headers("admin2")
    member = world.headers("member")
    own = world.team_ids["own"]
    old = issue(container, team_id=own, common_name="once.example.com")
    assert client.post(f"{URL}/{old}/renew", json={}, headers=member).status_code == 201

    def refused(certificate_id: int, body: dict[str, Any], headers: dict[str, str]) -> Any:
        before = certificate_count(container)
        response = client.post(f"{URL}/{certificate_id}/renew", json=body, headers=headers)
        assert certificate_count(container) == before
        return response

    # A superseded certificate: renew its replacement instead. A conflict with the
    # certificate's state, not a bad value in the request.
    response = refused(old, {}, member)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_replaced"
    assert response.json()["error"]["field"] == "certificate_id"

    # A CA certificate.
    authorities = client.get("/api/v1/authorities", headers=admin).json()
    ca_cert = next(a for a in authorities if a["name"] == ISSUING_NAME)["certificate_id"]
    response = refused(ca_cert, {}, admin)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "not_renewable"

    # An imported certificate whose issuer Lemur does not run.
    now = container.clock.now()
    imported = insert_leaf(
        container,
        throwaway_ca(),
        team_id=own,
        common_name="imported.example.com",
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=30),
    )
    response = refused(imported, {}, admin)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "not_renewable"

    # Validity beyond the profile maximum, and nonsense bodies.
    current = issue(container, team_id=own, common_name="valid.example.com")
    response = refused(current, {"validity_days": 900}, member)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validity_exceeds_maximum"
    assert response.json()["error"]["field"] == "validity_days"
    for body, field in (
        ({"validity_days": 0}, "validity_days"),
        ({"validity_days": "long"}, "validity_days"),
        ({"team_id": 2}, "team_id"),
    ):
        response = refused(current, body, member)
        assert response.status_code == 422, body
        assert response.json()["error"]["field"] == field, body
    response = refused(999999, {}, admin)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "certificate_not_found"
    assert detail(client, world, current)["replaced_by_id"] is None


def test_only_the_owning_team_and_staff_may_renew(
    container: Container, client: TestClient, world: World
) -> None:
    cert = issue(container, team_id=world.team_ids["own"], common_name="owned.example.com")
    before = certificate_count(container)
    # Another team's certificate is not found (as a missing one); a reader may not renew.
    for who, status, code in (
        ("outsider", 404, "certificate_not_found"),
        ("reader", 403, "permission_denied"),
    ):
        response = client.post(f"{URL}/{cert}/renew", json={}, headers=world.headers(who))
        assert response.status_code == status, who
        assert response.json()["error"]["code"] == code, who
    assert certificate_count(container) == before
    assert detail(client, world, cert)["replaced_by_id"] is None
    renewed = client.post(f"{URL}/{cert}/renew", json={}, headers=world.headers("admin2"))
    assert renewed.status_code == 201
    assert renewed.json()["team"]["name"] == "own"
    assert renewed.json()["created_by"] == "user:admin2"
    assert (
        authority_ids(client, world.headers("admin2"))[ISSUING_NAME]
        == renewed.json()["authority"]["id"]
    )


def test_a_certificate_of_an_imported_ca_cannot_be_renewed(
    container: Container, client: TestClient, world: World
) -> None:
    ca = throwaway_ca("Another Company CA")
    admin = world.headers("admin2")
    pem = ca.certificate.public_bytes(serialization.Encoding.PEM).decode()
    response = client.post(
        "/api/v1/authorities/import", json={"name": "their-ca", "certificate": pem}, headers=admin
    )
    assert response.status_code == 201, response.text
    now = container.clock.now()
    scratch = insert_leaf(
        container,
        ca,
        team_id=None,
        common_name="theirs.example.com",
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=30),
    )
    leaf_pem = detail(client, world, scratch)["pem"]
    with container.db.write() as session:
        row = session.get(Certificate, scratch)
        assert row is not None
        session.delete(row)
        session.commit()
    imported = client.post(
        f"{URL}/import",
        json={"team_id": world.team_ids["own"], "certificate": leaf_pem, "chain": pem},
        headers=world.headers("member"),
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["authority"]["name"] == "their-ca"
    before = certificate_count(container)
    response = client.post(
        f"{URL}/{imported.json()['id']}/renew", json={}, headers=world.headers("member")
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "not_renewable"
    assert response.json()["error"]["field"] == "certificate_id"
    assert certificate_count(container) == before
