"""Regression tests for the certificate defects of issue 8, through the HTTP API only.

Each test names the defect it pins down; all run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lemur.clock import FrozenClock
from lemur.container import Container
from tests.api.certs_helpers import (
    counts,
    error,
    export,
    issue,
    make_ca,
    make_csr,
    make_leaf,
    new_key,
    pem,
    same_public_key,
    stored_key,
    x509_from_pem,
)
from tests.api.conftest import World

URL = "/api/v1/certificates"
PASSPHRASE = "correct horse battery staple"


def detail(client: TestClient, world: World, certificate_id: int) -> dict[str, Any]:
    r = client.get(f"{URL}/{certificate_id}", headers=world.headers("admin2"))
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def audit(client: TestClient, world: World, **params: str) -> list[dict[str, Any]]:
    r = client.get("/api/v1/audit-events", params=params, headers=world.headers("admin2"))
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def listed(client: TestClient, world: World, who: str = "admin2", **params: Any) -> list[int]:
    r = client.get(URL, params=params, headers=world.headers(who))
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["items"]]


# -- chain of certificates imported under an imported CA ----------------------------------------


def test_certificate_imported_under_an_imported_ca_gets_the_chain(
    client: TestClient, world: World
) -> None:
    root = make_ca("External Root")
    intermediate = make_ca("External Issuing", issuer=root)
    admin = world.headers("admin2")
    for name, ca in (("ext-root", root), ("ext-issuing", intermediate)):
        r = client.post(
            "/api/v1/authorities/import",
            json={"name": name, "certificate": pem(ca[1])},
            headers=admin,
        )
        assert r.status_code == 201, r.text
    # The imported intermediate chains to the imported root.
    assert len(r.json()["chain_pem"]) == 2
    leaf = make_leaf(intermediate, "service.example.com")[1]
    r = client.post(
        f"{URL}/import",
        json={"team_id": world.team_ids["own"], "certificate": pem(leaf)},
        headers=world.headers("member"),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert [x509_from_pem(c["pem"]) for c in body["chain"]] == [intermediate[1], root[1]]
    assert body["authority"]["name"] == "ext-issuing"
    r = client.get(
        f"{URL}/{body['id']}/export",
        params={"format": "pem-chain"},
        headers=world.headers("member"),
    )
    assert r.status_code == 200, r.text
    assert r.text == pem(intermediate[1], root[1])


# -- renewing a certificate issued from a CSR --------------------------------------------------


def test_renewing_a_csr_certificate_needs_a_csr_and_keeps_no_key(
    client: TestClient, world: World, container: Container
) -> None:
    member = world.headers("member")
    names = ("csr.example.com", "alt.example.com")
    old = issue(client, world, csr=make_csr(common_name=names[0], dns_names=names))
    before = counts(container)

    r = client.post(f"{URL}/{old['id']}/renew", json={}, headers=member)
    message = error(r, 422, "csr_required", "csr")
    assert "issued from a CSR" in message
    assert "Lemur does not hold" in message
    assert counts(container) == before

    # A CSR for other names is refused, saying which names a renewal keeps.
    other = make_csr(common_name="other.example.com", dns_names=("other.example.com",))
    r = client.post(f"{URL}/{old['id']}/renew", json={"csr": other}, headers=member)
    message = error(r, 422, "csr_names_differ", "csr")
    assert "csr.example.com" in message
    assert "other.example.com" in message
    assert counts(container) == before

    key = new_key()
    r = client.post(
        f"{URL}/{old['id']}/renew",
        json={"csr": make_csr(key, common_name=names[0], dns_names=names)},
        headers=member,
    )
    assert r.status_code == 201, r.text
    new = r.json()
    assert same_public_key(x509_from_pem(new["pem"]).public_key(), key.public_key())
    assert new["has_private_key"] is False
    assert stored_key(container, new["id"]) is None
    assert sorted(new["subject_alternative_names"]["dns_names"]) == sorted(names)
    assert new["replaces_id"] == old["id"]
    assert [e["action"] for e in new["history"]] == ["certificate.renew"]
    assert new["history"][0]["details"]["csr"] is True

    # A CSR without names takes the certificate's names.
    r = client.post(
        f"{URL}/{new['id']}/renew",
        json={"csr": make_csr(common_name=None, dns_names=())},
        headers=member,
    )
    assert r.status_code == 201, r.text
    assert sorted(r.json()["subject_alternative_names"]["dns_names"]) == sorted(names)


def test_a_generated_key_certificate_may_switch_to_the_callers_key(
    client: TestClient, world: World, container: Container
) -> None:
    old = issue(client, world, dns_names=["switch.example.com"])
    assert stored_key(container, old["id"]) is not None
    key = new_key()
    r = client.post(
        f"{URL}/{old['id']}/renew",
        json={"csr": make_csr(key, common_name="switch.example.com", dns_names=())},
        headers=world.headers("member"),
    )
    assert r.status_code == 201, r.text
    new = r.json()
    assert same_public_key(x509_from_pem(new["pem"]).public_key(), key.public_key())
    assert new["has_private_key"] is False
    assert stored_key(container, new["id"]) is None
    error(export(client, world, new["id"], "pkcs8-key"), 422, "no_private_key", "format")


# -- refused key exports are audited -----------------------------------------------------------


def test_refused_key_exports_are_audited_as_denied(
    client: TestClient, world: World, container: Container
) -> None:
    cert = issue(client, world)
    before = counts(container)
    r = export(client, world, cert["id"], "pkcs8-key", who="reader")
    error(r, 403, "permission_denied", None)
    r = export(client, world, cert["id"], "pkcs12", who="outsider", passphrase=PASSPHRASE)
    error(r, 404, "certificate_not_found", "certificate_id")
    # Nothing but the two events was written, and the refusals gave no key away.
    assert counts(container) == {**before, "audit_events": before["audit_events"] + 2}
    denied = audit(client, world, action="certificate.export_key", outcome="denied")
    assert [(e["actor"], e["target_id"], e["details"]["format"]) for e in denied] == [
        ("user:outsider", str(cert["id"]), "pkcs12"),
        ("user:reader", str(cert["id"]), "pkcs8-key"),
    ]
    assert all(e["outcome"] == "denied" for e in denied)
    # A missing certificate is no key access: nothing to audit.
    error(
        export(client, world, 999999, "pkcs8-key"), 404, "certificate_not_found", "certificate_id"
    )
    assert counts(container)["audit_events"] == before["audit_events"] + 2
    # The audit chain still verifies with the events written outside the requests.
    r = client.get("/api/v1/audit-events/verification", headers=world.headers("admin2"))
    assert r.status_code == 200, r.text
    assert r.json()["ok"] is True, r.text


# -- other teams' certificates: no id in the 409, 404 instead of 403 ----------------------------


def test_import_conflict_names_the_existing_certificate_only_to_who_may_read_it(
    client: TestClient, world: World, container: Container
) -> None:
    leaf = pem(make_leaf(make_ca("Shared CA"), "shared.example.com")[1])

    def do_import(who: str, team: str) -> Any:
        return client.post(
            f"{URL}/import",
            json={"team_id": world.team_ids[team], "certificate": leaf},
            headers=world.headers(who),
        )

    first = do_import("outsider", "other")
    assert first.status_code == 201, first.text
    held_id = first.json()["id"]
    before = counts(container)
    message = error(do_import("member", "own"), 409, "certificate_exists", "certificate")
    assert str(held_id) not in message
    assert "already in the inventory" in message
    # The holder's team and staff learn which certificate it is.
    message = error(do_import("outsider", "other"), 409, "certificate_exists", "certificate")
    assert f"certificate {held_id}" in message
    message = error(do_import("admin2", "own"), 409, "certificate_exists", "certificate")
    assert f"certificate {held_id}" in message
    assert counts(container) == before


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("GET", "/export?format=pem-certificate", None),
        ("POST", "/export", {"format": "pem-certificate"}),
        ("POST", "/export", {"format": "pkcs8-key"}),
        ("POST", "/revoke", {"reason": "superseded"}),
        ("POST", "/renew", {}),
    ],
)
def test_another_teams_certificate_is_answered_as_missing(
    client: TestClient,
    world: World,
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    theirs = issue(client, world, who="outsider", team="other")["id"]
    missing = 999999
    hidden = client.request(
        method, f"{URL}/{theirs}{suffix}", json=body, headers=world.headers("member")
    )
    absent = client.request(
        method, f"{URL}/{missing}{suffix}", json=body, headers=world.headers("member")
    )
    assert hidden.status_code == absent.status_code == 404, hidden.text
    assert hidden.json() == {
        "error": {**absent.json()["error"], "message": f"no certificate with id {theirs}"}
    }
    assert detail(client, world, theirs)["revoked_at"] is None
    assert detail(client, world, theirs)["replaced_by_id"] is None


# -- blank search filters --------------------------------------------------------------------


def test_blank_search_filters_are_refused_and_filters_are_trimmed(
    client: TestClient, world: World
) -> None:
    mine = issue(client, world, dns_names=["trim.example.com"])["id"]
    admin = world.headers("admin2")
    for param in ("name", "name_contains", "issuer", "key_type", "serial", "fingerprint"):
        r = client.get(URL, params={param: "   "}, headers=admin)
        assert "empty" in error(r, 422, "empty_filter", param)
        # A tab is not blank but a control character, refused as such (lemur.text).
        error(
            client.get(URL, params={param: "\t "}, headers=admin), 422, "invalid_character", param
        )
    error(client.get(URL, params={"name": ""}, headers=admin), 422, "empty_filter", "name")
    assert listed(client, world, name_contains="  trim.exa  ") == [mine]
    assert listed(client, world, name=" trim.example.com ") == [mine]
    assert listed(client, world, issuer="  Local Issuing  ") == [mine]
    for param in ("actor", "action", "target_type", "target_id"):
        r = client.get("/api/v1/audit-events", params={param: "  "}, headers=admin)
        error(r, 422, "empty_filter", param)
    assert audit(client, world, action=" certificate.issue ", target_id=f" {mine} ")


# -- "expiring" is the renewal window --------------------------------------------------------


def test_expiring_means_inside_the_renewal_window(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    month = issue(client, world, dns_names=["month.example.com"], validity_days=30)
    quarter = issue(client, world, dns_names=["quarter.example.com"], validity_days=90)
    # Just issued: valid, not expiring, whatever the lifetime.
    assert month["status"] == quarter["status"] == "valid"
    assert listed(client, world, status="expiring") == []
    own = world.team_ids["own"]
    assert set(listed(client, world, status="valid", team_id=own)) == {month["id"], quarter["id"]}

    # The last third of 30 days is 10 days: not yet after 19 days, from 20 days on.
    clock.advance(dt.timedelta(days=19, hours=23))
    assert detail(client, world, month["id"])["status"] == "valid"
    assert listed(client, world, status="expiring") == []
    clock.advance(dt.timedelta(hours=1))
    assert detail(client, world, month["id"])["status"] == "expiring"
    assert listed(client, world, status="expiring") == [month["id"]]
    statuses = {
        i["id"]: i["status"]
        for i in client.get(URL, params={"team_id": own}, headers=world.headers("admin2")).json()[
            "items"
        ]
    }
    assert statuses == {month["id"]: "expiring", quarter["id"]: "valid"}
    # expiring_within_days keeps its own meaning: expires within that many days.
    assert set(listed(client, world, status="expiring", expiring_within_days=80)) == {
        month["id"],
        quarter["id"],
    }

    # 90 days: the window is capped at 30 days, so it starts 60 days in.
    clock.advance(dt.timedelta(days=39, hours=23))
    headers = {"Authorization": f"Bearer {world.add_token('admin2')}"}  # the first expired
    page = client.get(URL, params={"status": "expiring"}, headers=headers).json()["items"]
    assert [i["id"] for i in page] == []
    clock.advance(dt.timedelta(hours=1))
    page = client.get(URL, params={"status": "expiring"}, headers=headers).json()["items"]
    assert [(i["id"], i["status"]) for i in page] == [(quarter["id"], "expiring")]
