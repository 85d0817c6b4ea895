"""The certificate pages in Chromium against a real ``lemur serve`` (SQLite and PostgreSQL):
the inventory's search box, filters, sorting and pages; a certificate's page with its
fields, chain and downloads; renew and revoke; import (PEM, PKCS#12, a duplicate); what a
read-only user sees and is refused; and the statements one page costs."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from playwright.sync_api import BrowserContext, Page, expect

from lemur.accounts.models import Role
from lemur.app import create_app
from lemur.authz import cli_principal
from lemur.certificates.imports import ImportedCertificate
from lemur.certificates.requests import NewCertificate
from lemur.container import Container
from lemur.crypto.keys import KeySpec
from lemur.crypto.profiles import Profile
from lemur.services import Services
from tests.api.test_query_counts import statements
from tests.peers.server import RunningServer, form_login
from tests.ui.support import add_user, assert_accessible, at_path, log_in, server_container

pytestmark = pytest.mark.browser

TEAM = "pages-web"
PASSPHRASE = "cobalt lantern orbit maple"


@dataclass
class World:
    team_id: int
    member: tuple[str, str]
    reader: tuple[str, str]
    ids: dict[str, int] = field(default_factory=dict)
    certs: dict[str, x509.Certificate] = field(default_factory=dict)


def colons(hex_digits: str) -> str:
    padded = hex_digits if len(hex_digits) % 2 == 0 else "0" + hex_digits
    return ":".join(padded[i : i + 2] for i in range(0, len(padded), 2))


def external_pair(
    host: str,
) -> tuple[x509.Certificate, x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A CA Lemur does not know, and a leaf for ``host`` it signed: (ca, leaf, leaf key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"External CA for {host}")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=10))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=60))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return ca, leaf, key


def pem_of(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


def key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def world(server: RunningServer) -> World:
    """A team with a member and its certificates (issued through the issuance service,
    one imported), and a read-only user."""
    member = add_user(server, teams=[TEAM])
    reader = add_user(server, role=Role.READ_ONLY)
    container = server_container(server)
    try:
        with Services(container, cli_principal()) as services:
            team_id = services.accounts().find_team(TEAM).id
            authority_id = services.authorities().find("local-issuing-ca").id
        w = World(team_id, member, reader)

        def issue(key: str, dns_names: tuple[str, ...], **kw: object) -> None:
            with Services(container, cli_principal()) as services:
                view = services.issuance().issue(
                    NewCertificate(
                        team_id=team_id,
                        authority_id=authority_id,
                        common_name=dns_names[0],
                        dns_names=dns_names,
                        profile=Profile.SERVER,
                        **kw,  # type: ignore[arg-type]
                    )
                )
            w.ids[key] = view.certificate.id
            w.certs[key] = x509.load_der_x509_certificate(view.certificate.der)

        # Expiring one after the other: inv-0 first.
        for i in range(5):
            issue(f"inv-{i}", (f"inv-{i}.pages.example",), validity_days=20 + 10 * i)
        issue("rsa", ("rsa.pages.example",), key_spec=KeySpec.RSA_2048)
        issue("wild", ("*.wild.pages.example",))
        issue("many", tuple(f"n{i}.many.pages.example" for i in range(30)))
        _ca, leaf, _key = external_pair("outside.pages.example")
        with Services(container, cli_principal()) as services:
            imported = services.imports().import_(
                ImportedCertificate(team_id=team_id, certificate=pem_of(leaf).encode())
            )
        w.ids["imported"] = imported.certificate.id
        w.certs["imported"] = leaf
    finally:
        container.close()
    return w


def row_ids(page: Page) -> list[int]:
    page.wait_for_load_state()
    return [
        int(r.get_attribute("data-id") or 0) for r in page.get_by_test_id("certificate-row").all()
    ]


def search_for(page: Page, text: str) -> None:
    page.get_by_label("Search", exact=True).fill(text)
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_load_state()


# -- inventory ---------------------------------------------------------------------------


def test_search_by_name_serial_and_fingerprint_filters_sorting_and_pages(
    page: Page, world: World
) -> None:
    log_in(page, *world.member)
    page.goto("/certificates")
    expect(page.get_by_role("heading", name="Certificates")).to_be_visible()
    assert_accessible(page)

    search_for(page, "inv-3")
    assert row_ids(page) == [world.ids["inv-3"]]
    expect(page.get_by_test_id("searched-as")).to_contain_text("Searched names")
    # A host name finds the wildcard certificate that covers it.
    search_for(page, "api.wild.pages.example")
    assert row_ids(page) == [world.ids["wild"]]

    cert = world.certs["inv-1"]
    serial_hex = format(cert.serial_number, "x")
    for text, kind in (
        (colons(serial_hex).upper(), "serial numbers"),
        (str(cert.serial_number), "serial numbers"),
        (f"0x{serial_hex}", "serial numbers"),
        (cert.fingerprint(hashes.SHA256()).hex(), "fingerprints"),
        (colons(cert.fingerprint(hashes.SHA1()).hex()), "fingerprints"),
    ):
        search_for(page, text)
        assert row_ids(page) == [world.ids["inv-1"]], text
        expect(page.get_by_test_id("searched-as")).to_contain_text(f"Searched {kind}")

    # Filters narrow the same search.
    search_for(page, "pages.example")
    everything = set(row_ids(page))
    assert {world.ids["rsa"], world.ids["imported"], world.ids["inv-0"]} <= everything
    page.get_by_label("Key type").select_option("RSA")
    page.get_by_role("button", name="Search", exact=True).click()
    assert row_ids(page) == [world.ids["rsa"]]
    page.get_by_label("Key type").select_option("")
    page.get_by_label("Origin").select_option("imported")
    page.get_by_role("button", name="Search", exact=True).click()
    assert row_ids(page) == [world.ids["imported"]]

    # Sorting by a column, both ways; then cursor pages of two.
    batch = [world.ids[f"inv-{i}"] for i in range(5)]
    page.goto("/certificates?q=inv-&limit=2")
    expires = page.get_by_role("columnheader", name="Expires").get_by_role("link")
    expires.click()
    assert row_ids(page) == batch[:2]
    page.get_by_role("columnheader", name="Expires").get_by_role("link").click()
    assert row_ids(page) == batch[::-1][:2]
    page.get_by_role("columnheader", name="Name").get_by_role("link").click()
    assert row_ids(page) == batch[:2]  # inv-0, inv-1 by name
    seen = row_ids(page)
    page.get_by_test_id("next-page").click()
    seen += row_ids(page)
    page.get_by_test_id("next-page").click()
    seen += row_ids(page)
    assert seen == batch
    expect(page.get_by_test_id("next-page")).to_have_count(0)


def test_the_inventory_fits_a_phone(page: Page, world: World) -> None:
    log_in(page, *world.member)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/certificates?q=pages.example&include_expired=true")
    assert len(row_ids(page)) >= 8
    overflow = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
        " document.body.scrollWidth]"
    )
    assert overflow[0] <= overflow[1], overflow
    assert overflow[2] <= overflow[1], overflow
    # Each cell says what it is once the header row is hidden.
    first = page.get_by_test_id("certificate-row").first
    expect(first.locator("td[data-label='Expires']")).to_be_visible()


# -- a certificate's page ----------------------------------------------------------------


def test_detail_shows_the_fields_the_chain_and_downloads_files_that_parse(
    page: Page, world: World
) -> None:
    cert = world.certs["inv-0"]
    log_in(page, *world.member)
    page.goto(f"/certificates/{world.ids['inv-0']}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("inv-0.pages.example")
    expect(page.get_by_test_id("serial")).to_contain_text(colons(format(cert.serial_number, "x")))
    expect(page.get_by_test_id("serial")).to_contain_text(str(cert.serial_number))
    expect(page.get_by_test_id("sha256")).to_have_text(
        colons(cert.fingerprint(hashes.SHA256()).hex())
    )
    expect(page.get_by_test_id("sha1")).to_have_text(colons(cert.fingerprint(hashes.SHA1()).hex()))
    expect(page.get_by_test_id("team")).to_have_text(TEAM)
    expect(page.get_by_test_id("authority").get_by_role("link")).to_have_text("local-issuing-ca")
    expect(page.get_by_test_id("not-after")).to_contain_text("in 19 days")
    expect(page.get_by_test_id("chain-entry")).to_have_count(2)
    expect(page.get_by_test_id("history-entry").first).to_contain_text("Issued by cli")
    expect(page.get_by_test_id("next-steps")).to_have_count(0)
    assert_accessible(page)

    with page.expect_download() as info:
        page.get_by_test_id("download-pem-bundle").click()
    bundle = x509.load_pem_x509_certificates(info.value.path().read_bytes())
    assert bundle[0] == cert
    assert len(bundle) == 3

    # A guessable passphrase is refused next to its field, and not put back.
    form = page.get_by_test_id("key-export")
    form.get_by_label("Format").select_option("pkcs12")
    form.get_by_label("Passphrase").fill("password123")
    form.get_by_role("button", name="Download with key").click()
    page.wait_for_load_state()
    expect(page.locator("[data-field-error='passphrase']")).to_be_visible()
    expect(page.get_by_test_id("key-export").get_by_label("Passphrase")).to_have_value("")

    form = page.get_by_test_id("key-export")
    form.get_by_label("Format").select_option("pkcs12")
    form.get_by_label("Passphrase").fill(PASSPHRASE)
    with page.expect_download() as info:
        form.get_by_role("button", name="Download with key").click()
    assert info.value.suggested_filename.endswith(".p12")
    key, p12_cert, extra = pkcs12.load_key_and_certificates(
        info.value.path().read_bytes(), PASSPHRASE.encode()
    )
    assert p12_cert == cert
    assert key is not None
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert key.public_key().public_bytes(*fmt) == cert.public_key().public_bytes(*fmt)
    assert len(extra) == 2


def test_renew_makes_a_successor_in_the_lineage_then_revoke_it_with_a_reason(
    page: Page, world: World, server: RunningServer
) -> None:
    old = world.ids["inv-4"]
    log_in(page, *world.member)
    page.goto(f"/certificates/{old}")
    page.get_by_role("link", name="Renew").click()
    at_path(page, f"/certificates/{old}/renew")
    page.get_by_label("Validity (days)").fill("30")
    page.get_by_role("button", name="Renew certificate").click()
    page.wait_for_url(re.compile(r"/certificates/\d+$"))
    new = int(page.url.rsplit("/", 1)[-1])
    assert new != old
    expect(page.get_by_test_id("notice")).to_contain_text(f"Certificate {old} was renewed")
    expect(page.get_by_test_id("next-steps")).to_be_visible()
    expect(page.get_by_test_id("not-after")).to_contain_text("in 29 days")
    lineage = page.get_by_test_id("lineage-entry")
    expect(lineage).to_have_count(2)
    expect(lineage.nth(1).get_by_role("link")).to_have_text(f"Certificate {old}")
    container = server_container(server)
    try:
        with Services(container, cli_principal()) as services:
            before = services.certificates().get(old)
            after = services.certificates().get(new)
    finally:
        container.close()
    assert before.replaced_by_id == new
    assert after.lineage_id == before.lineage_id
    assert {n.name for n in after.names} == {n.name for n in before.names}

    page.get_by_role("link", name="Revoke").click()
    at_path(page, f"/certificates/{new}/revoke")
    expect(page.get_by_test_id("scope-note")).to_contain_text("Revoked at its issuing CA")
    expect(page.get_by_test_id("reasons")).to_contain_text("The private key was exposed")
    assert_accessible(page)
    page.get_by_label("Reason").select_option("key_compromise")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke certificate").click()
    at_path(page, f"/certificates/{new}")
    expect(page.get_by_test_id("notice")).to_have_text(f"Certificate {new} was revoked.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("revoked")
    expect(page.get_by_test_id("revocation")).to_contain_text("key compromise")
    expect(page.get_by_test_id("revocation")).to_contain_text("CRL and OCSP")
    expect(page.get_by_role("link", name="Revoke")).to_have_count(0)


# -- import ------------------------------------------------------------------------------


def test_import_pem_with_key_a_pkcs12_upload_and_a_duplicate(page: Page, world: World) -> None:
    log_in(page, *world.member)
    page.goto("/certificates/import")
    expect(page.get_by_label("Team")).to_have_value(str(world.team_id))  # their only team
    expect(page.get_by_label("Passphrase")).to_have_attribute("type", "password")
    assert_accessible(page)

    ca, leaf, key = external_pair("pasted.pages.example")
    page.get_by_label("Certificate (PEM)").fill(pem_of(leaf))
    page.get_by_label("Chain (PEM, optional)").fill(pem_of(ca))
    page.get_by_label("Private key (PEM)").fill(key_pem(key))
    page.get_by_role("button", name="Import certificate").click()
    page.wait_for_url(re.compile(r"/certificates/\d+$"))
    pasted_id = int(page.url.rsplit("/", 1)[-1])
    expect(page.get_by_test_id("notice")).to_have_text("pasted.pages.example was imported.")
    expect(page.get_by_test_id("origin")).to_contain_text("imported")
    expect(page.get_by_test_id("key")).to_contain_text("private key held by Lemur")
    expect(page.get_by_test_id("chain-entry")).to_have_count(1)

    ca2, leaf2, key2 = external_pair("bundled.pages.example")
    p12 = pkcs12.serialize_key_and_certificates(
        b"bundled", key2, leaf2, [ca2], serialization.BestAvailableEncryption(PASSPHRASE.encode())
    )
    page.goto("/certificates/import")
    page.get_by_label("Or upload a file").set_input_files(
        files=[{"name": "bundled.p12", "mimeType": "application/x-pkcs12", "buffer": p12}]
    )
    page.get_by_label("Passphrase").fill(PASSPHRASE)
    page.get_by_role("button", name="Import certificate").click()
    page.wait_for_url(re.compile(r"/certificates/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("bundled.pages.example")
    expect(page.get_by_test_id("key")).to_contain_text("private key held by Lemur")
    expect(page.get_by_test_id("chain-entry")).to_have_count(1)

    page.goto("/certificates/import")
    page.get_by_label("Certificate (PEM)").fill(pem_of(leaf))
    page.get_by_role("button", name="Import certificate").click()
    expect(page.get_by_test_id("error-summary")).to_contain_text("already in the inventory")
    expect(page.get_by_label("Certificate (PEM)")).to_have_value(pem_of(leaf))
    page.get_by_test_id("existing").get_by_role("link").click()
    at_path(page, f"/certificates/{pasted_id}")


# -- a read-only user --------------------------------------------------------------------


def session_client(context: BrowserContext, server: RunningServer) -> httpx.Client:
    cookies = {c["name"]: c["value"] for c in context.cookies() if "name" in c and "value" in c}
    return httpx.Client(base_url=server.base_url, cookies=cookies)


def test_a_read_only_user_sees_no_write_controls_and_is_refused(
    page: Page, context: BrowserContext, world: World, server: RunningServer
) -> None:
    target = world.ids["inv-2"]
    log_in(page, *world.reader)
    page.goto(f"/certificates/{target}")
    expect(page.get_by_test_id("sha256")).to_be_visible()
    expect(page.get_by_test_id("download-pem-bundle")).to_be_visible()
    for control in ("Revoke", "Renew", "Edit"):
        expect(page.get_by_role("link", name=control)).to_have_count(0)
    expect(page.get_by_test_id("key-export")).to_have_count(0)
    expect(page.get_by_role("button", name="Archive")).to_have_count(0)
    page.goto("/certificates")
    expect(page.get_by_role("link", name="Import a certificate")).to_have_count(0)
    csrf = page.locator("meta[name='csrf-token']").get_attribute("content")
    assert csrf

    with session_client(context, server) as client:
        assert client.get(f"/certificates/{target}/revoke").status_code == 403
        assert client.get("/certificates/import").status_code == 403
        refused = {
            "revoke": client.post(
                f"/certificates/{target}/revoke", data={"csrf_token": csrf, "reason": "superseded"}
            ),
            "renew": client.post(f"/certificates/{target}/renew", data={"csrf_token": csrf}),
            "key": client.post(
                f"/certificates/{target}/download",
                data={"csrf_token": csrf, "format": "pkcs12", "passphrase": PASSPHRASE},
            ),
            "import": client.post(
                "/certificates/import",
                data={
                    "csrf_token": csrf,
                    "team_id": str(world.team_id),
                    "certificate": pem_of(external_pair("ro.pages.example")[1]),
                },
            ),
        }
        for what, answer in refused.items():
            assert answer.status_code == 403, (what, answer.status_code)
            assert "You may not do this" in answer.text, what
        # Public formats are theirs to download, as the API answers them.
        public = client.get(f"/certificates/{target}/download", params={"format": "pem-bundle"})
        assert public.status_code == 200
        assert public.headers["cache-control"] == "no-store"
        assert public.headers["content-disposition"].startswith('attachment; filename="')
        assert x509.load_pem_x509_certificates(public.content)[0] == world.certs["inv-2"]
    page.goto(f"/certificates/{target}")
    expect(page.get_by_role("heading", level=1)).not_to_contain_text("revoked")


# -- statements per page -----------------------------------------------------------------


@contextmanager
def in_process(server: RunningServer) -> Iterator[tuple[Container, TestClient]]:
    """The application in this process, on the server's database."""
    container = server_container(server)
    try:
        with TestClient(create_app(container, run_jobs=False)) as client:
            yield container, client
    finally:
        container.close()


def test_a_page_costs_the_same_statements_for_few_and_many_rows(
    server: RunningServer, world: World
) -> None:
    with in_process(server) as (container, client):
        assert form_login(client, *world.member).status_code == 303

        def measure(path: str) -> tuple[int, str]:
            with statements(container) as seen:
                answer = client.get(path)
            assert answer.status_code == 200, answer.text
            return len(seen), answer.text

        measure("/certificates")  # the session's first use is written once
        counts = {}
        for limit in (1, 8):
            counts[limit], body = measure(f"/certificates?q=pages.example&limit={limit}")
            assert body.count('data-testid="certificate-row"') == limit
        assert counts[1] == counts[8], counts
        assert counts[1] <= 8, counts
        serial = measure(f"/certificates?q={world.certs['inv-1'].serial_number}")[0]
        assert serial == counts[1]
        few, _ = measure(f"/certificates/{world.ids['inv-1']}")
        many, body = measure(f"/certificates/{world.ids['many']}")
        assert "n29.many.pages.example" in body
        assert few == many, (few, many)
