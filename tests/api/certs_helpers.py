"""Shared helpers for the certificate and authority API tests: requests, row counts, and
test material (CAs, leaves, CSRs, PKCS#12) built with cryptography, plus the external
checkers (openssl verify, pkilint)."""

from __future__ import annotations

import base64
import datetime as dt
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lemur.app import create_app
from lemur.audit.models import AuditEvent
from lemur.authorities.models import Authority
from lemur.certificates.models import Certificate, CertificateName, PrivateKey
from lemur.container import Container, build_container
from tests.api.conftest import World
from tests.conftest import FAST_HASHER

TABLES: tuple[type[Any], ...] = (Certificate, CertificateName, PrivateKey, AuditEvent, Authority)
ECKey = ec.EllipticCurvePrivateKey


# -- database --------------------------------------------------------------------------------


def counts(container: Container) -> dict[str, int]:
    """Rows per table that a certificate or authority request could write."""
    with container.db.read() as session:
        return {
            model.__tablename__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in TABLES
        }


def stored_key(container: Container, certificate_id: int) -> str | None:
    with container.db.read() as session:
        row = session.get(PrivateKey, certificate_id)
        return None if row is None else row.ciphertext


def audit_rows(container: Container) -> list[AuditEvent]:
    with container.db.read() as session:
        rows = session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        session.expunge_all()
        return list(rows)


# -- API -------------------------------------------------------------------------------------


def error(r: httpx.Response, status: int, code: str, field: str | None) -> str:
    """Assert a Lemur error response and return its message."""
    assert r.status_code == status, r.text
    body = r.json()["error"]
    assert body["code"] == code, r.text
    assert body["field"] == field, r.text
    message: str = body["message"]
    return message


def authority(client: TestClient, world: World, name: str) -> dict[str, Any]:
    r = client.get("/api/v1/authorities", headers=world.headers("reader"))
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = [a for a in r.json() if a["name"] == name]
    assert found, f"no authority {name}"
    return found[0]


def issuing_ca(client: TestClient, world: World) -> dict[str, Any]:
    return authority(client, world, "local-issuing-ca")


@contextmanager
def client_with_base_url(container: Container, base_url: str) -> Iterator[TestClient]:
    """A second app over the same database and key ring, configured with ``base_url``."""
    configured = container.settings.model_copy(update={"base_url": base_url})
    other = build_container(configured, init=False, clock=container.clock, hasher=FAST_HASHER)
    try:
        with TestClient(create_app(other), client=("192.0.2.10", 50000)) as c:
            yield c
    finally:
        other.close()


def issue_raw(
    client: TestClient,
    world: World,
    *,
    who: str = "member",
    team: str = "own",
    authority_id: int | None = None,
    dns_names: tuple[str, ...] | list[str] = ("www.example.com",),
    **body: Any,
) -> httpx.Response:
    payload: dict[str, Any] = {
        "team_id": world.team_ids[team],
        "authority_id": authority_id
        if authority_id is not None
        else issuing_ca(client, world)["id"],
        **body,
    }
    if dns_names and "csr" not in body:
        sans = dict(payload.get("subject_alternative_names", {}))
        sans.setdefault("dns_names", list(dns_names))
        payload["subject_alternative_names"] = sans
    return client.post("/api/v1/certificates", json=payload, headers=world.headers(who))


def issue(client: TestClient, world: World, **kwargs: Any) -> dict[str, Any]:
    r = issue_raw(client, world, **kwargs)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def create_authority(
    client: TestClient,
    world: World,
    name: str,
    *,
    who: str = "admin2",
    expect: int = 201,
    **body: Any,
) -> dict[str, Any]:
    payload = {"name": name, "subject": {"common_name": name}, **body}
    r = client.post("/api/v1/authorities", json=payload, headers=world.headers(who))
    assert r.status_code == expect, r.text
    out: dict[str, Any] = r.json()
    return out


CAB_SUBJECT = {"common_name": "Public Root", "organization": "Example", "country": "US"}


def create_cab_forum_pair(
    client: TestClient, world: World, *, sub_name: str = "Public Issuing", **sub_body: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A CA/B Forum root (``public-root``) and an issuing CA below it (``public-sub``); the
    client must be one whose base URL is plain http (the BR need it for CRL/OCSP URLs)."""
    root = create_authority(
        client, world, "public-root", subject=CAB_SUBJECT, cab_forum=True, validity_days=3000
    )
    sub = create_authority(
        client,
        world,
        "public-sub",
        subject={**CAB_SUBJECT, "common_name": sub_name},
        cab_forum=True,
        parent_id=root["id"],
        path_length=0,
        validity_days=1000,
        **sub_body,
    )
    return root, sub


def export(
    client: TestClient,
    world: World,
    certificate_id: int,
    fmt: str,
    *,
    who: str = "member",
    passphrase: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"format": fmt}
    if passphrase is not None:
        body["passphrase"] = passphrase
    return client.post(
        f"/api/v1/certificates/{certificate_id}/export", json=body, headers=world.headers(who)
    )


def x509_from_pem(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


# -- test material ---------------------------------------------------------------------------

EPOCH = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)  # tests/conftest.py START
DAY = dt.timedelta(days=1)


def new_key() -> ECKey:
    return ec.generate_private_key(ec.SECP256R1())


def dn(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example External PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def make_ca(
    common_name: str,
    *,
    issuer: tuple[ECKey, x509.Certificate] | None = None,
    days: int = 3650,
) -> tuple[ECKey, x509.Certificate]:
    key = new_key()
    signer_key, issuer_name = (
        (key, dn(common_name)) if issuer is None else (issuer[0], issuer[1].subject)
    )
    aki_key = key.public_key() if issuer is None else issuer[0].public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(dn(common_name))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(EPOCH - 30 * DAY)
        .not_valid_after(EPOCH + days * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(aki_key), critical=False)
        .sign(signer_key, hashes.SHA256())
    )
    return key, cert


def make_leaf(
    issuer: tuple[ECKey, x509.Certificate],
    host: str = "imported.example.com",
    *,
    days: int = 90,
) -> tuple[ECKey, x509.Certificate]:
    key = new_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(issuer[1].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(EPOCH - DAY)
        .not_valid_after(EPOCH + days * DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[0].public_key()),
            critical=False,
        )
        .sign(issuer[0], hashes.SHA256())
    )
    return key, cert


def make_csr(
    key: ECKey | None = None,
    *,
    common_name: str | None = "csr.example.com",
    dns_names: tuple[str, ...] = ("csr.example.com", "alt.example.com"),
) -> str:
    key = key or new_key()
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else [])
    )
    if dns_names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
        )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def key_pem(key: ECKey, passphrase: bytes | None = None) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


def der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def p12_b64(
    key: ECKey, cert: x509.Certificate, chain: list[x509.Certificate], passphrase: bytes
) -> str:
    data = pkcs12.serialize_key_and_certificates(
        b"imported", key, cert, chain, serialization.BestAvailableEncryption(passphrase)
    )
    return base64.b64encode(data).decode()


def same_public_key(a: Any, b: Any) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return bool(a.public_bytes(*fmt) == b.public_bytes(*fmt))


# -- external checkers -----------------------------------------------------------------------


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def openssl_verify(
    tmp: Path, root: str, intermediates: list[str], leaf: str, *, at: dt.datetime = EPOCH
) -> subprocess.CompletedProcess[str]:
    """`openssl verify -CAfile root.pem -untrusted intermediate.pem leaf.pem` at the frozen
    clock's time (the certificates are issued on the test clock, not the wall clock)."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "root.pem").write_text(root)
    (tmp / "leaf.pem").write_text(leaf)
    args: list[str | Path] = ["verify", "-attime", str(int(at.timestamp()))]
    args += ["-CAfile", tmp / "root.pem"]
    if intermediates:
        (tmp / "intermediate.pem").write_text("".join(intermediates))
        args += ["-untrusted", tmp / "intermediate.pem"]
    return openssl(*args, tmp / "leaf.pem")
