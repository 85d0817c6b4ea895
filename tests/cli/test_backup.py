"""``lemur backup`` while ``lemur serve`` issues certificates, and ``lemur restore``: the
restored database passes integrity_check and audit verify, and a server on it decrypts and
exports a private key issued before the backup."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.cli.test_cli import lemur
from tests.peers.server import RunningServer, start_server

OK, INVALID, CONFLICT = 0, 3, 5


def write_token(data_dir: Path) -> str:
    done = lemur(
        data_dir,
        "token",
        "create",
        "--user",
        "admin",
        "--name",
        "load",
        "--scope",
        "write",
        "--json",
    )
    assert done.returncode == OK, done.stderr
    token: str = json.loads(done.stdout)["token"]
    return token


class Issuer:
    """Requests certificates over one connection until stopped; remembers what was issued."""

    def __init__(self, server: RunningServer, token: str, team_id: int, authority_id: int) -> None:
        self.client = httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        self.team_id = team_id
        self.authority_id = authority_id
        self.issued: list[int] = []
        self.failures: list[str] = []

    def run(self, stop: threading.Event) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            r = self.client.post(
                "/api/v1/certificates",
                json={
                    "team_id": self.team_id,
                    "authority_id": self.authority_id,
                    "subject_alternative_names": {"dns_names": [f"h{n}.{id(self)}.example.com"]},
                },
            )
            if r.status_code == 201:
                self.issued.append(r.json()["id"])
            else:
                self.failures.append(r.text)
        self.client.close()


def setup_issuance(server: RunningServer, token: str) -> tuple[int, int]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.base_url, headers=headers) as client:
        team = client.post("/api/v1/teams", json={"name": "ops"})
        assert team.status_code == 201, team.text
        authorities = client.get("/api/v1/authorities").json()
    [issuing] = [a for a in authorities if a["name"] == "local-issuing-ca"]
    return team.json()["id"], issuing["id"]


def test_backup_under_issuance_load_restores_a_consistent_usable_directory(
    data_dir: Path, tmp_path: Path
) -> None:
    token = write_token(data_dir)
    server = start_server(data_dir)
    stop = threading.Event()
    issuers: list[Issuer] = []
    threads: list[threading.Thread] = []
    try:
        team_id, authority_id = setup_issuance(server, token)
        issuers = [Issuer(server, token, team_id, authority_id) for _ in range(4)]
        threads = [threading.Thread(target=i.run, args=(stop,)) for i in issuers]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        backup_dir = tmp_path / "backup"
        done = lemur(data_dir, "backup", str(backup_dir), "--json")
        time.sleep(0.5)
        issued_before_restore = sum(len(i.issued) for i in issuers)
        # Restoring over the live directory is refused while the server runs on it.
        over_live = lemur(data_dir, "restore", str(backup_dir), "--force", "--json")
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
        server.stop()

    assert done.returncode == OK, done.stdout + done.stderr
    manifest: dict[str, Any] = json.loads(done.stdout)
    assert issued_before_restore > 0
    assert [f for i in issuers for f in i.failures] == []
    assert over_live.returncode == CONFLICT, over_live.stdout
    assert json.loads(over_live.stdout)["error"]["code"] == "server_running"
    key_file = backup_dir / "keyring"
    assert key_file.stat().st_mode & 0o777 == 0o600
    on_disk = json.loads((backup_dir / "manifest.json").read_text())
    assert on_disk["schema_revision"] == manifest["schema_revision"]
    assert f"{on_disk['audit_head_seq']}:{on_disk['audit_head_hash']}" == manifest["audit_head"]

    restored = tmp_path / "restored"
    done = lemur(restored, "restore", str(backup_dir), "--json")
    assert done.returncode == OK, done.stdout + done.stderr
    assert json.loads(done.stdout)["previous"] is None

    with sqlite3.connect(restored / "lemur.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        with_keys = [
            row[0]
            for row in conn.execute(
                "SELECT c.id FROM certificates c JOIN private_keys k ON k.certificate_id = c.id "
                "ORDER BY c.id DESC LIMIT 1"
            )
        ]
    verified = lemur(restored, "audit", "verify", "--expect-head", manifest["audit_head"])
    assert verified.returncode == OK, verified.stderr
    assert with_keys, "the snapshot holds no issued certificate with a key"

    server = start_server(restored)
    try:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.base_url, headers=headers) as client:
            certificate = client.get(f"/api/v1/certificates/{with_keys[0]}")
            exported = client.post(
                f"/api/v1/certificates/{with_keys[0]}/export", json={"format": "pkcs8-key"}
            )
    finally:
        server.stop()
    assert certificate.status_code == 200, certificate.text
    assert exported.status_code == 200, exported.text
    key = serialization.load_pem_private_key(exported.content, password=None)
    cert = x509.load_pem_x509_certificate(certificate.json()["pem"].encode())
    assert key.public_key() == cert.public_key()


def test_restore_refuses_a_damaged_backup_and_an_occupied_data_dir(
    data_dir: Path, tmp_path: Path
) -> None:
    backup_dir = tmp_path / "backup"
    assert lemur(data_dir, "backup", str(backup_dir)).returncode == OK
    again = lemur(data_dir, "backup", str(backup_dir), "--json")
    assert again.returncode == CONFLICT
    assert json.loads(again.stdout)["error"]["code"] == "backup_exists"

    occupied = lemur(data_dir, "restore", str(backup_dir), "--json")
    assert occupied.returncode == CONFLICT
    assert json.loads(occupied.stdout)["error"]["code"] == "data_dir_exists"

    forced = lemur(data_dir, "restore", str(backup_dir), "--force", "--json")
    assert forced.returncode == OK, forced.stdout + forced.stderr
    previous = Path(json.loads(forced.stdout)["previous"])
    assert (previous / "lemur.db").exists()  # the old one is kept aside
    assert (previous / "keyring").exists()

    damaged = tmp_path / "damaged"
    shutil.copytree(backup_dir, damaged)
    with open(damaged / "lemur.db", "r+b") as fh:
        fh.seek(5000)
        fh.write(b"\xff" * 16)
    refused = lemur(tmp_path / "elsewhere", "restore", str(damaged), "--json")
    assert refused.returncode == INVALID
    assert json.loads(refused.stdout)["error"]["code"] == "backup_corrupt"
    assert not (tmp_path / "elsewhere").exists()
    nothing = lemur(tmp_path / "elsewhere", "restore", str(tmp_path), "--json")
    assert nothing.returncode == INVALID
    assert json.loads(nothing.stdout)["error"]["code"] == "backup_invalid"


def test_backup_on_postgresql_names_the_pg_dump_command(tmp_path: Path) -> None:
    url = "postgresql+psycopg://lemur:hunter2@db.example/lemur"
    done = lemur(tmp_path / "data", "backup", str(tmp_path / "b"), env={"LEMUR_DATABASE_URL": url})
    assert done.returncode == INVALID
    assert "pg_dump --format=custom" in done.stderr
    assert "postgresql://lemur@db.example/lemur" in done.stderr
    assert "hunter2" not in done.stderr
