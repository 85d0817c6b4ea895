"""A real ACME CA for the ``acme`` issuer's tests: Pebble (Debian's ``pebble``) validating
against a real BIND9 (``named``), both on free loopback ports, once per xdist worker.

- BIND serves ``example.test`` with a wildcard A record 127.0.0.1 (so every HTTP-01 name
  reaches the loopback) and takes RFC 2136 TXT updates signed with a TSIG key;
  ``_acme-challenge.broken.example.test`` is a CNAME to nowhere, so DNS-01 for
  ``broken.example.test`` fails at the CA whatever is added.
- Pebble (``PEBBLE_VA_NOSLEEP=1``, no nonce rejection, no authorization reuse) resolves
  through BIND; its HTTP-01 port is a small server here that answers
  ``/.well-known/acme-challenge/<token>`` from :attr:`PebblePeer.responder` (a
  ChallengeResponder to give plugins), or by forwarding to ``http01_target`` when a test
  sets it (a real ``lemur serve``).
- ``pebble_eab``: a second Pebble that requires External Account Binding, with the key
  :data:`EAB_KID` / :data:`EAB_HMAC_KEY` (started only when a test asks for it).

Fixtures: ``pebble`` and ``pebble_eab`` (session), both :class:`PebblePeer`.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.update
import httpx
import pytest

from tests.peers.server import free_port
from tests.peers.tls import write_tls_material

ZONE = "example.test"
TSIG_NAME = "lemur-acme-key"
TSIG_ALGORITHM = "hmac-sha256"
EAB_KID = "lemur-test-kid"
EAB_HMAC_KEY = base64.urlsafe_b64encode(b"lemur-eab-mac-key-0123456789abcd").decode().rstrip("=")
INSTALL_HINT = "run scripts/install-peers.sh (Debian packages pebble, bind9)"


def _binary(name: str, *candidates: str) -> str:
    for path in (shutil.which(name), *candidates):
        if path and os.access(path, os.X_OK):
            return path
    pytest.fail(f"{name} is not installed: {INSTALL_HINT}")


class MemoryResponder:
    """An in-memory ChallengeResponder: what plugins publish is served on Pebble's HTTP-01
    port; the history says what was published and withdrawn."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.served: dict[str, str] = {}
        self.published: list[str] = []
        self.withdrawn: list[str] = []

    def publish(self, token: str, content: str) -> None:
        with self._lock:
            self.served[token] = content
            self.published.append(token)

    def withdraw(self, token: str) -> None:
        with self._lock:
            self.served.pop(token, None)
            self.withdrawn.append(token)

    def content(self, token: str) -> str | None:
        with self._lock:
            return self.served.get(token)


def _tls_files(directory: Path) -> tuple[Path, Path, str]:
    """The directory's TLS certificate (Pebble serves ACME over https only): (cert, key,
    CA PEM)."""
    tls = directory / "tls"
    tls.mkdir(exist_ok=True)
    cafile, cert, key = write_tls_material(tls, "pebble-tls-test-ca")
    return cert, key, cafile.read_text()


def _stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout)


class BindServer:
    def __init__(self, directory: Path) -> None:
        named = _binary("named", "/usr/sbin/named")
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tsig_secret = base64.b64encode(secrets.token_bytes(32)).decode()
        (directory / "tsig.key").write_text(
            f'key "{TSIG_NAME}" {{ algorithm {TSIG_ALGORITHM}; secret "{self.tsig_secret}"; }};\n'
        )
        (directory / "tsig.key").chmod(0o600)
        (directory / f"{ZONE}.zone").write_text(
            "$TTL 60\n"
            f"@ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. ( 1 3600 600 86400 60 )\n"
            f"  IN NS ns1.{ZONE}.\n"
            "ns1 IN A 127.0.0.1\n"
            "* IN A 127.0.0.1\n"
            "_acme-challenge.broken IN CNAME nowhere.invalid.\n"
        )
        (directory / f"{ZONE}.zone.jnl").unlink(missing_ok=True)
        (directory / "named.conf").write_text(
            "options {\n"
            f'  directory "{directory}";\n'
            f'  pid-file "{directory}/named.pid";\n'
            f'  session-keyfile "{directory}/session.key";\n'
            f"  listen-on port {self.port} {{ 127.0.0.1; }};\n"
            "  listen-on-v6 { none; };\n"
            "  recursion no;\n"
            "  dnssec-validation no;\n"
            "};\n"
            "controls { };\n"
            f'include "{directory}/tsig.key";\n'
            f'zone "{ZONE}" {{\n'
            "  type primary;\n"
            f'  file "{directory}/{ZONE}.zone";\n'
            f"  update-policy {{ grant {TSIG_NAME} zonesub TXT; }};\n"
            "};\n"
        )
        self.log_path = directory / "named.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [named, "-g", "-c", str(directory / "named.conf")],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            self._wait_ready(timeout=20)
        except BaseException:
            self.stop()  # never leave a named behind when the start fails
            raise

    def _wait_ready(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"named exited: {self.log_path.read_text(errors='replace')}")
            try:
                query = dns.message.make_query(ZONE, "SOA")
                if dns.query.udp(query, "127.0.0.1", port=self.port, timeout=1).rcode() == 0:
                    return
            except (dns.exception.DNSException, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"named not ready: {self.log_path.read_text(errors='replace')}")
            time.sleep(0.05)

    def txt_records(self, name: str) -> list[str]:
        query = dns.message.make_query(name.rstrip(".") + ".", "TXT")
        response = dns.query.tcp(query, "127.0.0.1", port=self.port, timeout=5)
        values = []
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                values += [b"".join(r.strings).decode() for r in rrset]
        return values

    def add_txt(self, name: str, value: str) -> None:
        """Add a TXT record as an RFC 2136 client with the TSIG key would."""
        self._update(name, value, add=True)

    def delete_txt(self, name: str, value: str) -> None:
        self._update(name, value, add=False)

    def _update(self, name: str, value: str, *, add: bool) -> None:
        keyring = dns.tsigkeyring.from_text({TSIG_NAME: (TSIG_ALGORITHM, self.tsig_secret)})
        update = dns.update.UpdateMessage(ZONE, keyring=keyring)
        if add:
            update.add(name.rstrip(".") + ".", 60, "TXT", f'"{value}"')
        else:
            update.delete(name.rstrip(".") + ".", "TXT", f'"{value}"')
        response = dns.query.tcp(update, "127.0.0.1", port=self.port, timeout=5)
        assert response.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(response.rcode())

    def stop(self) -> None:
        _stop(self.process)


class _ChallengeHandler(http.server.BaseHTTPRequestHandler):
    peer: PebblePeer

    def do_GET(self) -> None:
        prefix = "/.well-known/acme-challenge/"
        status, body = 404, b""
        if self.path.startswith(prefix):
            target = self.peer.http01_target
            if target is not None:
                try:
                    reply = httpx.get(
                        target.rstrip("/") + self.path,
                        headers={"Host": self.headers.get("Host", "")},
                        timeout=5,
                    )
                    status, body = reply.status_code, reply.content
                except httpx.HTTPError:
                    status = 502
            else:
                content = self.peer.responder.content(self.path[len(prefix) :])
                if content is not None:
                    status, body = 200, content.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class PebblePeer:
    """Pebble with its BIND: ``directory_url``, ``ca_bundle_pem`` (the directory's TLS CA),
    ``roots`` (the issuing root, PEM), ``tsig_name``/``tsig_secret``/``tsig_algorithm``,
    ``dns_port``, ``zone``, ``txt_records(name)``, ``responder``, ``http01_target``,
    ``cert_status(serial)``. ``http_port``: Pebble's HTTP-01 checks go straight to that
    port (a ``lemur serve`` answering them itself) instead of the peer's own server."""

    def __init__(
        self,
        directory: Path,
        bind: BindServer,
        *,
        eab: bool = False,
        http_port: int | None = None,
    ) -> None:
        pebble = _binary("pebble", "/usr/bin/pebble")
        directory.mkdir(parents=True, exist_ok=True)
        self.bind = bind
        self.zone = ZONE
        self.dns_port = bind.port
        self.tsig_name, self.tsig_algorithm = TSIG_NAME, TSIG_ALGORITHM
        self.tsig_secret = bind.tsig_secret
        self.responder = MemoryResponder()
        self.http01_target: str | None = None
        self._http: http.server.ThreadingHTTPServer | None = None
        if http_port is None:
            handler = type("Handler", (_ChallengeHandler,), {"peer": self})
            self._http = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
            self._http.daemon_threads = True
            threading.Thread(target=self._http.serve_forever, daemon=True).start()
            http_port = self._http.server_address[1]
        cert, key, self.ca_bundle_pem = _tls_files(directory)
        (directory / "ca.pem").write_text(self.ca_bundle_pem)
        self.ca_file = str(directory / "ca.pem")
        self._tls = ssl.create_default_context(cadata=self.ca_bundle_pem)
        port, management = free_port(), free_port()
        config: dict[str, object] = {
            "listenAddress": f"127.0.0.1:{port}",
            "managementListenAddress": f"127.0.0.1:{management}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": eab,
        }
        if eab:
            config["externalAccountMACKeys"] = {EAB_KID: EAB_HMAC_KEY}
        (directory / "pebble.json").write_text(json.dumps({"pebble": config}))
        self.directory_url = f"https://127.0.0.1:{port}/dir"
        self.management_url = f"https://127.0.0.1:{management}"
        env = {
            **os.environ,
            "PEBBLE_VA_NOSLEEP": "1",
            "PEBBLE_WFE_NONCEREJECT": "0",
            "PEBBLE_AUTHZREUSE": "0",
            # A second chain to another root, offered as an alternate (RFC 8555 §7.4.2).
            "PEBBLE_ALTERNATE_ROOTS": "1",
        }
        self.log_path = directory / "pebble.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    pebble,
                    "-config",
                    str(directory / "pebble.json"),
                    "-dnsserver",
                    f"127.0.0.1:{bind.port}",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=directory,
            )
        try:
            self._wait_ready(timeout=60)
            self.roots = self._management("/roots/0").text
            self.alternate_root = self._management("/roots/1").text
        except BaseException:
            self.stop()  # never leave a Pebble behind when the start fails
            raise

    def _wait_ready(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"pebble exited: {self.log_path.read_text(errors='replace')}")
            try:
                if httpx.get(self.directory_url, verify=self._tls, timeout=2).is_success:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"pebble not ready: {self.log_path.read_text(errors='replace')}")
            time.sleep(0.1)

    def _management(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.management_url}{path}", verify=self._tls, timeout=10)

    def txt_records(self, name: str) -> list[str]:
        return self.bind.txt_records(name)

    def cert_status(self, serial: int) -> dict[str, object]:
        """Pebble's view of an issued certificate (``Status``: Valid or Revoked)."""
        reply = self._management(f"/cert-status-by-serial/{serial:x}")
        reply.raise_for_status()
        status: dict[str, object] = reply.json()
        return status

    def stop(self) -> None:
        _stop(self.process)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()


@pytest.fixture(scope="session")
def _pebble_bind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BindServer]:
    bind = BindServer(tmp_path_factory.mktemp("bind"))
    yield bind
    bind.stop()


@pytest.fixture(scope="session")
def pebble(
    tmp_path_factory: pytest.TempPathFactory, _pebble_bind: BindServer
) -> Iterator[PebblePeer]:
    peer = PebblePeer(tmp_path_factory.mktemp("pebble"), _pebble_bind)
    yield peer
    peer.stop()


@pytest.fixture(scope="session")
def pebble_eab(
    tmp_path_factory: pytest.TempPathFactory, _pebble_bind: BindServer
) -> Iterator[PebblePeer]:
    peer = PebblePeer(tmp_path_factory.mktemp("pebble-eab"), _pebble_bind, eab=True)
    yield peer
    peer.stop()
