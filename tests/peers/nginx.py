"""A real nginx (PEERS.md §7) serving TLS 1.2/1.3 on a free loopback port, with one server
block per site whose certificate and key are files in a directory the tests deploy to, and
a helper that reads what it presents for an SNI name.

nginx runs as the ``deployer`` user (the sshd peer's), so both a local root process and the
sftp destination's remote reload command (run as ``deployer``) may reload it. Each site
starts with a throwaway self-signed certificate, so nginx can start at all.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.peers.server import free_port
from tests.peers.sshd import USER, ensure_user

NGINX = "/usr/sbin/nginx"
SITES = ("a.example.test", "b.example.test")
CERT_FILE, KEY_FILE = "fullchain.pem", "key.pem"


@dataclass
class NginxPeer:
    host: str
    port: int
    prefix: Path
    process: subprocess.Popen[bytes]

    @property
    def config(self) -> Path:
        return self.prefix / "nginx.conf"

    def site_directory(self, name: str) -> Path:
        """Where the site's ``fullchain.pem`` and ``key.pem`` are read from."""
        return self.prefix / "sites" / name

    @property
    def reload_argv(self) -> list[str]:
        return [
            NGINX,
            "-p",
            str(self.prefix),
            "-c",
            str(self.config),
            "-e",
            str(self.prefix / "logs" / "error.log"),
            "-s",
            "reload",
        ]

    @property
    def error_log(self) -> str:
        return (self.prefix / "logs" / "error.log").read_text(errors="replace")

    def served(self, sni: str) -> tuple[x509.Certificate, list[x509.Certificate]]:
        return presented_chain(self.host, self.port, sni)

    def wait_for(self, sni: str, certificate: x509.Certificate, timeout: float = 5) -> None:
        """Until nginx serves ``certificate`` for ``sni`` (a reload takes effect as the
        master starts new workers, a few milliseconds after the signal)."""
        deadline = time.monotonic() + timeout
        while True:
            leaf, _ = self.served(sni)
            if leaf == certificate:
                return
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"nginx still serves {leaf.subject.rfc4514_string()} serial "
                    f"{leaf.serial_number} for {sni}:\n{self.error_log[-2000:]}"
                )
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.prefix, ignore_errors=True)


def presented_chain(
    host: str, port: int, sni: str | None
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """The leaf and the chain a TLS server presents for ``sni``, without trusting them."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        getter = getattr(tls, "get_unverified_chain", None) or tls._sslobj.get_unverified_chain  # type: ignore[attr-defined]
        chain = [
            c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER) for c in getter()
        ]  # type: ignore[attr-defined]
    return x509.load_der_x509_certificate(der), [x509.load_der_x509_certificate(c) for c in chain]


def _throwaway(directory: Path, name: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"throwaway {name}")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (directory / CERT_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / KEY_FILE).write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def start_nginx() -> NginxPeer:
    user = ensure_user()
    prefix = Path(tempfile.mkdtemp(prefix="lemur-nginx-"))
    prefix.chmod(0o755)
    for sub in ("logs", "html", "sites", *(f"sites/{s}" for s in SITES)):
        (prefix / sub).mkdir(mode=0o755, exist_ok=True)
    for site in SITES:
        _throwaway(prefix / "sites" / site, site)
    port = free_port()
    servers = "".join(
        f"""
    server {{
        listen 127.0.0.1:{port} ssl{" default_server" if i == 0 else ""};
        server_name {site};
        ssl_certificate     {prefix}/sites/{site}/{CERT_FILE};
        ssl_certificate_key {prefix}/sites/{site}/{KEY_FILE};
        root {prefix}/html;
    }}"""
        for i, site in enumerate(SITES)
    )
    (prefix / "nginx.conf").write_text(
        f"""daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log notice;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/tmp_body; proxy_temp_path {prefix}/tmp_proxy;
    fastcgi_temp_path {prefix}/tmp_fcgi; uwsgi_temp_path {prefix}/tmp_uwsgi;
    scgi_temp_path {prefix}/tmp_scgi;
    ssl_protocols TLSv1.2 TLSv1.3;{servers}
}}
"""
    )
    for path in [prefix, *prefix.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)
    error_log = prefix / "logs" / "error.log"
    argv = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(error_log)]
    as_user = ["setpriv", f"--reuid={USER}", f"--regid={user.pw_gid}", "--init-groups", "--"]
    process = subprocess.Popen(
        [*as_user, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    peer = NginxPeer("127.0.0.1", port, prefix, process)
    deadline = time.monotonic() + 10
    while True:
        try:
            peer.served(SITES[0])
            return peer
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log = error_log.read_text(errors="replace") if error_log.exists() else ""
            peer.stop()
            raise RuntimeError(f"nginx did not start:\n{log}")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def nginx_peer() -> Iterator[NginxPeer]:
    if os.getuid() != 0:
        raise RuntimeError("the nginx peer needs root (it runs nginx as the deployer user)")
    peer = start_nginx()
    yield peer
    peer.stop()
