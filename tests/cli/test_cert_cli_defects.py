"""Regression tests for the issue 8 certificate and authority defects seen from the developer
CLI, against a real `lemur serve` (as tests/cli/test_cert_cli.py, whose helpers these reuse)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.cli.test_cert_cli import INVALID, ISSUING, OK, TEAM, Lemur, admin_cli
from tests.peers.server import start_server


@pytest.fixture(scope="module")
def lemur(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lemur]:
    work = tmp_path_factory.mktemp("cli-defects")
    data_dir = work / "data"
    data_dir.mkdir()
    server = start_server(data_dir)
    try:
        args = ("token", "create", "--user", "admin", "--name", "t", "--scope", "write", "--json")
        created = json.loads(admin_cli(data_dir, *args))
        admin_cli(data_dir, "team", "create", TEAM)
        yield Lemur(server, created["token"], work)
    finally:
        server.stop()


def csr_file(path: Path, key: ec.EllipticCurvePrivateKey, name: str) -> Path:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    return path


def api(lemur: Lemur) -> httpx.Client:
    return httpx.Client(
        base_url=lemur.server.base_url, headers={"Authorization": f"Bearer {lemur.token}"}
    )


def test_authority_create_under_a_parent_without_days(lemur: Lemur) -> None:
    root = lemur.json("authority", "show", "local-root-ca")
    sub = lemur.json(
        "authority", "create", "cli-team-ca", "--cn", "Team CA", "--parent", "local-root-ca"
    )
    assert sub["parent_id"] == root["id"]
    root_end = dt.datetime.fromisoformat(root["not_after"])
    assert root_end - dt.timedelta(days=1) < dt.datetime.fromisoformat(sub["not_after"]) <= root_end
    # A root without --days gets the documented 3650 days.
    own_root = lemur.json("authority", "create", "cli-own-root", "--cn", "Own Root")
    lifetime = dt.datetime.fromisoformat(own_root["not_after"]) - dt.datetime.fromisoformat(
        own_root["not_before"]
    )
    assert lifetime.days == 3650
    assert sub["exportable"] is False
    escrowed = lemur.json(
        "authority", "create", "cli-escrowed", "--cn", "Escrowed", "--parent", "cli-own-root",
        "--exportable",
    )  # fmt: skip
    assert escrowed["exportable"] is True


def test_cert_renew_with_csr(lemur: Lemur, tmp_path: Path) -> None:
    first_key = ec.generate_private_key(ec.SECP256R1())
    with api(lemur) as client:
        team = next(t for t in client.get("/api/v1/teams").json() if t["name"] == TEAM)
        ca = next(a for a in client.get("/api/v1/authorities").json() if a["name"] == ISSUING)
        r = client.post(
            "/api/v1/certificates",
            json={
                "team_id": team["id"],
                "authority_id": ca["id"],
                "csr": csr_file(
                    tmp_path / "first.csr", first_key, "renew-csr.example.com"
                ).read_text(),
            },
        )
    assert r.status_code == 201, r.text
    old: dict[str, Any] = r.json()

    refused = lemur.run("cert", "renew", str(old["id"]))
    assert refused.returncode == INVALID, refused.stdout + refused.stderr
    assert "CSR" in refused.stderr
    assert "--csr" in refused.stderr or "csr" in refused.stderr

    new_key = ec.generate_private_key(ec.SECP256R1())
    path = csr_file(tmp_path / "renew.csr", new_key, "renew-csr.example.com")
    done = lemur.run("cert", "renew", str(old["id"]), "--csr", str(path), "--json")
    assert done.returncode == OK, done.stdout + done.stderr
    new = json.loads(done.stdout)
    assert new["replaces_id"] == old["id"]
    assert new["has_private_key"] is False
    cert = x509.load_pem_x509_certificate(new["pem"].encode())
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert cert.public_key().public_bytes(*spki) == new_key.public_key().public_bytes(*spki)
