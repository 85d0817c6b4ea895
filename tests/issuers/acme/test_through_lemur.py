"""The acme issuer as users reach it through Lemur's API, against the real Pebble + BIND9:
an authority created (Lemur registers the account first), a request answered 202 and
finished by the ``request.poll`` job, the DNS-01 record placed in BIND9 and removed, the
certificate revoked at Pebble; a failed order, a cancelled one, a CA that went away, and a
restart in the middle."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lemur.audit.models import AuditEvent
from lemur.certificates.models import Certificate
from lemur.clock import FrozenClock
from lemur.container import Container, build_container
from lemur.jobs.engine import JobEngine
from lemur.orders.models import AcmeChallenge, CertificateRequest
from lemur.orders.responder import DatabaseChallenges, remove_stale
from tests.api.certs_helpers import issue_raw
from tests.api.conftest import World
from tests.api.renewal_helpers import drain, start_pass
from tests.conftest import FAST_HASHER
from tests.issuers.acme.conftest import base_options, dns_options, unique
from tests.peers.pebble import BindServer, PebblePeer

SQLITE_AND_PG = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def clock() -> FrozenClock:
    """Lemur's clock at the real time (Pebble dates its certificates by its own)."""
    return FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))


def create_authority(
    client: TestClient, world: World, options: dict[str, Any], name: str | None = None
) -> dict[str, Any]:
    r = client.post(
        "/api/v1/authorities",
        json={"name": name or unique("acme"), "plugin": "acme", "options": options},
        headers=world.headers("admin2"),
    )
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def request_pending(
    client: TestClient, world: World, authority_id: int, names: list[str]
) -> dict[str, Any]:
    r = issue_raw(client, world, authority_id=authority_id, dns_names=tuple(names))
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/api/v1/requests/{r.json()['id']}"
    out: dict[str, Any] = r.json()
    return out


def get_request(client: TestClient, world: World, request_id: int) -> dict[str, Any]:
    r = client.get(f"/api/v1/requests/{request_id}", headers=world.headers("member"))
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


def poll_until_finished(
    container: Container, clock: FrozenClock, client: TestClient, world: World, request_id: int
) -> dict[str, Any]:
    """Run the poll jobs as a runner would, the clock following the real one, until the
    request is no longer pending (Pebble validates in real time)."""
    engine = JobEngine(container, container.job_kinds)
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        clock.advance(dt.timedelta(seconds=2))
        engine.run_due()
        request = get_request(client, world, request_id)
        if request["state"] != "pending":
            return request
        time.sleep(0.3)
    raise AssertionError(f"request {request_id} still pending: {request}")


def audit_actions(container: Container, target_type: str, target_id: int) -> list[str]:
    with container.db.read() as session:
        return list(
            session.scalars(
                select(AuditEvent.action)
                .where(
                    AuditEvent.target_type == target_type, AuditEvent.target_id == str(target_id)
                )
                .order_by(AuditEvent.seq)
            )
        )


@SQLITE_AND_PG
def test_dns01_request_is_pending_then_issued_by_the_poll_job_and_revoked_at_pebble(
    client: TestClient, world: World, container: Container, clock: FrozenClock, pebble: PebblePeer
) -> None:
    authority = create_authority(client, world, dns_options(pebble))
    assert authority["plugin"] == "acme"
    assert authority["has_key"] is False
    # The account Lemur registered is stored, its key never shown.
    assert {"account_key", "tsig_secret"} <= set(authority["options"]["secrets_set"])
    assert authority["options"]["account_url"].startswith(pebble.directory_url.rsplit("/", 1)[0])
    assert pebble.tsig_secret not in json.dumps(authority)

    apex = unique("shop") + "." + pebble.zone
    pending = request_pending(client, world, authority["id"], [apex, f"*.{apex}"])
    assert pending["state"] == "pending"
    assert pending["names"] == [apex, f"*.{apex}"]
    assert pending["external_id"].startswith("https://")
    # The DNS-01 answer is in BIND9 while the CA validates.
    assert pebble.txt_records(f"_acme-challenge.{apex}")
    assert "request.create" in audit_actions(container, "request", pending["id"])

    done = poll_until_finished(container, clock, client, world, pending["id"])
    assert done["state"] == "issued", done
    assert done["last_error"] is None
    assert pebble.txt_records(f"_acme-challenge.{apex}") == [], "the TXT record was left"

    cert = client.get(
        f"/api/v1/certificates/{done['certificate_id']}", headers=world.headers("member")
    ).json()
    assert sorted(cert["subject_alternative_names"]["dns_names"]) == sorted([apex, f"*.{apex}"])
    assert "Pebble" in cert["issuer_dn"]
    assert cert["team"]["id"] == world.team_ids["own"]
    assert len(cert["chain"]) >= 1, "the chain Pebble sent is kept"
    assert cert["has_private_key"] is True
    assert cert["origin"] == "issued"
    with container.db.read() as session:
        event = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "certificate.issue",
                AuditEvent.target_id == str(done["certificate_id"]),
            )
        ).one()
    assert json.loads(event.details)["requested_by"] == "user:member"
    # The key stayed with Lemur: the request row no longer holds it.
    with container.db.read() as session:
        assert session.get(CertificateRequest, pending["id"]).private_key is None  # type: ignore[union-attr]

    r = client.post(
        f"/api/v1/certificates/{done['certificate_id']}/revoke",
        json={"reason": "key_compromise"},
        headers=world.headers("member"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["revocation_scope"] == "issuer"
    status = pebble.cert_status(int(cert["serial_number_decimal"]))
    assert status["Status"] == "Revoked", status


@SQLITE_ONLY
def test_a_failed_challenge_fails_with_the_cas_reason_and_no_certificate(
    client: TestClient, world: World, container: Container, clock: FrozenClock, pebble: PebblePeer
) -> None:
    authority = create_authority(client, world, dns_options(pebble))
    # _acme-challenge.broken is a CNAME to nowhere in the test zone: validation fails.
    r = issue_raw(client, world, authority_id=authority["id"], dns_names=(f"broken.{pebble.zone}",))
    if r.status_code == 422:
        # Pebble failed the order before issue() returned: the request itself is refused
        # with the CA's reason, and there is no request to follow.
        reason = r.json()["error"]["message"]
        requests_written = 0
    else:
        assert r.status_code == 202, r.text
        done = poll_until_finished(container, clock, client, world, r.json()["id"])
        assert done["state"] == "failed"
        assert done["certificate_id"] is None
        reason = done["last_error"]
        requests_written = 1
        assert audit_actions(container, "request", done["id"]) == ["request.create", "request.fail"]
    assert f"broken.{pebble.zone}" in reason
    assert "No TXT records found" in reason
    assert pebble.tsig_secret not in r.text
    with container.db.read() as session:
        assert session.scalar(select(func.count()).select_from(CertificateRequest)) == (
            requests_written
        )
        assert (
            session.scalar(
                select(func.count())
                .select_from(Certificate)
                .where(Certificate.authority_id == authority["id"])
            )
            == 0
        )


@SQLITE_ONLY
def test_a_request_the_ca_never_answers_fails_after_a_week_and_the_team_hears_of_it(
    client: TestClient, world: World, container: Container, clock: FrozenClock, pebble: PebblePeer
) -> None:
    authority = create_authority(client, world, dns_options(pebble))
    pending = request_pending(client, world, authority["id"], [unique("late") + "." + pebble.zone])
    clock.advance(dt.timedelta(days=8))
    JobEngine(container, container.job_kinds).run_due()
    done = get_request(client, world, pending["id"])
    assert done["state"] == "failed"
    assert "within 7 days" in done["last_error"]
    assert audit_actions(container, "request", pending["id"]) == ["request.create", "request.fail"]
    with container.db.read() as session:
        event = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "request.fail", AuditEvent.target_id == str(pending["id"])
            )
        ).one()
    details = json.loads(event.details)
    assert details["team_id"] == world.team_ids["own"]
    assert details["requested_by"] == "user:member"


@SQLITE_ONLY
def test_cancelling_withdraws_the_order_and_a_second_cancel_is_refused(
    client: TestClient, world: World, container: Container, pebble: PebblePeer
) -> None:
    authority = create_authority(client, world, dns_options(pebble))
    name = unique("gone") + "." + pebble.zone
    pending = request_pending(client, world, authority["id"], [name])
    r = client.post(f"/api/v1/requests/{pending['id']}/cancel", headers=world.headers("outsider"))
    assert r.status_code == 404, "another team's request is not even visible"
    r = client.post(f"/api/v1/requests/{pending['id']}/cancel", headers=world.headers("member"))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "cancelled"
    assert pebble.txt_records(f"_acme-challenge.{name}") == []
    again = client.post(f"/api/v1/requests/{pending['id']}/cancel", headers=world.headers("member"))
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "request_finished"
    # Its poll job, when it runs, leaves the cancelled request as it is.
    JobEngine(container, container.job_kinds).run_due()
    assert get_request(client, world, pending["id"])["state"] == "cancelled"


@SQLITE_ONLY
def test_a_ca_that_went_away_leaves_the_request_pending_and_retried_visibly(
    client: TestClient,
    world: World,
    container: Container,
    clock: FrozenClock,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    bind: BindServer = request.getfixturevalue("_pebble_bind")
    own = PebblePeer(tmp_path / "pebble", bind)
    try:
        authority = create_authority(client, world, dns_options(own))
        pending = request_pending(client, world, authority["id"], [unique("down") + "." + own.zone])
    finally:
        own.stop()
    clock.advance(dt.timedelta(seconds=5))
    JobEngine(container, container.job_kinds).run_due()
    request = get_request(client, world, pending["id"])
    assert request["state"] == "pending"
    assert request["failures"] == 1
    assert request["last_error"].startswith("will retry:")
    # The next poll waits (backoff), and is scheduled.
    next_poll = dt.datetime.fromisoformat(request["next_poll_at"])
    assert next_poll > clock.now() + dt.timedelta(seconds=10)
    r = client.get("/api/v1/requests?state=pending", headers=world.headers("member"))
    assert [i["id"] for i in r.json()["items"]] == [pending["id"]]


@SQLITE_ONLY
def test_a_restart_in_the_middle_loses_no_order(
    client: TestClient,
    world: World,
    container: Container,
    clock: FrozenClock,
    settings: Any,
    pebble: PebblePeer,
) -> None:
    authority = create_authority(client, world, dns_options(pebble))
    pending = request_pending(
        client, world, authority["id"], [unique("restart") + "." + pebble.zone]
    )
    container.close()
    # Another Lemur process on the same database finishes it.
    again = build_container(settings, init=False, clock=clock, hasher=FAST_HASHER)
    try:
        engine = JobEngine(again, again.job_kinds)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            clock.advance(dt.timedelta(seconds=2))
            engine.run_due()
            with again.db.read() as session:
                state = session.get(CertificateRequest, pending["id"]).state  # type: ignore[union-attr]
            if state != "pending":
                break
            time.sleep(0.3)
        assert state == "issued"
    finally:
        again.close()


@SQLITE_ONLY
def test_bad_input_creates_nothing_and_shows_no_secret(
    client: TestClient, world: World, container: Container, pebble: PebblePeer
) -> None:
    def create(options: dict[str, Any], plugin: str = "acme") -> Any:
        return client.post(
            "/api/v1/authorities",
            json={"name": unique("bad"), "plugin": plugin, "options": options},
            headers=world.headers("admin2"),
        )

    r = create({}, plugin="no-such-ca")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "plugin_not_found"
    r = create({**dns_options(pebble), "dns_port": "not a port"})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "options.dns_port"
    r = create(base_options(pebble, directory_url="https://127.0.0.1:1/dir"))
    assert r.status_code in (422, 503), r.text
    assert "directory" in r.json()["error"]["message"].lower()
    r = create({**dns_options(pebble), "tsig_secret": "c2VjcmV0LXRoYXQtaXMtd3Jvbmc="})
    # A wrong TSIG key is found when connecting? No: only when updating DNS. The
    # authority is created; the request then fails without the secret in the message.
    if r.status_code == 201:
        pending = issue_raw(
            client, world, authority_id=r.json()["id"], dns_names=(f"x.{pebble.zone}",)
        )
        assert pending.status_code in (422, 502, 503), pending.text
        assert "c2VjcmV0LXRoYXQtaXMtd3Jvbmc" not in pending.text
    # Local-only fields are refused for a remote CA, naming the field.
    r = client.post(
        "/api/v1/authorities",
        json={
            "name": unique("bad"),
            "plugin": "acme",
            "options": dns_options(pebble),
            "subject": {"common_name": "x"},
        },
        headers=world.headers("admin2"),
    )
    assert r.status_code == 422
    assert r.json()["error"] == {
        "code": "not_for_remote_authority",
        "message": r.json()["error"]["message"],
        "field": "subject",
    }
    with container.db.read() as session:
        assert session.scalar(select(func.count()).select_from(CertificateRequest)) == 0


@SQLITE_ONLY
def test_a_wildcard_over_http01_is_refused_before_anything_is_written(
    client: TestClient, world: World, container: Container, pebble: PebblePeer
) -> None:
    authority = create_authority(client, world, base_options(pebble, challenge="http-01"))
    r = issue_raw(client, world, authority_id=authority["id"], dns_names=(f"*.{pebble.zone}",))
    assert r.status_code == 422, r.text
    assert "dns-01" in r.json()["error"]["message"].lower()
    with container.db.read() as session:
        assert session.scalar(select(func.count()).select_from(CertificateRequest)) == 0


@SQLITE_ONLY
def test_options_update_keeps_secrets_and_check_connection_says_what_it_checked(
    client: TestClient, world: World, pebble: PebblePeer
) -> None:
    authority = create_authority(client, world, dns_options(pebble))
    shown = authority["options"]
    changed = {k: v for k, v in shown.items() if k != "secrets_set" and v is not None}
    changed["contact_email"] = "new-contact@example.org"
    r = client.patch(
        f"/api/v1/authorities/{authority['id']}",
        json={"options": changed},
        headers=world.headers("admin2"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["options"]["contact_email"] == "new-contact@example.org"
    assert set(r.json()["options"]["secrets_set"]) == set(shown["secrets_set"])
    r = client.post(f"/api/v1/authorities/{authority['id']}/check", headers=world.headers("admin2"))
    assert r.status_code == 200, r.text
    assert r.json()["summary"]
    r = client.post(f"/api/v1/authorities/{authority['id']}/check", headers=world.headers("member"))
    assert r.status_code == 403
    # A new directory URL that does not answer keeps the old options.
    bad = {**changed, "directory_url": "https://127.0.0.1:1/dir"}
    r = client.patch(
        f"/api/v1/authorities/{authority['id']}",
        json={"options": bad},
        headers=world.headers("admin2"),
    )
    assert r.status_code in (422, 503)
    kept = client.get(f"/api/v1/authorities/{authority['id']}", headers=world.headers("admin2"))
    assert kept.json()["options"]["directory_url"] == pebble.directory_url


@SQLITE_ONLY
def test_automatic_renewal_asks_the_ca_again_and_links_the_successor(
    client: TestClient, world: World, container: Container, clock: FrozenClock, pebble: PebblePeer
) -> None:
    authority = create_authority(client, world, dns_options(pebble))
    name = unique("renew") + "." + pebble.zone
    first = poll_until_finished(
        container,
        clock,
        client,
        world,
        request_pending(client, world, authority["id"], [name])["id"],
    )
    old = client.get(
        f"/api/v1/certificates/{first['certificate_id']}", headers=world.headers("member")
    ).json()
    # Into the renewal window (Pebble's certificates last five years).
    not_after = dt.datetime.fromisoformat(old["not_after"])
    clock.advance(not_after - clock.now() - dt.timedelta(days=10))
    world.tokens["member"] = world.add_token("member")  # the old one has expired meanwhile
    start_pass(container)
    drain(JobEngine(container, container.job_kinds))
    r = client.get("/api/v1/requests?state=pending", headers=world.headers("member"))
    [renewal] = r.json()["items"]
    assert renewal["replaces_id"] == old["id"]
    # A second renewal while this one is pending is refused.
    again = client.post(
        f"/api/v1/certificates/{old['id']}/renew", json={}, headers=world.headers("member")
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "renewal_pending"
    done = poll_until_finished(container, clock, client, world, renewal["id"])
    assert done["state"] == "issued", done
    new = client.get(
        f"/api/v1/certificates/{done['certificate_id']}", headers=world.headers("member")
    ).json()
    assert new["replaces_id"] == old["id"]
    assert [e["id"] for e in new["lineage"]] == [old["id"], new["id"]]
    assert new["subject_alternative_names"]["dns_names"] == [name]
    assert "certificate.renew" in audit_actions(container, "certificate", new["id"])


@SQLITE_AND_PG
def test_lemur_serves_the_http01_answers_it_publishes_and_forgets_withdrawn_ones(
    client: TestClient, container: Container, clock: FrozenClock
) -> None:
    responder = DatabaseChallenges(container.db, container.clock)
    token = "Tk-" + "a" * 40
    responder.publish(token, f"{token}.thumbprint")
    r = client.get(f"/.well-known/acme-challenge/{token}")
    assert r.status_code == 200
    assert r.text == f"{token}.thumbprint"
    assert r.headers["content-type"].startswith("text/plain")
    responder.withdraw(token)
    assert client.get(f"/.well-known/acme-challenge/{token}").status_code == 404
    assert client.get("/.well-known/acme-challenge/..%2F..%2Fetc").status_code == 404
    # A day later, maintenance removes answers of orders that never finished.
    responder.publish(token, "stale")
    clock.advance(dt.timedelta(days=2))
    with container.db.write() as session:
        assert remove_stale(session, clock.now()) == 1
        session.commit()
    assert client.get(f"/.well-known/acme-challenge/{token}").status_code == 404


@SQLITE_ONLY
def test_http01_through_lemurs_own_answers(
    client: TestClient, world: World, container: Container, clock: FrozenClock, pebble: PebblePeer
) -> None:
    """Pebble's HTTP-01 validation reaches Lemur's /.well-known route (in-process here: the
    pebble fixture's forwarder asks this app through a TestClient of the same container)."""
    previous = pebble.http01_target
    pebble.http01_target = None
    real = pebble.responder
    pebble.responder = _LemurAnswers(client)  # type: ignore[assignment]
    try:
        authority = create_authority(client, world, base_options(pebble, challenge="http-01"))
        name = unique("web") + "." + pebble.zone
        pending = request_pending(client, world, authority["id"], [name])
        done = poll_until_finished(container, clock, client, world, pending["id"])
        assert done["state"] == "issued", done
        with container.db.read() as session:
            left = session.scalar(select(func.count()).select_from(AcmeChallenge))
        assert left == 0, "the answers were not withdrawn"
    finally:
        pebble.responder = real
        pebble.http01_target = previous


class _LemurAnswers:
    """What the pebble fixture's HTTP-01 server serves: Lemur's own route."""

    def __init__(self, client: TestClient) -> None:
        self._client = client

    def content(self, token: str) -> str | None:
        r = self._client.get(f"/.well-known/acme-challenge/{token}")
        return r.text if r.status_code == 200 else None


@SQLITE_ONLY
def test_renewing_with_a_csr_without_names_is_refused_before_the_ca_is_asked(
    client: TestClient, world: World, container: Container, clock: FrozenClock, pebble: PebblePeer
) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    authority = create_authority(client, world, dns_options(pebble))
    name = unique("csr") + "." + pebble.zone
    first = poll_until_finished(
        container,
        clock,
        client,
        world,
        request_pending(client, world, authority["id"], [name])["id"],
    )
    key = ec.generate_private_key(ec.SECP256R1())
    bare = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .sign(key, hashes.SHA256())
    )
    r = client.post(
        f"/api/v1/certificates/{first['certificate_id']}/renew",
        json={"csr": bare.public_bytes(serialization.Encoding.PEM).decode()},
        headers=world.headers("member"),
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "csr_names_required"
    assert r.json()["error"]["field"] == "csr"
    assert name in r.json()["error"]["message"]
    with container.db.read() as session:
        assert session.scalar(select(func.count()).select_from(CertificateRequest)) == 1
