"""Helpers that fill the inventory quickly for the search, revocation and renewal tests.

``issue`` goes through IssuanceService in-process (the same code the API runs, minus
HTTP), ``issue_via_api`` through the API. ``insert_leaf`` builds a certificate with
lemur.crypto.issuance under a throw-away CA whose validity covers any dates, and stores it
with lemur.certificates.store.CertificateStore: the way to get expired certificates, chosen
serials and certificates without a common name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine

from lemur.authorities.models import Authority
from lemur.authz import cli_principal
from lemur.certificates.models import Certificate
from lemur.certificates.requests import NewCertificate
from lemur.certificates.store import CertificateStore
from lemur.container import Container
from lemur.crypto.issuance import build_ca_certificate, build_leaf_certificate
from lemur.crypto.keys import KeySpec, generate_private_key
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.profiles import Profile
from lemur.services import Services

ROOT_NAME = "local-root-ca"
ISSUING_NAME = "local-issuing-ca"


def authority_ids(client: TestClient, headers: dict[str, str]) -> dict[str, int]:
    """Authority name -> id, as GET /api/v1/authorities lists them."""
    response = client.get("/api/v1/authorities", headers=headers)
    assert response.status_code == 200, response.text
    return {a["name"]: a["id"] for a in response.json()}


def issuing_authority_id(container: Container) -> int:
    with container.db.read() as session:
        found = session.scalar(select(Authority.id).where(Authority.name == ISSUING_NAME))
    assert found is not None
    return int(found)


def issue(
    container: Container,
    *,
    team_id: int,
    authority_id: int | None = None,
    common_name: str | None = None,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    emails: Sequence[str] = (),
    profile: Profile = Profile.SERVER,
    key_spec: KeySpec = KeySpec.EC_P256,
    validity_days: int | None = None,
) -> int:
    """Issue through IssuanceService (as the console operator); returns the id."""
    with Services(container, cli_principal()) as services:
        return (
            services.issuance()
            .issue(
                NewCertificate(
                    team_id=team_id,
                    authority_id=authority_id or issuing_authority_id(container),
                    common_name=common_name,
                    dns_names=tuple(dns_names),
                    ip_addresses=tuple(ip_addresses),
                    emails=tuple(emails),
                    profile=profile,
                    key_spec=key_spec,
                    validity_days=validity_days,
                )
            )
            .certificate.id
        )


def issue_via_api(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/certificates", json=body, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


@dataclass
class ThrowAwayCA:
    """A root CA valid from 2000 to 2100, not known to Lemur as an authority."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def throwaway_ca(common_name: str = "Throw-away Test CA") -> ThrowAwayCA:
    key = generate_private_key(KeySpec.EC_P256)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    cert = build_ca_certificate(
        subject=x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name)]),
        public_key=key.public_key(),
        issuer_cert=None,
        issuer_key=key,
        not_before=dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
        not_after=dt.datetime(2100, 1, 1, tzinfo=dt.UTC),
    )
    return ThrowAwayCA(cert, key)


def insert_leaf(
    container: Container,
    ca: ThrowAwayCA,
    *,
    team_id: int | None,
    not_before: dt.datetime,
    not_after: dt.datetime,
    common_name: str | None = None,
    dns_names: Sequence[str] = (),
    serial: int | None = None,
    key_spec: KeySpec = KeySpec.EC_P256,
    created_at: dt.datetime | None = None,
) -> int:
    """Sign a leaf with ``ca`` and add it to the inventory (origin imported, no authority)."""
    key = generate_private_key(key_spec)
    names = list(dns_names) or ([common_name] if common_name else [])
    cert = build_leaf_certificate(
        issuer_cert=ca.certificate,
        issuer_key=ca.key,
        public_key=key.public_key(),
        subject_cn=common_name,
        sans=SubjectAltNames.create(dns_names=names),
        not_before=not_before,
        not_after=not_after,
        serial=serial,
    )
    store = CertificateStore(container.keyring)
    prepared = store.prepare(
        cert,
        chain=(ca.certificate,),
        origin="imported",
        team_id=team_id,
        authority_id=None,
        profile=None,
        created_by="cli",
        now=created_at or container.clock.now(),
    )
    with container.db.write() as session:
        record = store.add(session, prepared)
        session.commit()
        return record.id


def certificate_count(container: Container) -> int:
    with container.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(Certificate)) or 0)


def list_ids(client: TestClient, headers: dict[str, str], **params: Any) -> list[int]:
    response = client.get("/api/v1/certificates", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def walk(
    client: TestClient, headers: dict[str, str], **params: Any
) -> tuple[list[dict[str, Any]], int]:
    """Follow next_cursor to the end; returns every item and the number of pages."""
    items: list[dict[str, Any]] = []
    pages = 0
    cursor: str | None = None
    while True:
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        response = client.get("/api/v1/certificates", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        pages += 1
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items, pages
        assert pages < 100, "the cursor never ends"


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """Collect every SQL statement the engine executes inside the block."""
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
