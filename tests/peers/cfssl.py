"""A real ``cfssl serve`` (Debian's golang-cfssl, PEERS.md §2), one per xdist worker per
session, on free loopback ports: once over http, once over https with a server certificate
from a separate TLS CA (for the ``ca_bundle`` option). Both sign with the same CA, made by
``cfssl gencert -initca``, and share a SQLite certificate database (``-db-config``) so that
``/revoke`` works, and ``cfssl ocsprefresh`` signs OCSP answers from it.

Profiles: ``server`` and ``client`` (their usages), ``authed`` (needs the auth key
:data:`AUTH_KEY_HEX`, so /authsign) and ``restricted`` (a name whitelist of
``*.example.test``, for a request cfssl refuses). Fixture: ``cfssl_peer`` ->
:class:`CFSSLPeer`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import sqlite3
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.peers.server import free_port

AUTH_KEY_HEX = "0123456789ABCDEF0123456789ABCDEF"
SERVER_PROFILE = "server"
CLIENT_PROFILE = "client"
AUTHED_PROFILE = "authed"
RESTRICTED_PROFILE = "restricted"
WHITELIST = r"^([a-z0-9-]+\.)*example\.test$"

_USAGES = ["signing", "digital signature", "key encipherment"]
CONFIG = {
    "signing": {
        "default": {"expiry": "168h", "usages": [*_USAGES, "server auth"]},
        "profiles": {
            SERVER_PROFILE: {"expiry": "2160h", "usages": [*_USAGES, "server auth"]},
            CLIENT_PROFILE: {"expiry": "2160h", "usages": [*_USAGES, "client auth"]},
            AUTHED_PROFILE: {
                "expiry": "2160h",
                "usages": [*_USAGES, "server auth"],
                "auth_key": "k1",
            },
            RESTRICTED_PROFILE: {
                "expiry": "2160h",
                "usages": [*_USAGES, "server auth"],
                "name_whitelist": WHITELIST,
            },
        },
    },
    "auth_keys": {"k1": {"type": "standard", "key": AUTH_KEY_HEX}},
}
CA_CSR = {
    "CN": "Lemur Test cfssl Root",
    "key": {"algo": "ecdsa", "size": 256},
    "names": [{"O": "Lemur Tests", "C": "US"}],
    "ca": {"expiry": "87600h"},
}
# cfssl's certdb schema (certdb/sqlite/migrations/001_CreateCertificates.sql and
# 002_AddMetadataToCertificates... in later versions; 1.2 uses these columns).
CERTDB_SCHEMA = """
CREATE TABLE certificates (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  ca_label                 blob,
  status                   blob NOT NULL,
  reason                   int,
  expiry                   timestamp,
  revoked_at               timestamp,
  pem                      blob NOT NULL,
  PRIMARY KEY(serial_number, authority_key_identifier)
);
CREATE TABLE ocsp_responses (
  serial_number            blob NOT NULL,
  authority_key_identifier blob NOT NULL,
  body                     blob NOT NULL,
  expiry                   timestamp,
  PRIMARY KEY(serial_number, authority_key_identifier),
  FOREIGN KEY(serial_number, authority_key_identifier)
    REFERENCES certificates(serial_number, authority_key_identifier)
);
"""


@dataclass(frozen=True)
class CertDBRow:
    serial_number: str
    authority_key_identifier: str
    status: str
    reason: int | None


@dataclass
class CFSSLPeer:
    url: str  # http://127.0.0.1:PORT (the base URL the plugin takes)
    tls_url: str  # https://127.0.0.1:PORT, the same CA behind TLS
    ca_pem: str  # the signing CA
    tls_ca_pem: str  # the CA of the https server's certificate (for ca_bundle)
    auth_key_hex: str
    db_path: Path
    directory: Path
    processes: tuple[subprocess.Popen[bytes], ...]

    server_profile: str = SERVER_PROFILE
    client_profile: str = CLIENT_PROFILE
    authed_profile: str = AUTHED_PROFILE
    restricted_profile: str = RESTRICTED_PROFILE

    @property
    def ca_certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.ca_pem.encode())

    @property
    def log(self) -> str:
        return "".join(
            p.read_text(errors="replace") for p in sorted(self.directory.glob("serve-*.log"))
        )

    def certdb_row(self, serial: int) -> CertDBRow | None:
        """The certificate database's row for ``serial`` (what /revoke changes)."""
        with sqlite3.connect(self.db_path) as db:
            found = db.execute(
                "SELECT serial_number, authority_key_identifier, status, reason "
                "FROM certificates WHERE serial_number = ?",
                (str(serial),),
            ).fetchone()
        return None if found is None else CertDBRow(*found)

    def ocsp_response(self, serial: int) -> ocsp.OCSPResponse:
        """cfssl's own OCSP answer for ``serial``: ``cfssl ocsprefresh`` signs responses
        for the certificate database's rows (the CA key standing in as responder), read back
        from its ocsp_responses table."""
        subprocess.run(
            [
                cfssl_binary(),
                "ocsprefresh",
                "-db-config",
                str(self.directory / "db.json"),
                "-ca",
                str(self.directory / "ca.pem"),
                "-responder",
                str(self.directory / "ca.pem"),
                "-responder-key",
                str(self.directory / "ca-key.pem"),
                "-interval",
                "0s",
            ],
            capture_output=True,
            check=True,
            timeout=60,
        )
        with sqlite3.connect(self.db_path) as db:
            db.text_factory = bytes
            found = db.execute(
                "SELECT body FROM ocsp_responses WHERE serial_number = ?", (str(serial),)
            ).fetchone()
        assert found is not None, f"cfssl made no OCSP response for {serial}"
        return ocsp.load_der_ocsp_response(found[0])

    @contextlib.contextmanager
    def without_certdb(self) -> Iterator[str]:
        """Another cfssl serve with the same CA and configuration but no ``-db-config``
        (its /revoke endpoint is off); yields its base URL and stops it afterwards."""
        args = _serve_args(cfssl_binary(), self.directory, certdb=False)
        process, url = _spawn(args, self.directory, "no-certdb", True, "http")
        try:
            yield url
        finally:
            _stop(process)

    def stop(self) -> None:
        for process in self.processes:
            _stop(process)


def _stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout)


def cfssl_binary() -> str:
    found = shutil.which("cfssl")
    if found is None:
        pytest.fail("cfssl is not installed: run scripts/install-peers.sh (Debian golang-cfssl)")
    return found


def _tls_material(directory: Path) -> tuple[str, Path, Path]:
    """A TLS CA and a certificate for localhost/127.0.0.1 from it: (CA PEM, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Lemur Test cfssl TLS CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls.pem", directory / "tls-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca.public_bytes(serialization.Encoding.PEM).decode(), cert_path, key_path


def _init_ca(binary: str, directory: Path) -> tuple[Path, Path]:
    """``cfssl gencert -initca``: the signing CA's certificate and key files."""
    (directory / "ca-csr.json").write_text(json.dumps(CA_CSR))
    done = subprocess.run(
        [binary, "gencert", "-initca", "ca-csr.json"],
        cwd=directory,
        capture_output=True,
        check=True,
        timeout=60,
    )
    made = json.loads(done.stdout)
    (directory / "ca.pem").write_text(made["cert"])
    (directory / "ca-key.pem").write_text(made["key"])
    (directory / "ca-key.pem").chmod(0o600)
    return directory / "ca.pem", directory / "ca-key.pem"


def _wait(
    process: subprocess.Popen[bytes], url: str, log: Path, verify: bool | ssl.SSLContext
) -> None:
    deadline = time.monotonic() + 20
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"cfssl serve exited: {log.read_text(errors='replace')}")
        try:
            r = httpx.post(f"{url}/api/v1/cfssl/info", json={}, timeout=2, verify=verify)
            if r.status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"cfssl serve did not answer: {log.read_text(errors='replace')}")
        time.sleep(0.05)


def _serve_args(binary: str, directory: Path, *, certdb: bool) -> list[str]:
    args = [binary, "serve", "-address", "127.0.0.1", "-loglevel", "1"]
    args += ["-ca", str(directory / "ca.pem"), "-ca-key", str(directory / "ca-key.pem")]
    args += ["-config", str(directory / "config.json")]
    if certdb:
        args += ["-db-config", str(directory / "db.json")]
    return args


def _spawn(
    args: list[str], directory: Path, name: str, verify: bool | ssl.SSLContext, scheme: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = directory / f"serve-{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*args, "-port", str(port)], stdout=out, stderr=subprocess.STDOUT, cwd=directory
        )
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        _wait(process, url, log, verify)
    except RuntimeError:
        process.kill()
        process.wait()
        raise
    return process, url


def start_cfssl(directory: Path) -> CFSSLPeer:
    binary = cfssl_binary()
    ca_path, _ = _init_ca(binary, directory)
    (directory / "config.json").write_text(json.dumps(CONFIG))
    db_path = directory / "certdb.sqlite"
    with sqlite3.connect(db_path) as db:
        db.executescript(CERTDB_SCHEMA)
    (directory / "db.json").write_text(
        json.dumps({"driver": "sqlite3", "data_source": str(db_path)})
    )
    tls_ca_pem, tls_cert, tls_key = _tls_material(directory)
    args = _serve_args(binary, directory, certdb=True)
    plain, url = _spawn(args, directory, "http", True, "http")
    try:
        tls_args = [*args, "-tls-cert", str(tls_cert), "-tls-key", str(tls_key)]
        verify = ssl.create_default_context(cadata=tls_ca_pem)
        tls, tls_url = _spawn(tls_args, directory, "https", verify, "https")
    except RuntimeError:
        plain.kill()
        plain.wait()
        raise
    return CFSSLPeer(
        url=url,
        tls_url=tls_url,
        ca_pem=ca_path.read_text(),
        tls_ca_pem=tls_ca_pem,
        auth_key_hex=AUTH_KEY_HEX,
        db_path=db_path,
        directory=directory,
        processes=(plain, tls),
    )


@pytest.fixture(scope="session")
def cfssl_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CFSSLPeer]:
    peer = start_cfssl(tmp_path_factory.mktemp("cfssl"))
    yield peer
    peer.stop()
