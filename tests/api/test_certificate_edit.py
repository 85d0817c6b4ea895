"""Editing a certificate (team, description, notifications) and archiving it, through the
API on both databases: what the detail then shows, who may move a certificate where, the
audit events with old and new values, the one mute mechanism behind ``notify``, and an
archived certificate gone from lists and searches but kept, on its CRL, and skipped by the
renewal pass."""

from __future__ import annotations

import json
from typing import Any

from cryptography import x509
from fastapi.testclient import TestClient

from lemur.authz import cli_principal
from lemur.clock import FrozenClock
from lemur.container import Container
from lemur.services import Services
from tests.api.certs_helpers import audit_rows, error, issue
from tests.api.conftest import World
from tests.api.inventory_helpers import list_ids
from tests.api.renewal_helpers import DAY, run_pass, successors

URL = "/api/v1/certificates"


def patch(
    client: TestClient, world: World, cert_id: int, body: dict[str, Any], who: str = "member"
) -> Any:
    return client.patch(f"{URL}/{cert_id}", json=body, headers=world.headers(who))


def detail(client: TestClient, world: World, cert_id: int, who: str = "admin2") -> dict[str, Any]:
    r = client.get(f"{URL}/{cert_id}", headers=world.headers(who))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def events(container: Container, action: str) -> list[dict[str, Any]]:
    return [
        {"actor": e.actor, "target": e.target_id, **json.loads(e.details)}
        for e in audit_rows(container)
        if e.action == action
    ]


def join(container: Container, world: World, who: str, team: str) -> None:
    with Services(container, cli_principal()) as services:
        accounts = services.accounts()
        accounts.add_member(accounts.get_team(world.team_ids[team]), accounts.find_user(who))


def test_edit_description_team_and_notifications_shows_in_detail_and_audit(
    client: TestClient, world: World, container: Container
) -> None:
    cert = issue(client, world, dns_names=["pay.example.com"])
    fresh = detail(client, world, cert["id"])
    assert (fresh["description"], fresh["notify"], fresh["mute"]) == (None, True, None)
    assert fresh["archived_at"] is None
    join(container, world, "member", "other")

    description = "Checkout API behind the eu-west load balancer.\nOwner: payments on-call"
    r = patch(
        client,
        world,
        cert["id"],
        {"team_id": world.team_ids["other"], "description": description, "notify": False},
    )
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["team"] == {"id": world.team_ids["other"], "name": "other"}
    assert edited["description"] == description
    assert edited["notify"] is False
    assert edited["mute"]["muted_by"] == "user:member"
    assert "turned off" in edited["mute"]["reason"]
    assert detail(client, world, cert["id"]) == edited
    assert edited["history"][0]["action"] == "certificate.update"

    [event] = events(container, "certificate.update")
    assert event == {
        "actor": "user:member",
        "target": str(cert["id"]),
        "changed": ["team", "description", "notify"],
        "team_old": "own",
        "team_new": "other",
        "team_id_old": world.team_ids["own"],
        "team_id_new": world.team_ids["other"],
        "description_old": None,
        "description_new": description,
        "notify_old": True,
        "notify_new": False,
    }
    # The inventory filters by the new team.
    assert cert["id"] in list_ids(client, world.headers("admin2"), team_id=world.team_ids["other"])
    assert cert["id"] not in list_ids(
        client, world.headers("admin2"), team_id=world.team_ids["own"]
    )

    # Notifications back on; the description removed with null.
    r = patch(client, world, cert["id"], {"notify": True, "description": None})
    assert r.status_code == 200, r.text
    assert (r.json()["notify"], r.json()["mute"], r.json()["description"]) == (True, None, None)
    second = events(container, "certificate.update")[-1]
    assert second["changed"] == ["description", "notify"]
    assert (second["description_old"], second["description_new"]) == (description, None)
    assert (second["notify_old"], second["notify_new"]) == (False, True)


def test_notify_is_the_notification_mute(
    client: TestClient, world: World, container: Container
) -> None:
    """One mechanism: the mute API and the notify setting read and write the same thing."""
    cert_id = issue(client, world, dns_names=["mute.example.com"])["id"]
    r = client.put(
        f"{URL}/{cert_id}/mute", json={"reason": "decommissioned"}, headers=world.headers("member")
    )
    assert r.status_code == 200, r.text
    shown = detail(client, world, cert_id)
    assert shown["notify"] is False
    assert shown["mute"]["reason"] == "decommissioned"

    # Already off: asking for off again changes nothing and records nothing.
    before = len(audit_rows(container))
    assert patch(client, world, cert_id, {"notify": False}).status_code == 200
    assert len(audit_rows(container)) == before
    assert detail(client, world, cert_id)["mute"]["reason"] == "decommissioned"

    assert patch(client, world, cert_id, {"notify": True}).status_code == 200
    gone = client.delete(f"{URL}/{cert_id}/mute", headers=world.headers("member"))
    error(gone, 404, "mute_not_found", "certificate_id")
    mutes = client.get("/api/v1/notifications/mutes", headers=world.headers("admin2")).json()
    assert [m["certificate_id"] for m in mutes] == []

    assert patch(client, world, cert_id, {"notify": False}).status_code == 200
    mutes = client.get("/api/v1/notifications/mutes", headers=world.headers("admin2")).json()
    assert [(m["certificate_id"], m["muted_by"]) for m in mutes] == [(cert_id, "user:member")]


def test_moving_needs_the_right_on_both_teams(
    client: TestClient, world: World, container: Container
) -> None:
    cert_id = issue(client, world, dns_names=["move.example.com"])["id"]
    theirs = issue(client, world, who="outsider", team="other", dns_names=["theirs.example.com"])
    before = len(audit_rows(container))

    message = error(
        patch(client, world, cert_id, {"team_id": world.team_ids["other"]}),
        403,
        "permission_denied",
        "team_id",
    )
    assert "other" in message
    # Another team's certificate stays invisible to the member, whatever the body says.
    error(
        patch(client, world, theirs["id"], {"team_id": world.team_ids["own"]}),
        404,
        "certificate_not_found",
        "certificate_id",
    )
    error(patch(client, world, cert_id, {"team_id": 99999}), 404, "team_not_found", "team_id")
    error(
        patch(client, world, cert_id, {"team_id": world.team_ids["other"]}, who="reader"),
        403,
        "permission_denied",
        None,
    )
    assert len(audit_rows(container)) == before
    assert detail(client, world, cert_id)["team"]["name"] == "own"

    # Security may move any certificate anywhere.
    r = patch(client, world, cert_id, {"team_id": world.team_ids["other"]}, who="security")
    assert r.status_code == 200, r.text
    assert r.json()["team"]["name"] == "other"
    # ... and the member of "own" no longer sees it.
    error(
        client.get(f"{URL}/{cert_id}", headers=world.headers("member")),
        404,
        "certificate_not_found",
        "certificate_id",
    )


def test_description_follows_the_text_rules(client: TestClient, world: World) -> None:
    cert_id = issue(client, world, dns_names=["text.example.com"])["id"]
    error(
        patch(client, world, cert_id, {"description": "line one\r\nline two"}),
        422,
        "invalid_character",
        "description",
    )
    r = patch(client, world, cert_id, {"description": "x" * 1001})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "description"
    error(patch(client, world, cert_id, {"colour": "red"}), 422, "unknown_field", "colour")
    ok = patch(client, world, cert_id, {"description": "tab\tand\nnewline, ünïcode " + "y" * 900})
    assert ok.status_code == 200, ok.text
    assert ok.json()["description"].startswith("tab\tand\nnewline, ünïcode")


def test_an_edit_that_changes_nothing_records_nothing(
    client: TestClient, world: World, container: Container
) -> None:
    cert_id = issue(client, world, dns_names=["same.example.com"])["id"]
    patch(client, world, cert_id, {"description": "kept"})
    before = len(audit_rows(container))
    for body in ({}, {"description": "kept"}, {"team_id": world.team_ids["own"], "notify": True}):
        r = patch(client, world, cert_id, body)
        assert r.status_code == 200, r.text
        assert r.json()["description"] == "kept"
    assert len(audit_rows(container)) == before


def test_archived_is_hidden_from_lists_and_searches_but_kept(
    client: TestClient, world: World, container: Container
) -> None:
    headers = world.headers("member")
    kept = issue(client, world, dns_names=["archive.example.com"])
    other = issue(client, world, dns_names=["stays.example.com"])
    cert_id = kept["id"]

    r = client.post(f"{URL}/{cert_id}/archive", headers=headers)
    assert r.status_code == 200, r.text
    archived = r.json()
    assert archived["archived_at"] == container.clock.now().isoformat().replace("+00:00", "Z")
    assert archived["archived_by"] == "user:member"
    assert archived["history"][0]["action"] == "certificate.archive"

    assert list_ids(client, headers) == [other["id"]]
    serial = kept["serial_number"]
    for search in (
        {"name": "archive.example.com"},
        {"name_contains": "archive"},
        {"serial": serial},
        {"fingerprint": kept["fingerprint_sha256"]},
        {"team_id": world.team_ids["own"]},
    ):
        assert list_ids(client, headers, **search) in ([], [other["id"]]), search
        assert cert_id in list_ids(client, headers, include_archived="true", **search), search
    shown = client.get(URL, params={"include_archived": "true"}, headers=headers).json()["items"]
    assert {i["id"]: i["archived_at"] is not None for i in shown} == {
        cert_id: True,
        other["id"]: False,
    }
    # Still readable by id, exportable.
    assert detail(client, world, cert_id, who="member")["archived_at"] is not None
    pem = client.get(f"{URL}/{cert_id}/export?format=pem-certificate", headers=headers)
    assert pem.status_code == 200

    again = client.post(f"{URL}/{cert_id}/archive", headers=headers)
    assert "already archived" in error(again, 409, "already_archived", "certificate_id")

    r = client.post(f"{URL}/{cert_id}/unarchive", headers=headers)
    assert r.status_code == 200, r.text
    assert (r.json()["archived_at"], r.json()["archived_by"]) == (None, None)
    assert sorted(list_ids(client, headers)) == sorted([cert_id, other["id"]])
    error(
        client.post(f"{URL}/{cert_id}/unarchive", headers=headers),
        409,
        "not_archived",
        "certificate_id",
    )
    assert [e["actor"] for e in events(container, "certificate.archive")] == ["user:member"]
    [unarchived] = events(container, "certificate.unarchive")
    assert unarchived["archived_by"] == "user:member"
    assert unarchived["serial"] == serial


def test_an_archived_revoked_certificate_stays_on_the_crl(client: TestClient, world: World) -> None:
    headers = world.headers("member")
    first = issue(client, world, dns_names=["gone-1.example.com"])
    second = issue(client, world, dns_names=["gone-2.example.com"])
    authority_id = first["authority"]["id"]
    r = client.post(f"{URL}/{first['id']}/revoke", json={"reason": "superseded"}, headers=headers)
    assert r.status_code == 200, r.text
    assert client.post(f"{URL}/{first['id']}/archive", headers=headers).status_code == 200
    # A later revocation signs the CRL anew: the archived one is still listed.
    r = client.post(f"{URL}/{second['id']}/revoke", json={"reason": "superseded"}, headers=headers)
    assert r.status_code == 200, r.text
    crl = x509.load_der_x509_crl(client.get(f"/crl/{authority_id}.crl").content)
    listed = {format(entry.serial_number, "x") for entry in crl}
    assert {first["serial_number"], second["serial_number"]} <= listed


def test_the_renewal_pass_skips_archived_certificates(
    client: TestClient, world: World, container: Container, clock: FrozenClock
) -> None:
    due = issue(client, world, dns_names=["due.example.com"], validity_days=30)
    archived = issue(client, world, dns_names=["shelved.example.com"], validity_days=30)
    client.post(f"{URL}/{archived['id']}/archive", headers=world.headers("member"))
    clock.advance(21 * DAY)  # inside the last third of both lifetimes

    preview = client.get("/api/v1/renewals/preview", headers=world.headers("admin2")).json()
    assert [i["certificate_id"] for i in preview["items"]] == [due["id"]]
    run_pass(container)
    assert len(successors(container, due["id"])) == 1
    assert successors(container, archived["id"]) == []

    # Renewing by hand still works, and the renewal starts out of the archive.
    r = client.post(f"{URL}/{archived['id']}/renew", json={}, headers=world.headers("member"))
    assert r.status_code == 201, r.text
    assert r.json()["archived_at"] is None
