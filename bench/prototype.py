"""The floor under Lemur's issuance figure: a minimal FastAPI + cryptography + SQLite server.

It does the irreducible work of one issuance over HTTP and nothing else: parse a JSON body
with a common name, generate an EC P-256 key, build and sign a 90-day server certificate
with a CA key held in memory, insert the certificate PEM and the private key (PKCS#8,
unencrypted) into one SQLite table in WAL mode, and answer 201 with a small JSON body. No
authentication, no validation beyond the body shape, no audit, no name index, no key
encryption. The issuance benchmark runs it under the same uvicorn settings as Lemur
(`--workers 2`, access log on) and the same wrk script, so ``certs/s`` of Lemur over this
figure is what Lemur's own layers cost.

Run on its own: ``python -m bench.prototype serve --port 8123 --db /tmp/proto.sqlite3``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import threading
from pathlib import Path

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
    import os

    return create_app(os.environ[DB_ENV])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    import os

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
