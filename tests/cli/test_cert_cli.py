"""The developer CLI (`lemur cert ...`, `lemur authority ...`) against one real `lemur serve`.

Every command runs as a subprocess with LEMUR_URL and LEMUR_TOKEN, as a developer runs it;
every run also checks that the token appears nowhere in what the CLI printed.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import pty
import re
import select
import sqlite3
import stat
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from tests.peers.server import RunningServer, clean_env, free_port, lemur_command, start_server

# Exit codes scripts rely on (src/lemur/cli/output.py).
OK, USAGE, INVALID, NOT_FOUND, CONFLICT, DENIED, ERROR = 0, 2, 3, 4, 5, 6, 8
TEAM = "payments"
ISSUING = "local-issuing-ca"
PASSPHRASE = "correct horse battery staple"


def issue_through_api(base_url: str, token: str, *names: str) -> dict[str, Any]:
    """Issue a certificate for ``names`` from the issuing CA to the test team, by the API."""
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}) as api:
        team = next(t for t in api.get("/api/v1/teams").json() if t["name"] == TEAM)
        ca = next(a for a in api.get("/api/v1/authorities").json() if a["name"] == ISSUING)
        response = api.post(
            "/api/v1/certificates",
            json={
                "team_id": team["id"],
                "authority_id": ca["id"],
                "common_name": names[0],
                "subject_alternative_names": {"dns_names": list(names)},
            },
        )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


@dataclass
class Lemur:
    server: RunningServer
    token: str
    work: Path

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        # A data directory the client never uses: the developer CLI must not touch one.
        return clean_env(
            self.work / "client-data",
            {"LEMUR_URL": self.server.base_url, "LEMUR_TOKEN": self.token, **(extra or {})},
        )

    def run(
        self,
        *args: str,
        stdin: str | bytes = "",
        env: Mapping[str, str] | None = None,
        text: bool = True,
    ) -> subprocess.CompletedProcess[Any]:
        done = subprocess.run(
            [*lemur_command(), *args],
            env=self.env(env),
            input=stdin if text else (stdin.encode() if isinstance(stdin, str) else stdin),
            capture_output=True,
            text=text,
            timeout=60,
            check=False,
        )
        printed = done.stdout + done.stderr
        secret = self.token if text else self.token.encode()
        assert secret not in printed, "the API token was printed"
        return done

    def ok(self, *args: str, stdin: str = "") -> str:
        done = self.run(*args, stdin=stdin)
        assert done.returncode == OK, done.stdout + done.stderr
        return str(done.stdout)

    def json(self, *args: str, stdin: str = "") -> Any:
        return json.loads(self.ok(*args, "--json", stdin=stdin))

    def count(self, table: str) -> int:
        with sqlite3.connect(self.server.data_dir / "lemur.db") as conn:
            (n,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        return int(n)

    def issue(self, *names: str) -> dict[str, Any]:
        """A certificate for a test's setup, straight through the API (a CLI run costs a
        second of start-up; `cert request` itself is tested on its own)."""
        return issue_through_api(self.server.base_url, self.token, *names)


def admin_cli(data_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [*lemur_command(), *args],
        env=clean_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == OK, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def lemur(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lemur]:
    work = tmp_path_factory.mktemp("cert-cli")
    data_dir = work / "data"
    data_dir.mkdir()
    server = start_server(data_dir)
    try:
        created = json.loads(
            admin_cli(
                data_dir,
                "token",
                "create",
                "--user",
                "admin",
                "--name",
                "t",
                "--scope",
                "write",
                "--json",
            )
        )
        admin_cli(data_dir, "team", "create", TEAM)
        yield Lemur(server, created["token"], work)
    finally:
        server.stop()


def rows(lemur: Lemur) -> dict[str, int]:
    return {t: lemur.count(t) for t in ("certificates", "private_keys", "audit_events")}


def chain_files(lemur: Lemur, tmp_path: Path) -> tuple[Path, Path]:
    """The issuing CA and the root, as two PEM files, from `authority show --pem`."""
    pem = lemur.ok("authority", "show", ISSUING, "--pem")
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----\n", pem, re.S)
    assert len(blocks) == 2, pem
    intermediate, root = tmp_path / "intermediate.pem", tmp_path / "root.pem"
    intermediate.write_text(blocks[0])
    root.write_text(blocks[1])
    return intermediate, root


def self_signed(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=200))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def run_on_terminal(lemur: Lemur, args: list[str], answer: str | None) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as stdin and stdout (as a person at a shell),
    optionally typing ``answer`` at its prompt; returns the exit code and all output."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [*lemur_command(), *args],
        env=lemur.env(),
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        close_fds=True,
    )
    os.close(secondary)
    output = b""
    answered = answer is None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the process closed the terminal
                break
            if not chunk:
                break
            output += chunk
            if not answered and b"[y/N]" in output:
                os.write(primary, answer.encode() + b"\n")
                answered = True
        elif process.poll() is not None:
            break
    code = process.wait(10)
    os.close(primary)
    printed = output.decode(errors="replace")
    assert lemur.token not in printed
    return code, printed


# -- request, show, list ---------------------------------------------------------------------


def test_request_ec_certificate_json(lemur: Lemur) -> None:
    item = lemur.json(
        "cert", "request", "shop.example.com", "www.shop.example.com",
        "--team", TEAM, "--authority", ISSUING,
    )  # fmt: skip
    assert item["common_name"] == "shop.example.com"
    assert item["names"] == ["shop.example.com", "www.shop.example.com"]
    assert (item["key_type"], item["key_size"]) == ("EC", 256)
    assert item["team"]["name"] == TEAM
    assert item["authority"]["name"] == ISSUING
    assert item["has_private_key"] is True
    assert "PRIVATE KEY" not in json.dumps(item)


def test_request_rsa_prints_id_names_serial_expiry(lemur: Lemur) -> None:
    printed = lemur.ok(
        "cert", "request", "alt.example.com", "rsa.example.com", "--ip", "192.0.2.7", "--email", "ops@example.com",
        "--team", TEAM, "--authority", ISSUING, "--key-type", "rsa-2048", "--days", "30",
        "--profile", "server-client", "--cn", "rsa.example.com",
    )  # fmt: skip
    found = re.search(r"issued certificate (\d+): rsa.example.com", printed)
    assert found, printed
    detail = lemur.json("cert", "show", found.group(1))
    assert (detail["key_type"], detail["key_size"]) == ("RSA", 2048)
    assert detail["subject_alternative_names"]["ip_addresses"] == ["192.0.2.7"]
    assert detail["subject_alternative_names"]["emails"] == ["ops@example.com"]
    assert detail["profile"] == "server-client"
    assert "rsa.example.com" in printed
    assert ":".join(re.findall("..", detail["serial_number"].zfill(40)))[-20:] in printed
    not_after = dt.datetime.fromisoformat(detail["not_after"])
    assert not_after.strftime("%Y-%m-%d %H:%M UTC") in printed
    lifetime = not_after - dt.datetime.fromisoformat(detail["not_before"])
    assert lifetime <= dt.timedelta(days=30, minutes=10)


def test_show_is_readable(lemur: Lemur) -> None:
    item = lemur.issue("detail.example.com")
    printed = lemur.ok("cert", "show", str(item["id"]))
    detail = lemur.json("cert", "show", str(item["id"]))
    assert int(detail["serial_number"], 16) == int(detail["serial_number_decimal"])
    for expected in (
        f"certificate {item['id']}: detail.example.com",
        "CN=detail.example.com",
        "CN=Local Issuing CA",
        "detail.example.com",
        detail["serial_number_decimal"],
        detail["fingerprint_sha256"],
        detail["fingerprint_sha1"],
        "digital_signature",
        "serverAuth",
        "EC 256",
        "held by Lemur (encrypted)",
        "chain",
        "1. CN=Local Issuing CA",
        "2. CN=Local Root CA",
        "recent history",
        "certificate.issue",
    ):
        assert expected in printed, (expected, printed)


def test_list_search_by_name_finds_covering_wildcard(lemur: Lemur) -> None:
    wildcard = lemur.issue("*.wild.example.org")
    exact = lemur.issue("api.wild.example.org")
    other = lemur.issue("elsewhere.example.org")
    found = lemur.json("cert", "list", "--name", "api.wild.example.org")
    ids = {c["id"] for c in found["items"]}
    assert {wildcard["id"], exact["id"]} <= ids
    assert other["id"] not in ids

    printed = lemur.ok("cert", "list", "--name", "api.wild.example.org")
    assert "*.wild.example.org" in printed
    assert "api.wild.example.org" in printed
    assert "elsewhere" not in printed
    header = printed.splitlines()[0]
    for column in ("id", "common name", "names", "team", "status", "expires (UTC)", "key"):
        assert column in header

    contains = lemur.json("cert", "list", "--contains", "wild.example")
    assert {wildcard["id"], exact["id"]} <= {c["id"] for c in contains["items"]}
    assert other["id"] not in {c["id"] for c in contains["items"]}


def test_list_filters_by_team_authority_serial_fingerprint(lemur: Lemur) -> None:
    item = lemur.issue("filters.example.com")
    by_team = lemur.json("cert", "list", "--team", TEAM, "--all-pages")
    assert item["id"] in {c["id"] for c in by_team["items"]}
    assert all(c["team"]["name"] == TEAM for c in by_team["items"])
    by_authority = lemur.json("cert", "list", "--authority", ISSUING, "--all-pages")
    assert item["id"] in {c["id"] for c in by_authority["items"]}
    by_serial = lemur.json("cert", "list", "--serial", item["serial_number"])
    assert [c["id"] for c in by_serial["items"]] == [item["id"]]
    by_fp = lemur.json("cert", "list", "--fingerprint", item["fingerprint_sha256"])
    assert [c["id"] for c in by_fp["items"]] == [item["id"]]
    assert item["id"] in {
        c["id"] for c in lemur.json("cert", "list", "--status", "valid", "--all-pages")["items"]
    }
    soon = lemur.json("cert", "list", "--expiring-within", "1")
    assert item["id"] not in {c["id"] for c in soon["items"]}


def test_list_pages_with_cursor_hint_and_all_pages(lemur: Lemur) -> None:
    for n in range(3):
        lemur.issue(f"page{n}.paging.example")
    first = lemur.ok("cert", "list", "--contains", "paging.example", "--limit", "2")
    hint = re.search(r"more: add --cursor (\S+)", first)
    assert hint, first
    second = lemur.json(
        "cert", "list", "--contains", "paging.example", "--limit", "2", "--cursor", hint.group(1)
    )
    assert len(second["items"]) == 1
    assert second["items"][0]["common_name"] not in first
    everything = lemur.json("cert", "list", "--contains", "paging.example", "--all-pages")
    assert sorted(c["common_name"] for c in everything["items"]) == [
        "page0.paging.example",
        "page1.paging.example",
        "page2.paging.example",
    ]
    assert everything["next_cursor"] is None


# -- export ------------------------------------------------------------------------------------


def test_export_pem_bundle_verifies_with_openssl(lemur: Lemur, tmp_path: Path) -> None:
    item = lemur.issue("verify.example.com")
    intermediate, root = chain_files(lemur, tmp_path)
    bundle = tmp_path / "bundle.pem"
    done = lemur.run(
        "cert", "export", str(item["id"]), "--format", "pem-bundle", "--out", str(bundle)
    )
    assert done.returncode == OK, done.stderr
    assert f"to {bundle}" in done.stderr
    # The certificate, the issuing CA and the root (RFC 8446 §4.4.2 order).
    assert bundle.read_text().count("BEGIN CERTIFICATE") == 3
    assert "PRIVATE KEY" not in bundle.read_text()
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(root), "-untrusted", str(intermediate), str(bundle)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert ": OK" in verified.stdout


def test_export_text_to_stdout_and_der_to_a_pipe(lemur: Lemur) -> None:
    item = lemur.issue("stdout.example.com")
    pem = lemur.ok("cert", "export", str(item["id"]), "--format", "pem-certificate")
    assert x509.load_pem_x509_certificate(pem.encode()).serial_number == int(
        item["serial_number"], 16
    )
    done = lemur.run("cert", "export", str(item["id"]), "--format", "der-certificate", text=False)
    assert done.returncode == OK, done.stderr
    assert x509.load_der_x509_certificate(done.stdout).serial_number == int(
        item["serial_number"], 16
    )


def test_export_pkcs12_with_passphrase_from_stdin(lemur: Lemur, tmp_path: Path) -> None:
    item = lemur.issue("p12.example.com")
    target = tmp_path / "p12.example.com.p12"
    done = lemur.run(
        "cert", "export", str(item["id"]), "--format", "pkcs12", "--passphrase-stdin",
        "--out", str(target),
        stdin=PASSPHRASE + "\n",
    )  # fmt: skip
    assert done.returncode == OK, done.stderr
    assert PASSPHRASE not in done.stdout + done.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    key, cert, extra = pkcs12.load_key_and_certificates(target.read_bytes(), PASSPHRASE.encode())
    assert cert is not None
    assert key is not None
    assert cert.serial_number == int(item["serial_number"], 16)
    assert key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) == cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert [c.subject.rfc4514_string() for c in extra] == [
        "CN=Local Issuing CA,O=Lemur",
        "CN=Local Root CA,O=Lemur",
    ]
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(target.read_bytes(), b"wrong passphrase")


def test_export_key_file_is_0600_even_over_an_existing_file(lemur: Lemur, tmp_path: Path) -> None:
    item = lemur.issue("pkcs8.example.com")
    target = tmp_path / "key.pem"
    target.write_text("old")
    target.chmod(0o644)
    done = lemur.run(
        "cert", "export", str(item["id"]), "--format", "pkcs8-key", "--passphrase-stdin",
        "--out", str(target),
        stdin=PASSPHRASE + "\n",
    )  # fmt: skip
    assert done.returncode == OK, done.stderr
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "ENCRYPTED PRIVATE KEY" in target.read_text()
    serialization.load_pem_private_key(target.read_bytes(), PASSPHRASE.encode())


def test_export_refusals(lemur: Lemur, tmp_path: Path) -> None:
    item = lemur.issue("refuse.example.com")
    before = lemur.count("audit_events")

    no_passphrase = lemur.run("cert", "export", str(item["id"]), "--format", "pkcs12", "--json")
    assert no_passphrase.returncode == INVALID
    assert json.loads(no_passphrase.stdout)["error"]["field"] == "passphrase"

    unknown = lemur.run("cert", "export", str(item["id"]), "--format", "zip")
    assert unknown.returncode == INVALID
    assert "unknown export format 'zip'" in unknown.stderr
    assert "pem-bundle" in unknown.stderr

    missing = lemur.run("cert", "export", "999999", "--format", "pem-bundle")
    assert missing.returncode == NOT_FOUND
    assert "999999" in missing.stderr

    # Binary never goes to a terminal; nothing is exported (no key-export audit event).
    code, printed = run_on_terminal(
        lemur, ["cert", "export", str(item["id"]), "--format", "der-certificate"], None
    )
    assert code == USAGE
    assert "binary" in printed
    assert "--out" in printed
    assert lemur.count("audit_events") == before


# -- import ------------------------------------------------------------------------------------


def test_import_pem_then_duplicate_is_a_conflict(lemur: Lemur, tmp_path: Path) -> None:
    cert, key = self_signed("imported.example.net")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    printed = lemur.ok("cert", "import", str(certfile), "--team", TEAM, "--key", str(keyfile))
    found = re.search(r"imported certificate (\d+): imported.example.net", printed)
    assert found, printed
    detail = lemur.json("cert", "show", found.group(1))
    assert detail["origin"] == "imported"
    assert detail["has_private_key"] is True
    assert detail["fingerprint_sha256"] == cert.fingerprint(hashes.SHA256()).hex()

    before = rows(lemur)
    again = lemur.run("cert", "import", str(certfile), "--team", TEAM)
    assert again.returncode == CONFLICT
    assert "certificate_exists" in again.stderr
    assert found.group(1) in again.stderr
    assert rows(lemur) == before


def test_import_der_and_pkcs12_are_sent_as_base64(lemur: Lemur, tmp_path: Path) -> None:
    cert, _ = self_signed("der.example.net")
    der = tmp_path / "cert.der"
    der.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    item = lemur.json("cert", "import", str(der), "--team", TEAM)
    assert item["fingerprint_sha256"] == cert.fingerprint(hashes.SHA256()).hex()
    assert item["has_private_key"] is False

    cert2, key2 = self_signed("p12.example.net")
    p12 = tmp_path / "bundle.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"p12", key2, cert2, None, serialization.BestAvailableEncryption(PASSPHRASE.encode())
        )
    )
    before = rows(lemur)
    wrong = lemur.run(
        "cert", "import", str(p12), "--team", TEAM, "--passphrase-stdin", stdin="nope\n"
    )
    assert wrong.returncode == INVALID, wrong.stderr
    assert rows(lemur) == before
    imported = lemur.json(
        "cert", "import", str(p12), "--team", TEAM, "--passphrase-stdin", stdin=PASSPHRASE + "\n"
    )
    assert imported["common_name"] == "p12.example.net"
    assert imported["has_private_key"] is True


# -- revoke, renew -----------------------------------------------------------------------------


def test_revoke_without_yes_on_a_pipe_refuses(lemur: Lemur) -> None:
    item = lemur.issue("keep.example.com")
    done = lemur.run("cert", "revoke", str(item["id"]), "--reason", "key_compromise")
    assert done.returncode == USAGE
    assert "--yes" in done.stderr
    assert lemur.json("cert", "show", str(item["id"]))["status"] == "valid"


def test_revoke_asks_on_a_terminal(lemur: Lemur) -> None:
    item = lemur.issue("ask.example.com")
    code, printed = run_on_terminal(lemur, ["cert", "revoke", str(item["id"])], "n")
    assert code == ERROR, printed
    assert "Revoke certificate" in printed
    assert "not revoked" in printed
    assert lemur.json("cert", "show", str(item["id"]))["status"] == "valid"

    code, printed = run_on_terminal(lemur, ["cert", "revoke", str(item["id"])], "y")
    assert code == OK, printed
    assert lemur.json("cert", "show", str(item["id"]))["status"] == "revoked"


def test_revoke_with_yes(lemur: Lemur) -> None:
    item = lemur.issue("revoke.example.com")
    printed = lemur.ok("cert", "revoke", str(item["id"]), "--reason", "key_compromise", "--yes")
    assert f"revoked certificate {item['id']}" in printed
    assert "key_compromise" in printed
    shown = lemur.ok("cert", "show", str(item["id"]))
    assert re.search(r"status\s+revoked", shown), shown
    assert "(key_compromise)" in shown
    listed = lemur.json("cert", "list", "--status", "revoked", "--all-pages")
    assert item["id"] in {c["id"] for c in listed["items"]}

    bad = lemur.run("cert", "revoke", str(item["id"]), "--reason", "bored", "--yes")
    assert bad.returncode == USAGE


def test_renew_links_the_lineage(lemur: Lemur) -> None:
    item = lemur.issue("renew.example.com")
    printed = lemur.ok("cert", "renew", str(item["id"]), "--days", "30")
    found = re.search(rf"renewed {item['id']} as certificate (\d+)", printed)
    assert found, printed
    new_id = int(found.group(1))
    assert new_id != item["id"]
    assert f"lineage: {item['id']} -> {new_id}" in printed
    new = lemur.json("cert", "show", str(new_id))
    assert new["names"] == item["names"]
    assert new["replaces_id"] == item["id"]
    assert new["fingerprint_sha256"] != item["fingerprint_sha256"]
    assert {e["id"] for e in new["lineage"]} == {item["id"], new_id}
    shown = lemur.ok("cert", "show", str(new_id))
    assert "lineage" in shown
    assert re.search(rf"{new_id}: .*<- this one", shown), shown
    assert re.search(rf"\b{item['id']}: ", shown), shown
    old = lemur.json("cert", "show", str(item["id"]))
    assert old["replaced_by_id"] == new_id


# -- authorities -------------------------------------------------------------------------------


def test_authority_create_list_show(lemur: Lemur, tmp_path: Path) -> None:
    root = lemur.json(
        "authority", "create", "cli-root", "--cn", "CLI Root", "--org", "Example",
        "--country", "DE", "--key-type", "ec-p384", "--days", "3650",
    )  # fmt: skip
    assert root["subject"] == "CN=CLI Root,O=Example,C=DE"
    assert root["parent_id"] is None
    printed = lemur.ok(
        "authority", "create", "cli-issuing", "--cn", "CLI Issuing", "--parent", "cli-root",
        "--path-length", "0", "--permit-dns", "example.net", "--exclude-dns", "bad.example.net",
        "--default-days", "30", "--max-days", "60", "--days", "1000",
    )  # fmt: skip
    assert "authority" in printed
    assert "cli-issuing" in printed
    assert re.search(r"^parent +cli-root", printed, re.MULTILINE), printed
    assert "30 days by default, at most 60" in printed

    listed = lemur.ok("authority", "list")
    assert re.search(r"cli-issuing\s+CN=CLI Issuing\s+cli-root", listed), listed
    assert {a["name"] for a in lemur.json("authority", "list")} >= {
        "cli-root",
        "cli-issuing",
        ISSUING,
        "local-root-ca",
    }

    shown = lemur.ok("authority", "show", "cli-issuing")
    assert "1. CN=CLI Issuing" in shown
    assert "2. CN=CLI Root,O=Example,C=DE" in shown
    pem = lemur.ok("authority", "show", "cli-issuing", "--pem")
    chain = x509.load_pem_x509_certificates(pem.encode())
    assert [c.subject.rfc4514_string() for c in chain] == [
        "CN=CLI Issuing",
        "CN=CLI Root,O=Example,C=DE",
    ]
    constraints = chain[0].extensions.get_extension_for_class(x509.NameConstraints).value
    assert constraints.permitted_subtrees == [x509.DNSName("example.net")]
    detail = lemur.json("authority", "show", str(root["id"]))
    assert detail["name"] == "cli-root"

    # Issued under it, by name; the constraint holds; the default validity applies.
    leaf = lemur.json(
        "cert", "request", "www.example.net", "--team", TEAM, "--authority", "cli-issuing"
    )
    lifetime = dt.datetime.fromisoformat(leaf["not_after"]) - dt.datetime.fromisoformat(
        leaf["not_before"]
    )
    assert lifetime <= dt.timedelta(days=30, minutes=10)
    outside = lemur.run(
        "cert", "request", "www.example.com", "--team", TEAM, "--authority", "cli-issuing"
    )
    assert outside.returncode == INVALID, outside.stderr


def test_authority_errors(lemur: Lemur) -> None:
    before = lemur.count("authorities")
    missing = lemur.run("authority", "show", "no-such-ca")
    assert missing.returncode == NOT_FOUND
    assert "no authority named 'no-such-ca'" in missing.stderr
    assert ISSUING in missing.stderr
    orphan = lemur.run("authority", "create", "orphan", "--cn", "Orphan", "--parent", "nope")
    assert orphan.returncode == NOT_FOUND
    assert "[parent]" in orphan.stderr
    bad_country = lemur.run(
        "authority", "create", "badc", "--cn", "Bad", "--country", "DEU", "--json"
    )
    assert bad_country.returncode == INVALID
    assert "country" in json.loads(bad_country.stdout)["error"]["field"]
    assert lemur.count("authorities") == before


# -- errors ------------------------------------------------------------------------------------


def test_unknown_team_is_not_found_with_the_known_teams(lemur: Lemur) -> None:
    before = rows(lemur)
    done = lemur.run(
        "cert", "request", "x.example.com", "--team", "nosuchteam", "--authority", ISSUING
    )
    assert done.returncode == NOT_FOUND
    assert "error [team]: no team named 'nosuchteam'" in done.stderr
    assert f"known: {TEAM}" in done.stderr
    assert rows(lemur) == before


def test_invalid_dns_name_names_the_field(lemur: Lemur) -> None:
    before = rows(lemur)
    done = lemur.run(
        "cert", "request", "bad_label.example.com", "--team", TEAM, "--authority", ISSUING
    )
    assert done.returncode == INVALID
    assert "error [subject_alternative_names.dns_names[0]]" in done.stderr
    assert "(invalid_dns_name)" in done.stderr
    as_json = lemur.run(
        "cert", "request", "a..example.com", "--team", TEAM, "--authority", ISSUING, "--json"
    )
    assert as_json.returncode == INVALID
    error = json.loads(as_json.stdout)["error"]
    assert error["field"] == "subject_alternative_names.dns_names[0]"
    assert error["code"]
    assert rows(lemur) == before


def test_wrong_or_missing_token_is_denied(lemur: Lemur) -> None:
    wrong = lemur.run("cert", "list", env={"LEMUR_TOKEN": "lmr_0000000000000000_nottherealsecret"})
    assert wrong.returncode == DENIED
    assert "error" in wrong.stderr
    assert "nottherealsecret" not in wrong.stdout + wrong.stderr
    flag = lemur.run("cert", "list", "--token", "lmr_0000000000000000_other", "--json")
    assert flag.returncode == DENIED
    assert json.loads(flag.stdout)["error"]["code"]
    assert "lmr_0000000000000000_other" not in flag.stdout + flag.stderr
    missing = lemur.run("authority", "list", env={"LEMUR_TOKEN": ""})
    assert missing.returncode == DENIED
    assert "LEMUR_TOKEN" in missing.stderr


def test_server_not_running(lemur: Lemur) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = lemur.run("cert", "list", env={"LEMUR_URL": url})
    assert done.returncode == ERROR
    assert f"cannot reach Lemur at {url}: is `lemur serve` running?" in done.stderr
    by_flag = lemur.run("authority", "list", "--url", url, "--json")
    assert by_flag.returncode == ERROR
    assert json.loads(by_flag.stdout)["error"]["code"] == "lemur_unreachable"


def test_unknown_certificate_and_bad_url(lemur: Lemur) -> None:
    missing = lemur.run("cert", "show", "987654")
    assert missing.returncode == NOT_FOUND
    assert "987654" in missing.stderr
    bad = lemur.run("cert", "list", "--url", "ftp://example.com")
    assert bad.returncode == 7
    assert "http://" in bad.stderr


def test_export_json_carries_binary_as_base64(lemur: Lemur) -> None:
    # (Every other command's --json output is parsed by the tests above.)
    item = lemur.issue("json.example.com")
    export = lemur.json("cert", "export", str(item["id"]), "--format", "der-certificate")
    assert x509.load_der_x509_certificate(base64.b64decode(export["content_base64"]))
    assert export["contains_private_key"] is False


def test_request_with_csr_keeps_no_key(lemur: Lemur, tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "csr.example.com")]))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("csr.example.com")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "app.csr"
    path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    printed = lemur.ok(
        "cert", "request", "--csr", str(path), "--team", TEAM, "--authority", ISSUING
    )
    assert "issued certificate" in printed
    assert "(no key in Lemur)" in printed
    found = lemur.json("cert", "list", "--name", "csr.example.com")["items"]
    assert [c["has_private_key"] for c in found] == [False]


def test_error_messages_echoing_brackets_are_printed_verbatim(lemur: Lemur) -> None:
    done = lemur.run("cert", "request", "a.example.com", "--team", "[/x]", "--authority", ISSUING)
    assert done.returncode == NOT_FOUND, done.stderr
    assert "no team named '[/x]'" in done.stderr
