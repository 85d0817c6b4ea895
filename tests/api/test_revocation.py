"""Revocation: who may revoke, the reason, the certificate showing as revoked; the CRL each
local CA publishes (checked with ``openssl crl``) and its OCSP responder (checked with
``openssl ocsp`` against a real HTTP server, and with cryptography for the GET form)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lemur.accounts.models import TokenScope
from lemur.app import create_app
from lemur.audit.models import AuditEvent
from lemur.authorities.models import Authority
from lemur.certificates.models import Certificate
from lemur.clock import FrozenClock
from lemur.container import Container
from tests.api.conftest import World
from tests.api.inventory_helpers import (
    ISSUING_NAME,
    ROOT_NAME,
    authority_ids,
    insert_leaf,
    issue,
    list_ids,
    throwaway_ca,
)

URL = "/api/v1/certificates"


@pytest.fixture
def clock() -> FrozenClock:
    """Real time (to the second): openssl checks validity and thisUpdate against its own
    clock, so the CAs, certificates, CRLs and OCSP answers must be current."""
    return FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))


@dataclass
class PKI:
    """The local CAs as PEM files, one leaf certificate and its id."""

    directory: Path
    root_id: int
    issuing_id: int
    leaf_id: int

    @property
    def root(self) -> Path:
        return self.directory / "root.pem"

    @property
    def issuing(self) -> Path:
        return self.directory / "issuing.pem"

    @property
    def leaf(self) -> Path:
        return self.directory / "leaf.pem"


def _pem_of(client: TestClient, world: World, certificate_id: int) -> str:
    response = client.get(f"{URL}/{certificate_id}", headers=world.headers("admin2"))
    assert response.status_code == 200, response.text
    pem: str = response.json()["pem"]
    return pem


@pytest.fixture
def pki(container: Container, client: TestClient, world: World, tmp_path: Path) -> PKI:
    admin = world.headers("admin2")
    authorities = authority_ids(client, admin)
    directory = tmp_path / "pki"
    directory.mkdir()
    for name, filename in ((ROOT_NAME, "root.pem"), (ISSUING_NAME, "issuing.pem")):
        detail = client.get(f"/api/v1/authorities/{authorities[name]}", headers=admin).json()
        (directory / filename).write_text(detail["certificate_pem"])
    leaf = issue(container, team_id=world.team_ids["own"], common_name="www.example.com")
    (directory / "leaf.pem").write_text(_pem_of(client, world, leaf))
    return PKI(directory, authorities[ROOT_NAME], authorities[ISSUING_NAME], leaf)


def run(*args: str | Path) -> str:
    result = subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, timeout=30, check=False
    )
    return result.stdout + result.stderr


def audit_count(container: Container) -> int:
    with container.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)


def revoked_state(container: Container, certificate_id: int) -> tuple[Any, Any]:
    with container.db.read() as session:
        cert = session.get(Certificate, certificate_id)
        assert cert is not None
        return cert.revoked_at, cert.revocation_reason


def crl_number_stored(container: Container, authority_id: int) -> int:
    with container.db.read() as session:
        authority = session.get(Authority, authority_id)
        assert authority is not None
        return authority.crl_number


# -- who may revoke, and the reason ------------------------------------------------------


def test_owning_member_and_security_may_revoke_others_may_not(
    container: Container, client: TestClient, world: World
) -> None:
    own = world.team_ids["own"]
    first = issue(container, team_id=own, common_name="one.example.com")
    second = issue(container, team_id=own, common_name="two.example.com")
    # Another team's certificate is not found (as a missing one); a reader may not revoke.
    for who, status in (("outsider", 404), ("reader", 403)):
        before = audit_count(container)
        response = client.post(
            f"{URL}/{first}/revoke", json={"reason": "key_compromise"}, headers=world.headers(who)
        )
        assert response.status_code == status, (who, response.text)
        assert revoked_state(container, first) == (None, None)
        assert audit_count(container) == before
    # A read-only token of the owning member is not enough either.
    read_token = world.add_token("member", scope=TokenScope.READ)
    response = client.post(
        f"{URL}/{first}/revoke",
        json={"reason": "key_compromise"},
        headers={"Authorization": f"Bearer {read_token}"},
    )
    assert response.status_code == 403
    assert revoked_state(container, first) == (None, None)

    response = client.post(
        f"{URL}/{first}/revoke", json={"reason": "key_compromise"}, headers=world.headers("member")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "revoked"
    assert body["revocation_reason"] == "key_compromise"
    assert dt.datetime.fromisoformat(body["revoked_at"]) == container.clock.now()
    response = client.post(f"{URL}/{second}/revoke", json={}, headers=world.headers("security"))
    assert response.status_code == 200, response.text
    assert response.json()["revocation_reason"] == "unspecified"

    detail = client.get(f"{URL}/{first}", headers=world.headers("member")).json()
    assert detail["status"] == "revoked"
    assert detail["revocation_reason"] == "key_compromise"
    assert detail["history"][0]["action"] == "certificate.revoke"
    assert detail["history"][0]["actor"] == "user:member"
    assert detail["history"][0]["details"]["reason"] == "key_compromise"
    assert set(list_ids(client, world.headers("member"), status="revoked")) == {first, second}
    assert list_ids(client, world.headers("member"), status="valid") == []
    # Revoked certificates still show in the default list, marked revoked.
    assert set(list_ids(client, world.headers("member"))) == {first, second}


def test_bad_reason_and_double_revocation_are_refused(
    container: Container, client: TestClient, world: World
) -> None:
    cert = issue(container, team_id=world.team_ids["own"], common_name="bad.example.com")
    member = world.headers("member")
    for body, _code in (
        ({"reason": "lost_it"}, None),
        ({"reason": "removeFromCRL"}, None),
        ({"reason": 3}, None),
        ({"reason": None}, None),
    ):
        before = audit_count(container)
        response = client.post(f"{URL}/{cert}/revoke", json=body, headers=member)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["field"] == "reason", body
        assert revoked_state(container, cert) == (None, None)
        assert audit_count(container) == before
    response = client.post(f"{URL}/{cert}/revoke", json={"reasons": "x"}, headers=member)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "unknown_field"

    assert (
        client.post(
            f"{URL}/{cert}/revoke", json={"reason": "cessation_of_operation"}, headers=member
        ).status_code
        == 200
    )
    revoked_at, reason = revoked_state(container, cert)
    before = audit_count(container)
    crl_before = crl_number_stored(container, _issuing_id(client, world))
    again = client.post(f"{URL}/{cert}/revoke", json={"reason": "key_compromise"}, headers=member)
    # A conflict with the certificate's state, not a bad value in the request.
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_revoked"
    assert again.json()["error"]["field"] == "certificate_id"
    assert revoked_state(container, cert) == (revoked_at, "cessation_of_operation")
    assert reason == "cessation_of_operation"
    assert audit_count(container) == before
    assert crl_number_stored(container, _issuing_id(client, world)) == crl_before
    missing = client.post(f"{URL}/999999/revoke", json={}, headers=world.headers("security"))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "certificate_not_found"


def _issuing_id(client: TestClient, world: World) -> int:
    return authority_ids(client, world.headers("admin2"))[ISSUING_NAME]


# -- CRL ---------------------------------------------------------------------------------


def fetch_crl(client: TestClient, authority_id: int, path: Path) -> x509.CertificateRevocationList:
    response = client.get(f"/crl/{authority_id}.crl")  # public: no credentials
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pkix-crl"
    path.write_bytes(response.content)
    return x509.load_der_x509_crl(response.content)


def crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_crl_is_signed_lists_revocations_and_is_regenerated(
    container: Container, clock: FrozenClock, client: TestClient, world: World, pki: PKI
) -> None:
    crl_path = pki.directory / "crl.der"
    first = fetch_crl(client, pki.issuing_id, crl_path)
    assert "verify OK" in run(
        "crl", "-inform", "DER", "-in", crl_path, "-CAfile", pki.issuing, "-noout"
    )
    assert len(first) == 0
    # Fetching again within the first half of its validity returns the same CRL.
    clock.advance(dt.timedelta(hours=1))
    assert crl_number(fetch_crl(client, pki.issuing_id, crl_path)) == crl_number(first)

    leaf = x509.load_pem_x509_certificate(pki.leaf.read_bytes())
    revoked = client.post(
        f"{URL}/{pki.leaf_id}/revoke",
        json={"reason": "key_compromise"},
        headers=world.headers("member"),
    )
    assert revoked.status_code == 200, revoked.text
    second = fetch_crl(client, pki.issuing_id, crl_path)
    assert crl_number(second) > crl_number(first)
    entry = second.get_revoked_certificate_by_serial_number(leaf.serial_number)
    assert entry is not None
    assert entry.revocation_date_utc == clock.now()
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is (
        x509.ReasonFlags.key_compromise
    )
    assert second.is_signature_valid(
        x509.load_pem_x509_certificate(pki.issuing.read_bytes()).public_key()  # type: ignore[arg-type]
    )
    text = run("crl", "-inform", "DER", "-in", crl_path, "-CAfile", pki.issuing, "-noout", "-text")
    assert "verify OK" in text
    serial_hex = format(leaf.serial_number, "X")
    assert f"Serial Number: {serial_hex.zfill(len(serial_hex) + len(serial_hex) % 2)}" in text
    assert "Key Compromise" in text
    assert re.search(r"X509v3 CRL Number:\s*\n\s*" + str(crl_number(second)), text), text
    # The CA file holding the whole chain verifies too; a wrong CA does not.
    chain = pki.directory / "chain.pem"
    chain.write_text(pki.issuing.read_text() + pki.root.read_text())
    assert "verify OK" in run("crl", "-inform", "DER", "-in", crl_path, "-CAfile", chain, "-noout")
    assert "verify OK" not in run(
        "crl", "-inform", "DER", "-in", crl_path, "-CAfile", pki.root, "-noout"
    )

    # Before nextUpdate: in the second half of its validity the CRL is re-signed.
    assert second.next_update_utc is not None
    lifetime = second.next_update_utc - second.last_update_utc
    clock.advance(lifetime / 2 + dt.timedelta(minutes=1))
    third = fetch_crl(client, pki.issuing_id, crl_path)
    assert crl_number(third) == crl_number(second) + 1
    assert third.last_update_utc == clock.now()
    assert third.next_update_utc is not None
    assert third.next_update_utc > second.next_update_utc
    assert third.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None
    # And nothing changes when fetched again right away.
    assert crl_number(fetch_crl(client, pki.issuing_id, crl_path)) == crl_number(third)


def test_each_ca_publishes_its_own_crl(
    container: Container, client: TestClient, world: World, pki: PKI
) -> None:
    root_crl = pki.directory / "root.crl"
    crl = fetch_crl(client, pki.root_id, root_crl)
    assert crl.issuer == x509.load_pem_x509_certificate(pki.root.read_bytes()).subject
    assert "verify OK" in run(
        "crl", "-inform", "DER", "-in", root_crl, "-CAfile", pki.root, "-noout"
    )
    # The leaf's CRL distribution point is the issuing CA's CRL URL.
    leaf = x509.load_pem_x509_certificate(pki.leaf.read_bytes())
    points = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    uri = points[0].full_name[0].value  # type: ignore[index]
    assert uri.endswith(f"/crl/{pki.issuing_id}.crl")
    missing = client.get("/crl/999.crl")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "authority_not_found"


# -- OCSP --------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def live_url(container: Container) -> Iterator[str]:
    """The app on a real socket (uvicorn in a thread), sharing the test's container."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(container),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            ws="none",
        )
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def openssl_ocsp(pki: PKI, url: str, *target: str | Path) -> str:
    return run(
        "ocsp",
        "-issuer",
        pki.issuing,
        *target,
        "-url",
        url,
        "-CAfile",
        pki.root,
        "-resp_text",
    )


def test_openssl_ocsp_good_then_revoked_and_unknown(
    container: Container, client: TestClient, world: World, pki: PKI, live_url: str
) -> None:
    url = f"{live_url}/ocsp/{pki.issuing_id}"
    out = openssl_ocsp(pki, url, "-cert", pki.leaf)
    assert "Response verify OK" in out, out
    assert f"{pki.leaf}: good" in out, out
    assert "WARNING" not in out, out

    response = client.post(
        f"{URL}/{pki.leaf_id}/revoke",
        json={"reason": "affiliation_changed"},
        headers=world.headers("security"),
    )
    assert response.status_code == 200
    out = openssl_ocsp(pki, url, "-cert", pki.leaf)
    assert "Response verify OK" in out, out
    assert f"{pki.leaf}: revoked" in out, out
    assert "Reason: affiliationChanged" in out, out
    revoked_at = container.clock.now()
    assert f"Revocation Time: {revoked_at:%b %e %H:%M:%S %Y} GMT" in out, out

    # The root's responder answers for the issuing CA's certificate.
    out = run(
        "ocsp",
        "-issuer",
        pki.root,
        "-cert",
        pki.issuing,
        "-url",
        f"{live_url}/ocsp/{pki.root_id}",
        "-CAfile",
        pki.root,
    )
    assert "Response verify OK" in out, out
    assert f"{pki.issuing}: good" in out, out

    never = "0x" + "7e" * 16
    out = openssl_ocsp(pki, url, "-serial", never)
    assert "Response verify OK" in out, out
    assert f"{never}: unknown" in out, out


def _ocsp_request(pki: PKI, serial_of: Path | None = None) -> bytes:
    issuer = x509.load_pem_x509_certificate(pki.issuing.read_bytes())
    cert = x509.load_pem_x509_certificate((serial_of or pki.leaf).read_bytes())
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(cert, issuer, hashes.SHA1())
        .add_extension(x509.OCSPNonce(b"0123456789abcdef"), critical=False)
        .build()
    )
    return request.public_bytes(serialization.Encoding.DER)


def test_ocsp_get_form_and_post_form_agree(
    container: Container, client: TestClient, world: World, pki: PKI, live_url: str
) -> None:
    der = _ocsp_request(pki)
    encoded = quote(base64.b64encode(der).decode(), safe="")
    issuer = x509.load_pem_x509_certificate(pki.issuing.read_bytes())
    leaf = x509.load_pem_x509_certificate(pki.leaf.read_bytes())
    with httpx.Client(base_url=live_url, timeout=10) as http:

        def both() -> list[ocsp.OCSPResponse]:
            get = http.get(f"/ocsp/{pki.issuing_id}/{encoded}")
            post = http.post(
                f"/ocsp/{pki.issuing_id}",
                content=der,
                headers={"Content-Type": "application/ocsp-request"},
            )
            answers = []
            for response in (get, post):
                assert response.status_code == 200
                assert response.headers["content-type"] == "application/ocsp-response"
                answers.append(ocsp.load_der_ocsp_response(response.content))
            return answers

        for answer in both():
            assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
            assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD
            assert answer.serial_number == leaf.serial_number
            assert answer.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == (
                b"0123456789abcdef"
            )
            assert (
                answer.responder_key_hash
                == issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            )
            issuer.public_key().verify(  # type: ignore[call-arg]
                answer.signature,
                answer.tbs_response_bytes,
                _ecdsa(answer),  # type: ignore[arg-type]
            )
            assert answer.this_update_utc == container.clock.now()
            assert answer.next_update_utc is not None
            assert answer.next_update_utc > answer.this_update_utc
        assert (
            client.post(
                f"{URL}/{pki.leaf_id}/revoke",
                json={"reason": "superseded"},
                headers=world.headers("member"),
            ).status_code
            == 200
        )
        for answer in both():
            assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED
            assert answer.revocation_reason is x509.ReasonFlags.superseded
            assert answer.revocation_time_utc == container.clock.now()


def _ecdsa(answer: ocsp.OCSPResponse) -> Any:
    assert answer.signature_hash_algorithm is not None
    return ec.ECDSA(answer.signature_hash_algorithm)


def test_ocsp_malformed_and_foreign_requests(
    container: Container, client: TestClient, world: World, pki: PKI, live_url: str
) -> None:
    der = _ocsp_request(pki)
    with httpx.Client(base_url=live_url, timeout=10) as http:

        def status_of(response: httpx.Response) -> ocsp.OCSPResponseStatus:
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "application/ocsp-response"
            return ocsp.load_der_ocsp_response(response.content).response_status

        malformed = ocsp.OCSPResponseStatus.MALFORMED_REQUEST
        unauthorized = ocsp.OCSPResponseStatus.UNAUTHORIZED
        assert status_of(http.post(f"/ocsp/{pki.issuing_id}", content=b"not an ocsp request")) is (
            malformed
        )
        assert status_of(http.post(f"/ocsp/{pki.issuing_id}", content=der[:-5])) is malformed
        assert status_of(http.post(f"/ocsp/{pki.issuing_id}", content=b"")) is malformed
        assert status_of(http.get(f"/ocsp/{pki.issuing_id}/%%%not-base64")) is malformed
        assert (
            status_of(
                http.get(
                    f"/ocsp/{pki.issuing_id}/" + quote(base64.b64encode(b"\x30\x03\x02\x01\x01"))
                )
            )
            is malformed
        )
        assert status_of(http.post(f"/ocsp/{pki.issuing_id}", content=b"\x30" * 5000)) is malformed
        # An authority that does not exist cannot sign any answer.
        assert status_of(http.post("/ocsp/999", content=der)) is unauthorized


def test_remove_from_crl_is_not_a_revocation_reason(
    container: Container, client: TestClient, world: World, pki: PKI
) -> None:
    before = audit_count(container)
    response = client.post(
        f"{URL}/{pki.leaf_id}/revoke",
        json={"reason": "remove_from_crl"},
        headers=world.headers("member"),
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "reason"
    assert revoked_state(container, pki.leaf_id) == (None, None)
    assert audit_count(container) == before


def test_revoking_the_issuing_ca_lands_on_the_roots_crl_and_ocsp(
    container: Container, client: TestClient, world: World, pki: PKI, live_url: str
) -> None:
    admin = world.headers("admin2")
    authority = client.get(f"/api/v1/authorities/{pki.issuing_id}", headers=admin).json()
    ca_cert_id = authority["certificate_id"]
    response = client.post(
        f"{URL}/{ca_cert_id}/revoke",
        json={"reason": "ca_compromise"},
        headers=world.headers("member"),
    )
    assert response.status_code == 404  # a member cannot see CA certificates
    response = client.post(
        f"{URL}/{ca_cert_id}/revoke",
        json={"reason": "ca_compromise"},
        headers=world.headers("security"),
    )
    assert response.status_code == 200, response.text
    crl_path = pki.directory / "root.crl"
    crl = fetch_crl(client, pki.root_id, crl_path)
    issuing = x509.load_pem_x509_certificate(pki.issuing.read_bytes())
    entry = crl.get_revoked_certificate_by_serial_number(issuing.serial_number)
    assert entry is not None
    assert "CA Compromise" in run(
        "crl", "-inform", "DER", "-in", crl_path, "-CAfile", pki.root, "-noout", "-text"
    )
    out = run(
        "ocsp",
        "-issuer",
        pki.root,
        "-cert",
        pki.issuing,
        "-url",
        f"{live_url}/ocsp/{pki.root_id}",
        "-CAfile",
        pki.root,
    )
    assert f"{pki.issuing}: revoked" in out, out
    assert "Reason: cACompromise" in out, out


def test_an_imported_ca_without_key_publishes_nothing(
    container: Container, client: TestClient, world: World, pki: PKI, live_url: str
) -> None:
    ca = throwaway_ca("Somebody Else's CA")
    admin = world.headers("admin2")
    response = client.post(
        "/api/v1/authorities/import",
        json={
            "name": "external-ca",
            "certificate": ca.certificate.public_bytes(serialization.Encoding.PEM).decode(),
        },
        headers=admin,
    )
    assert response.status_code == 201, response.text
    external = response.json()["id"]
    missing = client.get(f"/crl/{external}.crl")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "authority_not_found"
    now = container.clock.now()
    leaf_id = insert_leaf(
        container,
        ca,
        team_id=world.team_ids["own"],
        common_name="elsewhere.example.com",
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=30),
    )
    leaf_path = pki.directory / "elsewhere.pem"
    leaf_path.write_text(_pem_of(client, world, leaf_id))
    ca_path = pki.directory / "external.pem"
    ca_path.write_bytes(ca.certificate.public_bytes(serialization.Encoding.PEM))
    out = run(
        "ocsp",
        "-issuer",
        ca_path,
        "-cert",
        leaf_path,
        "-url",
        f"{live_url}/ocsp/{external}",
        "-CAfile",
        ca_path,
    )
    assert "unauthorized" in out.lower(), out
    # Lemur can still record that the certificate is revoked.
    response = client.post(
        f"{URL}/{leaf_id}/revoke",
        json={"reason": "key_compromise"},
        headers=world.headers("member"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "revoked"


# -- where a revocation takes effect ------------------------------------------------------


def _last_revoke_event(container: Container, certificate_id: int) -> dict[str, Any]:
    with container.db.read() as session:
        event = session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.action == "certificate.revoke",
                AuditEvent.target_id == str(certificate_id),
            )
            .order_by(AuditEvent.seq.desc())
        ).first()
    assert event is not None
    details: dict[str, Any] = json.loads(event.details)
    return details


def test_revoking_an_imported_certificate_is_recorded_in_the_inventory_only(
    container: Container, client: TestClient, world: World
) -> None:
    """Lemur cannot reach the CA of a certificate imported from elsewhere: the revocation
    is recorded in the inventory only, and the answer, the detail and the audit event say
    so plainly, instead of implying that relying parties will see it revoked."""
    now = container.clock.now()
    imported = insert_leaf(
        container,
        throwaway_ca("Somebody Else's CA"),
        team_id=world.team_ids["own"],
        not_before=now - dt.timedelta(days=1),
        not_after=now + dt.timedelta(days=30),
        common_name="elsewhere.example.com",
    )
    member = world.headers("member")
    response = client.post(
        f"{URL}/{imported}/revoke", json={"reason": "superseded"}, headers=member
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "revoked"
    assert body["revocation_scope"] == "inventory_only"
    assert "inventory only" in body["revocation_note"]
    assert "cannot reach" in body["revocation_note"]
    detail = client.get(f"{URL}/{imported}", headers=member).json()
    assert detail["revocation_scope"] == "inventory_only"
    assert detail["revocation_note"] == body["revocation_note"]
    assert _last_revoke_event(container, imported)["scope"] == "inventory_only"


def test_revoking_at_a_local_ca_says_the_issuer_revoked_it(
    container: Container, client: TestClient, world: World
) -> None:
    cert = issue(container, team_id=world.team_ids["own"], common_name="local.example.com")
    member = world.headers("member")
    response = client.post(f"{URL}/{cert}/revoke", json={}, headers=member)
    assert response.status_code == 200, response.text
    assert response.json()["revocation_scope"] == "issuer"
    assert ISSUING_NAME in response.json()["revocation_note"]
    detail = client.get(f"{URL}/{cert}", headers=member).json()
    assert detail["revocation_scope"] == "issuer"
    assert _last_revoke_event(container, cert)["scope"] == "issuer"
    # A certificate that is not revoked says nothing about a scope.
    other = issue(container, team_id=world.team_ids["own"], common_name="other.example.com")
    assert client.get(f"{URL}/{other}", headers=member).json()["revocation_scope"] is None


def test_ocsp_for_a_certificate_another_authority_issued_is_unknown(
    container: Container, client: TestClient, world: World, pki: PKI, live_url: str
) -> None:
    """RFC 6960 §2.2: "unknown" is the answer for a certificate this responder's CA did not
    issue, "usually because the request indicates an unrecognized issuer that is not served
    by this responder". The leaf exists (the issuing CA issued it), asked at the root's
    responder: a signed "unknown", not "unauthorized"."""
    root = x509.load_pem_x509_certificate(pki.root.read_bytes())
    leaf = x509.load_pem_x509_certificate(pki.leaf.read_bytes())
    der = _ocsp_request(pki)
    encoded = quote(base64.b64encode(der).decode(), safe="")
    # The same serial with the root named as its issuer: the root never issued it.
    by_root = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            issuer_name_hash=_sha1(root.subject.public_bytes()),
            issuer_key_hash=_sha1(_spki_bits(root)),
            serial_number=leaf.serial_number,
            algorithm=hashes.SHA1(),
        )
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    with httpx.Client(base_url=live_url, timeout=10) as http:
        for response in (
            http.post(f"/ocsp/{pki.root_id}", content=der),
            http.get(f"/ocsp/{pki.root_id}/{encoded}"),
            http.post(f"/ocsp/{pki.root_id}", content=by_root),
        ):
            assert response.status_code == 200, response.text
            answer = ocsp.load_der_ocsp_response(response.content)
            assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
            assert answer.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
            assert answer.serial_number == leaf.serial_number
            # Signed by the root, the responder that was asked.
            assert (
                answer.responder_key_hash
                == x509.SubjectKeyIdentifier.from_public_key(root.public_key()).digest
            )
    # openssl reads the same answer.
    out = run(
        "ocsp",
        "-issuer",
        pki.issuing,
        "-cert",
        pki.leaf,
        "-url",
        f"{live_url}/ocsp/{pki.root_id}",
        "-CAfile",
        pki.root,
    )
    assert "unknown" in out.lower(), out


def _sha1(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SHA1())
    digest.update(data)
    return digest.finalize()


def _spki_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING's contents (RFC 6960 §4.1.1 issuerKeyHash)."""
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return public.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
