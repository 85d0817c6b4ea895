"""Deploying through Lemur's API to a real nginx: a certificate requested with a destination
lands in nginx's files, nginx is reloaded and serves it (checked by a TLS handshake with
SNI); renewal carries it to the same place; a reload that breaks is rolled back; the blast
radius names what depends on a certificate and on its authority. Jobs run in-process on the
test's database (SQLite and PostgreSQL), exactly as a runner runs them."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from fastapi.testclient import TestClient

from lemur.container import Container, build_container
from lemur.jobs.engine import JobEngine
from tests.api.certs_helpers import issue, issue_raw, issuing_ca, make_csr
from tests.api.conftest import World
from tests.api.renewal_helpers import details, drain, events
from tests.conftest import FAST_HASHER
from tests.peers.nginx import SITES, NginxPeer
from tests.peers.sshd import SSHDPeer

SITE = SITES[1]  # b.example.test: not the default server, so SNI decides


def run_jobs(container: Container) -> None:
    drain(JobEngine(container, container.job_kinds), rounds=10)


def create_destination(
    client: TestClient,
    world: World,
    nginx: NginxPeer,
    *,
    name: str = "web-1",
    reload: list[str] | None = None,
    endpoint: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "plugin": "directory",
        "options": {
            "directory": str(nginx.site_directory(SITE)),
            "owner": "deployer",
            "reload_command": reload if reload is not None else nginx.reload_argv,
            "reload_timeout": 10,
        },
        "endpoints": [{"host": nginx.host, "port": nginx.port, "sni": SITE}] if endpoint else [],
        **extra,
    }
    r = client.post("/api/v1/destinations", json=body, headers=world.headers("admin2"))
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def deployments(client: TestClient, world: World, cert_id: int) -> list[dict[str, Any]]:
    r = client.get(f"/api/v1/certificates/{cert_id}/deployments", headers=world.headers("member"))
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()
    return rows


def leaf_of(cert: dict[str, Any]) -> x509.Certificate:
    return x509.load_pem_x509_certificate(cert["pem"].encode())


def files_hold(directory: Path, cert: dict[str, Any]) -> bool:
    return (directory / "cert.pem").read_text() == cert["pem"]


@pytest.fixture
def nginx(nginx_peer: NginxPeer) -> NginxPeer:
    return nginx_peer


def test_a_certificate_requested_with_a_destination_is_served_there(
    client: TestClient, world: World, container: Container, nginx: NginxPeer
) -> None:
    dest = create_destination(client, world, nginx)
    assert dest["endpoints"][0]["label"] == f"{nginx.host}:{nginx.port} (SNI {SITE})"
    cert = issue(client, world, dns_names=[SITE], destinations=[dest["id"]])
    pending = deployments(client, world, cert["id"])
    assert [(d["destination_name"], d["state"]) for d in pending] == [("web-1", "pending")]

    run_jobs(container)

    [done] = deployments(client, world, cert["id"])
    assert done["state"] == "deployed", done
    assert done["ref"] == str(nginx.site_directory(SITE))
    assert done["verified_at"] is not None
    leaf, _ = nginx.served(SITE)
    assert leaf == leaf_of(cert)
    assert files_hold(nginx.site_directory(SITE), cert)
    # The key's deployment is an audit event, and the key never went through the API.
    [event] = events(container, "certificate.deploy", cert["id"])
    assert details(event)["key"] is True
    assert details(event)["destination"] == "web-1"
    shown = client.get(f"/api/v1/destinations/{dest['id']}", headers=world.headers("member"))
    seen = shown.json()["endpoints"][0]["last_fingerprint"]
    assert seen == leaf_of(cert).fingerprint(hashes.SHA256()).hex()


def test_renewal_deploys_the_successor_where_its_predecessor_is(
    client: TestClient, world: World, container: Container, nginx: NginxPeer
) -> None:
    dest = create_destination(client, world, nginx)
    old = issue(client, world, dns_names=[SITE], destinations=[dest["id"]])
    run_jobs(container)
    r = client.post(
        f"/api/v1/certificates/{old['id']}/renew", json={}, headers=world.headers("member")
    )
    assert r.status_code == 201, r.text
    new = r.json()
    run_jobs(container)

    [deployed] = deployments(client, world, new["id"])
    assert deployed["state"] == "deployed"
    assert deployed["previous_id"] == old["id"]
    [replaced] = deployments(client, world, old["id"])
    assert replaced["state"] == "replaced"
    nginx.wait_for(SITE, leaf_of(new))
    old_radius = client.get(
        f"/api/v1/certificates/{old['id']}/blast-radius", headers=world.headers("member")
    ).json()
    assert old_radius["destinations"] == []
    authority_id = issuing_ca(client, world)["id"]
    radius = client.get(
        f"/api/v1/authorities/{authority_id}/blast-radius", headers=world.headers("member")
    ).json()
    assert [d["destination_name"] for d in radius["destinations"]] == ["web-1"]
    assert radius["destinations"][0]["certificate_ids"] == [new["id"]]
    assert radius["endpoints"] == 1


def test_a_reload_that_fails_is_rolled_back_and_the_owners_are_told(
    client: TestClient, world: World, container: Container, nginx: NginxPeer
) -> None:
    dest = create_destination(client, world, nginx)
    old = issue(client, world, dns_names=[SITE], destinations=[dest["id"]])
    run_jobs(container)
    nginx.wait_for(SITE, leaf_of(old))
    r = client.patch(
        f"/api/v1/destinations/{dest['id']}",
        json={"options": {"reload_command": ["/bin/sh", "-c", "echo no such site >&2; exit 3"]}},
        headers=world.headers("admin2"),
    )
    assert r.status_code == 200, r.text
    r = client.post(
        f"/api/v1/certificates/{old['id']}/renew", json={}, headers=world.headers("member")
    )
    new = r.json()
    run_jobs(container)

    [failed] = deployments(client, world, new["id"])
    assert failed["state"] == "rolled_back", failed
    assert "exit" in failed["last_error"]
    assert "no such site" in failed["last_error"]
    # The previous certificate is in the files again and still served; it stays deployed.
    assert files_hold(nginx.site_directory(SITE), old)
    leaf, _ = nginx.served(SITE)
    assert leaf == leaf_of(old)
    [kept] = deployments(client, world, old["id"])
    assert kept["state"] == "deployed"
    [event] = events(container, "certificate.deploy_failed", new["id"])
    assert details(event)["rolled_back"] is True
    assert details(event)["team_id"] == world.team_ids["own"]

    # Fixed, the next renewal replaces the certificate still served (not the rolled back).
    r = client.patch(
        f"/api/v1/destinations/{dest['id']}",
        json={"options": {"reload_command": nginx.reload_argv}},
        headers=world.headers("admin2"),
    )
    assert r.status_code == 200, r.text
    newest = client.post(
        f"/api/v1/certificates/{new['id']}/renew", json={}, headers=world.headers("member")
    ).json()
    run_jobs(container)
    [done] = deployments(client, world, newest["id"])
    assert (done["state"], done["previous_id"]) == ("deployed", old["id"])
    assert deployments(client, world, old["id"])[0]["state"] == "replaced"
    nginx.wait_for(SITE, leaf_of(newest))


def test_an_endpoint_serving_something_else_fails_verification_and_rolls_back(
    client: TestClient, world: World, container: Container, nginx: NginxPeer
) -> None:
    """The files land but the endpoint is another site: what it serves is not the deployed
    certificate, so the deployment is rolled back."""
    dest = create_destination(client, world, nginx, endpoint=False)
    old = issue(client, world, dns_names=[SITE], destinations=[dest["id"]])
    run_jobs(container)
    r = client.post(
        f"/api/v1/destinations/{dest['id']}/endpoints",
        json={"host": nginx.host, "port": nginx.port, "sni": SITES[0]},
        headers=world.headers("admin2"),
    )
    assert r.status_code == 201, r.text
    new = client.post(
        f"/api/v1/certificates/{old['id']}/renew", json={}, headers=world.headers("member")
    ).json()
    run_jobs(container)
    [failed] = deployments(client, world, new["id"])
    assert failed["state"] == "rolled_back"
    assert "serves another certificate" in failed["last_error"]
    assert files_hold(nginx.site_directory(SITE), old)


def test_destination_choices_are_checked_before_anything_is_signed(
    client: TestClient, world: World, container: Container, nginx: NginxPeer
) -> None:
    reserved = create_destination(
        client, world, nginx, name="other-team-web", team_id=world.team_ids["other"]
    )
    before = client.get("/api/v1/certificates", headers=world.headers("admin2")).json()
    r = issue_raw(client, world, dns_names=[SITE], destinations=[reserved["id"]])
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "destination_not_allowed"
    assert r.json()["error"]["field"] == "destinations[0]"
    r = issue_raw(client, world, dns_names=[SITE], destinations=[999999])
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "destination_not_found"
    after = client.get("/api/v1/certificates", headers=world.headers("admin2")).json()
    assert after == before


def test_a_destination_that_cannot_be_reached_is_not_created(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    r = client.post(
        "/api/v1/destinations",
        json={
            "name": "nowhere",
            "plugin": "directory",
            "options": {"directory": str(tmp_path / "missing")},
        },
        headers=world.headers("admin2"),
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"].startswith("options.directory")
    assert client.get("/api/v1/destinations", headers=world.headers("admin2")).json() == []
    r = client.post(
        "/api/v1/destinations",
        json={"name": "x", "plugin": "ftp", "options": {}},
        headers=world.headers("admin2"),
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "unknown_plugin"
    r = client.post(
        "/api/v1/destinations",
        json={
            "name": "bad-endpoint",
            "plugin": "directory",
            "options": {"directory": str(tmp_path)},
            "endpoints": [{"host": "exa mple.com", "port": 443}],
        },
        headers=world.headers("admin2"),
    )
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "endpoints[0].host"


def test_rotate_dry_run_shows_the_steps_and_changes_nothing(
    client: TestClient, world: World, container: Container, nginx: NginxPeer
) -> None:
    dest = create_destination(client, world, nginx)
    old = issue(client, world, dns_names=[SITE], destinations=[dest["id"]])
    run_jobs(container)
    new = issue(client, world, dns_names=[SITE])
    r = client.post(
        f"/api/v1/certificates/{old['id']}/rotate",
        json={"to": new["id"], "dry_run": True},
        headers=world.headers("member"),
    )
    assert r.status_code == 200, r.text
    plan = r.json()
    assert [(s["destination_name"], s["action"]) for s in plan["steps"]] == [("web-1", "deploy")]
    assert plan["steps"][0]["endpoints"][0]["sni"] == SITE
    assert plan["deployment_ids"] == []
    assert deployments(client, world, new["id"]) == []

    r = client.post(
        f"/api/v1/certificates/{old['id']}/rotate",
        json={"to": new["id"]},
        headers=world.headers("member"),
    )
    assert r.status_code == 200
    run_jobs(container)
    [done] = deployments(client, world, new["id"])
    assert done["state"] == "deployed"
    nginx.wait_for(SITE, leaf_of(new))
    assert deployments(client, world, old["id"])[0]["state"] == "replaced"


def test_removing_a_destination_removes_the_files(
    client: TestClient, world: World, container: Container, tmp_path: Path
) -> None:
    r = client.post(
        "/api/v1/destinations",
        json={"name": "plain-dir", "plugin": "directory", "options": {"directory": str(tmp_path)}},
        headers=world.headers("admin2"),
    )
    dest = r.json()
    cert = issue(client, world, destinations=[dest["id"]])
    run_jobs(container)
    assert (tmp_path / "cert.pem").read_text() == cert["pem"]
    r = client.delete(f"/api/v1/destinations/{dest['id']}", headers=world.headers("admin2"))
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "destination_in_use"
    r = client.delete(
        f"/api/v1/certificates/{cert['id']}/destinations/{dest['id']}",
        headers=world.headers("member"),
    )
    assert r.status_code == 200, r.text
    assert r.json()[0]["state"] == "removing"
    run_jobs(container)
    assert deployments(client, world, cert["id"])[0]["state"] == "removed"
    assert not (tmp_path / "cert.pem").exists()
    assert not (tmp_path / "key.pem").exists()
    assert (
        client.delete(
            f"/api/v1/destinations/{dest['id']}", headers=world.headers("admin2")
        ).status_code
        == 204
    )


def test_a_csr_request_cannot_name_destinations(
    client: TestClient, world: World, tmp_path: Path
) -> None:
    dest = client.post(
        "/api/v1/destinations",
        json={"name": "csr-dir", "plugin": "directory", "options": {"directory": str(tmp_path)}},
        headers=world.headers("admin2"),
    ).json()
    r = issue_raw(
        client,
        world,
        dns_names=(),
        csr=make_csr(common_name=SITE, dns_names=(SITE,)),
        destinations=[dest["id"]],
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "destinations_need_key"
    assert json.loads(r.text)["error"]["field"] == "destinations"


def test_sftp_secrets_are_never_returned_logged_or_in_errors(
    client: TestClient,
    world: World,
    container: Container,
    sshd_peer: SSHDPeer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    remote = sshd_peer.remote_directory()
    options = {
        "host": sshd_peer.host,
        "port": sshd_peer.port,
        "username": sshd_peer.username,
        "password": sshd_peer.password,
        "host_key": sshd_peer.host_public_key,
        "directory": str(remote),
    }
    r = client.post(
        "/api/v1/destinations",
        json={"name": "sftp-pw", "plugin": "sftp", "options": options},
        headers=world.headers("admin2"),
    )
    assert r.status_code == 201, r.text
    dest = r.json()
    assert dest["options"]["password"] is None
    assert dest["options"]["secrets_set"] == ["password"]
    cert = issue(client, world, destinations=[dest["id"]])
    run_jobs(container)
    assert deployments(client, world, cert["id"])[0]["state"] == "deployed"
    assert (remote / "cert.pem").read_text() == cert["pem"]
    # A wrong password: refused when saved, naming the option, never showing either.
    wrong = "not-the-Password-0042"
    r = client.patch(
        f"/api/v1/destinations/{dest['id']}",
        json={"options": {"password": wrong}},
        headers=world.headers("admin2"),
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "options.password"
    everything = caplog.text + r.text + json.dumps(deployments(client, world, cert["id"]))
    for secret in (sshd_peer.password, wrong):
        assert secret not in everything
    listed = client.get("/api/v1/destinations", headers=world.headers("reader")).text
    assert sshd_peer.password not in listed


def test_an_endpoint_the_outbound_policy_refuses_is_not_contacted(
    client: TestClient, world: World, container: Container, tmp_path: Path
) -> None:
    """Endpoints are user input: checking one goes through the outbound address policy, so
    a destination cannot make Lemur probe an address the operator ruled out."""
    r = client.post(
        "/api/v1/destinations",
        json={
            "name": "probe",
            "plugin": "directory",
            "options": {"directory": str(tmp_path)},
            "endpoints": [{"host": "127.0.0.1", "port": 22, "sni": "probe.example.test"}],
        },
        headers=world.headers("admin2"),
    )
    assert r.status_code == 201, r.text
    cert = issue(client, world, destinations=[r.json()["id"]])
    # A runner of an installation whose policy denies loopback runs the job.
    denied = container.settings.model_copy(update={"outbound_denied_networks": "127.0.0.0/8"})
    runner = build_container(denied, init=False, clock=container.clock, hasher=FAST_HASHER)
    try:
        run_jobs(runner)
    finally:
        runner.close()
    [failed] = deployments(client, world, cert["id"])
    assert failed["state"] == "failed"
    assert "127.0.0.1" in failed["last_error"]
    assert "denied" in failed["last_error"] or "refus" in failed["last_error"]
