"""A real ``cfssl serve`` (Debian's golang-cfssl, PEERS.md §2), one per xdist worker per
session, on free loopback ports: once over http, once over https with a server certificate
from a separate TLS CA (for the ``ca_bundle`` option). Both sign with the same CA, made by
``cfssl gencert -initca``, and share a SQLite certificate database (``-db-config``) so that
``/revoke`` works, and ``cfssl ocsprefresh`` signs OCSP answers from it.

Profiles: ``server`` and ``client`` (their usages), ``authed`` (needs the auth key
:data:`AUTH_KEY_HEX`, so /authsign) and ``restricted`` (a name whitelist of
``*.example.test``, for a request cfssl refuses). A ``multirootca`` serves two signers
with the same configuration: :data:`PRIMARY_LABEL` (the same CA) and :data:`SECOND_LABEL`
(another CA). Fixture: ``cfssl_peer`` ->
:class:`CFSSLPeer`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509 import ocsp

from tests.peers.server import free_port
from tests.peers.tls import write_tls_material

AUTH_KEY_HEX = "0123456789ABCDEF0123456789ABCDEF"
SERVER_PROFILE = "server"
CLIENT_PROFILE = "client"
AUTHED_PROFILE = "authed"
RESTRICTED_PROFILE = "restricted"
PRIMARY_LABEL = "primary"
SECOND_LABEL = "second"
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
    multiroot_url: str  # multirootca: labels PRIMARY_LABEL (this CA) and SECOND_LABEL
    ca_pem: str  # the signing CA
    second_ca_pem: str  # the CA behind multirootca's SECOND_LABEL
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
        with self._another("no-certdb", certdb=None) as url:
            yield url

    @contextlib.contextmanager
    def with_broken_certdb(self) -> Iterator[str]:
        """Another cfssl serve whose certificate database has no tables: it signs, fails
        to record the certificate, and refuses to hand it out."""
        empty = self.directory / "empty-certdb.sqlite"
        empty.touch()
        config = self.directory / "empty-db.json"
        config.write_text(json.dumps({"driver": "sqlite3", "data_source": str(empty)}))
        with self._another("broken-certdb", certdb=config) as url:
            yield url

    @contextlib.contextmanager
    def _another(self, name: str, *, certdb: Path | None) -> Iterator[str]:
        args = _serve_args(cfssl_binary(), self.directory, certdb=certdb)
        process, url = _spawn(args, self.directory, name, True, "http")
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
    """The https listener's certificate: (CA PEM, cert path, key path)."""
    tls = directory / "tls"
    tls.mkdir(exist_ok=True)
    cafile, cert, key = write_tls_material(tls, "cfssl test TLS CA")
    return cafile.read_text(), cert, key


def _init_ca(binary: str, directory: Path, csr: Mapping[str, object] = CA_CSR) -> tuple[Path, Path]:
    """``cfssl gencert -initca``: the signing CA's certificate and key files."""
    directory.mkdir(exist_ok=True)
    (directory / "ca-csr.json").write_text(json.dumps(csr))
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


def _serve_args(binary: str, directory: Path, *, certdb: Path | None) -> list[str]:
    args = [binary, "serve", "-address", "127.0.0.1", "-loglevel", "1"]
    args += ["-ca", str(directory / "ca.pem"), "-ca-key", str(directory / "ca-key.pem")]
    args += ["-config", str(directory / "config.json")]
    if certdb is not None:
        args += ["-db-config", str(certdb)]
    return args


def _spawn(
    args: list[str],
    directory: Path,
    name: str,
    verify: bool | ssl.SSLContext,
    scheme: str,
    *,
    listen: Callable[[int], list[str]] = lambda port: ["-port", str(port)],
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = directory / f"serve-{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*args, *listen(port)], stdout=out, stderr=subprocess.STDOUT, cwd=directory
        )
    url = f"{scheme}://127.0.0.1:{port}"
    try:
        _wait(process, url, log, verify)
    except RuntimeError:
        process.kill()
        process.wait()
        raise
    return process, url


def _multirootca(directory: Path, second: Path) -> list[str]:
    """multirootca with two signers (its roots file, ini format), the primary by default."""
    multirootca = shutil.which("multirootca")
    if multirootca is None:
        pytest.fail("multirootca is not installed: run scripts/install-peers.sh (golang-cfssl)")
    roots = directory / "roots.conf"
    roots.write_text(
        "".join(
            f"[{label}]\nprivate = file://{ca_dir / 'ca-key.pem'}\n"
            f"certificate = {ca_dir / 'ca.pem'}\nconfig = {directory / 'config.json'}\n\n"
            for label, ca_dir in ((PRIMARY_LABEL, directory), (SECOND_LABEL, second))
        )
    )
    return [multirootca, "-roots", str(roots), "-l", PRIMARY_LABEL]


def start_cfssl(directory: Path) -> CFSSLPeer:
    binary = cfssl_binary()
    ca_path, _ = _init_ca(binary, directory)
    second_ca, _ = _init_ca(
        binary, directory / "second", {**CA_CSR, "CN": "Lemur Test multirootca Second"}
    )
    (directory / "config.json").write_text(json.dumps(CONFIG))
    db_path = directory / "certdb.sqlite"
    with sqlite3.connect(db_path) as db:
        db.executescript(CERTDB_SCHEMA)
    (directory / "db.json").write_text(
        json.dumps({"driver": "sqlite3", "data_source": str(db_path)})
    )
    tls_ca_pem, tls_cert, tls_key = _tls_material(directory)
    args = _serve_args(binary, directory, certdb=directory / "db.json")
    started: list[subprocess.Popen[bytes]] = []
    try:
        plain, url = _spawn(args, directory, "http", True, "http")
        started.append(plain)
        tls_args = [*args, "-tls-cert", str(tls_cert), "-tls-key", str(tls_key)]
        verify = ssl.create_default_context(cadata=tls_ca_pem)
        tls, tls_url = _spawn(tls_args, directory, "https", verify, "https")
        started.append(tls)
        multiroot, multiroot_url = _spawn(
            _multirootca(directory, directory / "second"),
            directory,
            "multirootca",
            True,
            "http",
            listen=lambda port: ["-a", f"127.0.0.1:{port}"],
        )
        started.append(multiroot)
    except RuntimeError:
        for process in started:
            _stop(process)
        raise
    return CFSSLPeer(
        url=url,
        tls_url=tls_url,
        multiroot_url=multiroot_url,
        ca_pem=ca_path.read_text(),
        second_ca_pem=second_ca.read_text(),
        tls_ca_pem=tls_ca_pem,
        auth_key_hex=AUTH_KEY_HEX,
        db_path=db_path,
        directory=directory,
        processes=(plain, tls, multiroot),
    )


@pytest.fixture(scope="session")
def cfssl_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CFSSLPeer]:
    peer = start_cfssl(tmp_path_factory.mktemp("cfssl"))
    yield peer
    peer.stop()
