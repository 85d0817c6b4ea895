"""Rotation through Lemur on AWS load balancers (a real moto server): an ``aws-iam``
destination with an ELBv2 listener and a classic ELB listener as its endpoints; a
certificate deployed there is served by both listeners; `rotate` puts its replacement on
both and takes it off; the dry run and the blast radius name the listeners."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from fastapi.testclient import TestClient

from lemur.container import Container
from tests.api.certs_helpers import issue, issuing_ca
from tests.api.conftest import World
from tests.deployments.test_deploy_api import deployments, run_jobs
from tests.destinations.aws.conftest import PKI, LoadBalancers, account_options
from tests.peers.moto import MotoServer


def test_rotation_moves_both_listeners_to_the_replacement(
    client: TestClient,
    world: World,
    container: Container,
    moto_server: MotoServer,
    pki: PKI,
) -> None:
    balancers = LoadBalancers(moto_server.client)
    iam = moto_server.client("iam")
    # The listeners serve a certificate uploaded by hand before Lemur came.
    first = pki.bundle("before-lemur.example.test")
    assert first.private_key is not None
    by_hand = iam.upload_server_certificate(
        ServerCertificateName="by-hand",
        CertificateBody=first.certificate.public_bytes(serialization.Encoding.PEM).decode(),
        PrivateKey=first.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    )["ServerCertificateMetadata"]["Arn"]
    elbv2 = balancers.elbv2_listener(by_hand)
    classic = balancers.classic_listener(by_hand)
    r = client.post(
        "/api/v1/destinations",
        json={
            "name": "prod-iam",
            "plugin": "aws-iam",
            "options": account_options(moto_server),
            "endpoints": [
                {"kind": "listener", "listener": elbv2},
                {"kind": "listener", "listener": classic},
            ],
        },
        headers=world.headers("admin2"),
    )
    assert r.status_code == 201, r.text
    dest = r.json()
    assert dest["options"]["secret_access_key"] is None
    old = issue(client, world, dns_names=["shop.example.test"], destinations=[dest["id"]])
    run_jobs(container)
    [placed] = deployments(client, world, old["id"])
    assert placed["state"] == "deployed", placed
    assert placed["ref"].startswith("arn:aws:iam::")
    assert placed["ref"] in [arn for arn, _ in balancers.served(elbv2)]
    assert balancers.classic_served(classic) == placed["ref"]

    new = issue(client, world, dns_names=["shop.example.test"])
    plan = client.post(
        f"/api/v1/certificates/{old['id']}/rotate",
        json={"to": new["id"], "dry_run": True},
        headers=world.headers("member"),
    ).json()
    [step] = plan["steps"]
    assert [e["listener"] for e in step["endpoints"]] == [elbv2, classic]
    assert placed["ref"] in [arn for arn, _ in balancers.served(elbv2)]  # nothing changed

    r = client.post(
        f"/api/v1/certificates/{old['id']}/rotate",
        json={"to": new["id"]},
        headers=world.headers("member"),
    )
    assert r.status_code == 200, r.text
    run_jobs(container)
    [rotated] = deployments(client, world, new["id"])
    assert rotated["state"] == "deployed", rotated
    served = [arn for arn, _ in balancers.served(elbv2)]
    assert rotated["ref"] in served
    assert placed["ref"] not in served
    assert by_hand in served  # what Lemur did not deploy stays
    assert balancers.classic_served(classic) == rotated["ref"]
    assert deployments(client, world, old["id"])[0]["state"] == "replaced"

    radius: dict[str, Any] = client.get(
        f"/api/v1/authorities/{issuing_ca(client, world)['id']}/blast-radius",
        headers=world.headers("admin2"),
    ).json()
    [depends] = radius["destinations"]
    assert depends["certificate_ids"] == [new["id"]]
    assert radius["endpoints"] == 2
