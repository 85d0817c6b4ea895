"""Pebble and BIND9 for the ACME benchmarks, on free loopback ports (the bench's own copy of
what tests/peers/pebble.py does for the tests: bench code does not import the tests).

- :class:`BindServer`: ``example.test`` with a wildcard A record 127.0.0.1 (every name
  reaches the loopback), RFC 2136 TXT updates signed with a TSIG key.
- :class:`PebblePeer`: Pebble (``PEBBLE_VA_NOSLEEP=1``, no nonce rejection, no
  authorization reuse) resolving through BIND. Its HTTP-01 port is either a small server
  here answering from :attr:`PebblePeer.responder`, or, with ``http_port``, another server
  on the loopback (a real ``lemur serve``, which answers challenges itself).

Also the options and plugin requests the benchmarks build (:func:`base_options`,
:func:`dns_options`, :func:`make_context`, :func:`make_request`). Processes are stopped by
the PIDs started here.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import ipaddress
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.tsigkeyring
import dns.update
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lemur.clock import SystemClock
from lemur.crypto.keys import KeySpec
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.profiles import Profile
from lemur.outbound import OutboundPolicy
from lemur.plugins.values import ChallengeResponder, IssuanceRequest, PluginContext

ZONE = "example.test"
TSIG_NAME = "lemur-acme-key"
TSIG_ALGORITHM = "hmac-sha256"
INSTALL_HINT = "run scripts/install-peers.sh (Debian packages pebble, bind9)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str, *candidates: str) -> str:
    for path in (shutil.which(name), *candidates):
        if path and os.access(path, os.X_OK):
            return path
    raise RuntimeError(f"{name} is not installed: {INSTALL_HINT}")


def _stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout)


class MemoryResponder:
    """An in-memory ChallengeResponder, served on Pebble's HTTP-01 port."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.served: dict[str, str] = {}

    def publish(self, token: str, content: str) -> None:
        with self._lock:
            self.served[token] = content

    def withdraw(self, token: str) -> None:
        with self._lock:
            self.served.pop(token, None)

    def content(self, token: str) -> str | None:
        with self._lock:
            return self.served.get(token)


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
        )
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
            self.stop()
            raise

    def _wait_ready(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"named exited: {self.log_path.read_text(errors='replace')}")
            try:
                query = dns.message.make_query(ZONE, "SOA")
                if dns.query.udp(query, "127.0.0.1", port=self.port, timeout=1).rcode() == 0:
                    return
            except (dns.exception.DNSException, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"named not ready: {self.log_path.read_text(errors='replace')}")
            time.sleep(0.05)

    def add_txt(self, name: str, value: str) -> None:
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
        if response.rcode() != dns.rcode.NOERROR:
            raise RuntimeError(f"DNS update refused: {dns.rcode.to_text(response.rcode())}")

    def stop(self) -> None:
        _stop(self.process)


def _tls_files(directory: Path) -> tuple[Path, Path, str]:
    """A CA and a server certificate for 127.0.0.1 (Pebble serves ACME over TLS only):
    (cert, key, CA PEM)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pebble directory bench CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "tls-cert.pem", directory / "tls-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path, ca.public_bytes(serialization.Encoding.PEM).decode()


class _ChallengeHandler(http.server.BaseHTTPRequestHandler):
    responder: MemoryResponder

    def do_GET(self) -> None:
        prefix = "/.well-known/acme-challenge/"
        content = (
            self.responder.content(self.path[len(prefix) :])
            if self.path.startswith(prefix)
            else None
        )
        body = content.encode() if content is not None else b""
        self.send_response(200 if content is not None else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class PebblePeer:
    """Pebble with its BIND: ``directory_url``, ``ca_bundle_pem``/``ca_file`` (the
    directory's TLS CA), ``bind``, ``responder`` (when no ``http_port`` was given)."""

    def __init__(self, directory: Path, bind: BindServer, *, http_port: int | None = None):
        pebble = _binary("pebble", "/usr/bin/pebble")
        directory.mkdir(parents=True, exist_ok=True)
        self.bind = bind
        self.responder = MemoryResponder()
        self._http: http.server.ThreadingHTTPServer | None = None
        if http_port is None:
            handler = type("Handler", (_ChallengeHandler,), {"responder": self.responder})
            self._http = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
            self._http.daemon_threads = True
            threading.Thread(target=self._http.serve_forever, daemon=True).start()
            http_port = self._http.server_address[1]
        cert, key, self.ca_bundle_pem = _tls_files(directory)
        (directory / "ca.pem").write_text(self.ca_bundle_pem)
        self.ca_file = str(directory / "ca.pem")
        port = free_port()
        config = {
            "listenAddress": f"127.0.0.1:{port}",
            "managementListenAddress": f"127.0.0.1:{free_port()}",
            "certificate": str(cert),
            "privateKey": str(key),
            "httpPort": http_port,
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }
        (directory / "pebble.json").write_text(json.dumps({"pebble": config}))
        self.directory_url = f"https://127.0.0.1:{port}/dir"
        env = {
            **os.environ,
            "PEBBLE_VA_NOSLEEP": "1",
            "PEBBLE_WFE_NONCEREJECT": "0",
            "PEBBLE_AUTHZREUSE": "0",
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
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, *, timeout: float) -> None:
        tls = ssl.create_default_context(cadata=self.ca_bundle_pem)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"pebble exited: {self.log_path.read_text(errors='replace')}")
            try:
                if httpx.get(self.directory_url, verify=tls, timeout=2).is_success:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"pebble not ready: {self.log_path.read_text(errors='replace')}")
            time.sleep(0.1)

    def stop(self) -> None:
        _stop(self.process)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()


def base_options(peer: PebblePeer, **extra: Any) -> dict[str, Any]:
    """The acme authority's options for ``peer`` (HTTP-01)."""
    return {
        "directory_url": peer.directory_url,
        "ca_bundle": peer.ca_bundle_pem,
        "contact_email": "pki-team@example.org",
        "agree_to_terms": True,
        **extra,
    }


def dns_options(peer: PebblePeer, **extra: Any) -> dict[str, Any]:
    """The same with DNS-01 through ``peer``'s BIND (RFC 2136, TSIG)."""
    return base_options(
        peer,
        challenge="dns-01",
        dns_server="127.0.0.1",
        dns_port=peer.bind.port,
        dns_zone=ZONE,
        tsig_key_name=TSIG_NAME,
        tsig_algorithm=TSIG_ALGORITHM,
        tsig_secret=peer.bind.tsig_secret,
        **extra,
    )


def make_context(responder: ChallengeResponder | None) -> PluginContext:
    return PluginContext(
        clock=SystemClock(),
        logger=logging.getLogger("lemur.issuers.acme"),
        outbound=OutboundPolicy(timeout=5),
        challenges=responder,
    )


def make_request(names: list[str], *, common_name: str | None = None) -> IssuanceRequest:
    """A request as Lemur builds it for an ACME authority: a fresh P-256 key and a CSR."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else []
    )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    now = dt.datetime.now(dt.UTC)
    return IssuanceRequest(
        public_key=key.public_key(),
        key_spec=KeySpec.EC_P256,
        common_name=common_name,
        sans=SubjectAltNames(dns_names=tuple(names)),
        profile=Profile.SERVER,
        not_before=now,
        not_after=now + dt.timedelta(days=90),
        csr=csr,
    )
