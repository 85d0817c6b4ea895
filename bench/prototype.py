"""The floor under Lemur's issuance figure: a minimal FastAPI + cryptography + SQLite server.

It does the irreducible work of one issuance over HTTP and nothing else: parse a JSON body
with a common name, generate an EC P-256 key, build and sign a 90-day server certificate
with a CA key held in memory, insert the certificate PEM and the private key (PKCS#8,
unencrypted) into one SQLite table in WAL mode, and answer 201 with a small JSON body. No
authentication, no validation beyond the body shape, no audit, no name index, no key
encryption. The issuance benchmark runs it under the same uvicorn settings as Lemur
(`--workers 2`, access log on) and the same wrk script, so ``certs/s`` of Lemur over this
figure is what Lemur's own layers cost.

Run on its own: ``python -m bench.prototype serve --port 8123 --db /tmp/proto.sqlite3``;
the issuance benchmark starts it with :func:`running_prototype`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi import FastAPI
from pydantic import BaseModel

DB_ENV = "BENCH_PROTOTYPE_DB"


class Request(BaseModel):
    common_name: str


def _ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Name]:
    key = ec.generate_private_key(ec.SECP256R1())
    return key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Prototype CA")])


def create_app(db_path: str) -> FastAPI:
    ca_key, ca_name = _ca()
    local = threading.local()

    def connection() -> sqlite3.Connection:
        conn = getattr(local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            local.conn = conn
        return conn

    connection().execute(
        "CREATE TABLE IF NOT EXISTS certificates (id INTEGER PRIMARY KEY, cn TEXT, "
        "serial TEXT, not_after TEXT, pem TEXT, key_pem TEXT)"
    )
    app = FastAPI()

    @app.post("/api/v1/certificates", status_code=201)
    def issue(body: Request) -> dict[str, object]:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        serial = x509.random_serial_number()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, body.common_name)]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now)
            .not_valid_after(now + dt.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(body.common_name)]), False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .sign(ca_key, hashes.SHA256())
        )
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        conn = connection()
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            row_id = conn.execute(
                "INSERT INTO certificates (cn, serial, not_after, pem, key_pem) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    body.common_name,
                    f"{serial:x}",
                    cert.not_valid_after_utc.isoformat(),
                    pem,
                    key_pem,
                ),
            ).lastrowid
        return {"id": row_id, "serial": f"{serial:x}", "common_name": body.common_name, "pem": pem}

    return app


def app_from_env() -> FastAPI:
    return create_app(os.environ[DB_ENV])


@contextlib.contextmanager
def running_prototype(*, workers: int = 2, timeout: float = 60.0) -> Iterator[str]:
    """Serve the prototype (uvicorn, ``workers`` processes, access log on, as Lemur is run)
    on a free port with a fresh database; yields its base URL. Stopped by the PIDs started
    here."""
    from bench.harness import _children, _free_port

    root = Path(tempfile.mkdtemp(prefix="lemur-bench-prototype-"))
    port = _free_port()
    log = (root / "serve.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.prototype",
            "serve",
            "--port",
            str(port),
            "--db",
            str(root / "prototype.sqlite3"),
            "--workers",
            str(workers),
        ],
        cwd=Path(__file__).resolve().parent.parent,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        with httpx.Client(timeout=2.0) as client:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the prototype exited; see {log.name}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get(f"{base_url}/openapi.json").status_code == 200:
                        break
                if time.perf_counter() - started > timeout:
                    raise RuntimeError(f"the prototype was not ready after {timeout} s")
                time.sleep(0.05)
            for _ in range(workers * 8):  # every worker has created its table and CA key
                client.post(f"{base_url}/api/v1/certificates", json={"common_name": "warm.example"})
        yield base_url
    finally:
        pids = [process.pid, *_children(process.pid)]
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                if Path(f"/proc/{pid}").exists():
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import uvicorn

    os.environ[DB_ENV] = str(args.db)
    uvicorn.run(
        "bench.prototype:app_from_env",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
    )


if __name__ == "__main__":
    main()
