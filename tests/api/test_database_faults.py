"""The database fails under a running server: removed, replaced, overwritten, another one at
the same address, a full disk. Requests answer 503 ``database_unavailable`` or 507
``storage_full`` (never 500, never an exception that would close the connection), /ready
says why, and nothing is written where nobody will look."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.engine import make_url

from lemur.accounts.models import AppSecret
from lemur.app import create_app
from lemur.audit.chain import verify_chain
from lemur.clock import FrozenClock
from lemur.config import Settings
from lemur.container import Container, build_container
from lemur.db import is_sqlite
from lemur.health.database import INSTANCE_SECRET
from lemur.services import Services
from tests.api.conftest import World
from tests.conftest import FAST_HASHER

# For tests of what happens to the SQLite file: they run on SQLite only (chosen, not skipped).
on_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def sqlite_file(container: Container) -> Path:
    assert is_sqlite(container.db.url)
    return Path(str(make_url(container.db.url).database))


def new_team(client: TestClient, world: World, name: str | None = None) -> tuple[str, int, dict]:
    name = name or f"t-{uuid.uuid4().hex[:10]}"
    r = client.post(
        "/api/v1/teams",
        json={"name": name, "description": "x" * 400},
        headers=world.headers("admin2"),
    )
    return name, r.status_code, r.json()


def assert_unavailable(status: int, body: dict, headers: dict[str, str] | None = None) -> None:
    assert status == 503, body
    assert body["error"]["code"] == "database_unavailable", body
    if headers is not None:
        assert int(headers["retry-after"]) > 0


def team_names(container: Container) -> set[str]:
    path = make_url(container.db.url).database
    with sqlite3.connect(str(path)) as conn:
        return {row[0] for row in conn.execute("SELECT name FROM teams")}


@on_sqlite
def test_removed_sqlite_file_is_noticed_and_nothing_is_written_to_it(
    client: TestClient, world: World, container: Container
) -> None:
    path = sqlite_file(container)
    assert client.get("/ready").status_code == 200
    name, status, _ = new_team(client, world)
    assert status == 201
    # The data directory moved away, with the database's WAL file (`mv lemur-data ...`).
    moved_dir = path.parent.with_name("moved-away")
    os.rename(path.parent, moved_dir)
    moved = moved_dir / path.name

    r = client.get("/ready")
    assert r.status_code == 503
    assert r.json()["checks"]["database"].startswith("unusable: the database file was removed")
    assert str(path.parent) not in r.text
    late, status, body = new_team(client, world)
    assert_unavailable(status, body)
    r = client.get("/api/v1/teams", headers=world.headers("admin2"))
    assert_unavailable(r.status_code, r.json(), dict(r.headers))
    # Not silently created anew at the path, and nothing went into the moved file.
    assert not path.exists()
    container.db.dispose()
    with sqlite3.connect(moved) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM teams")}
    assert name in names
    assert late not in names


@on_sqlite
def test_overwritten_or_replaced_sqlite_file_is_noticed(
    client: TestClient, world: World, container: Container
) -> None:
    path = sqlite_file(container)
    assert new_team(client, world)[1] == 201
    garbage = os.urandom(64 * 1024)
    with open(path, "r+b") as fh:  # in place: same inode
        fh.write(garbage)
    r = client.get("/ready")
    assert r.status_code == 503
    assert "no longer a SQLite database" in r.json()["checks"]["database"]
    for attempt in range(3):
        _, status, body = new_team(client, world)
        assert status in (503,), (attempt, body)
        assert body["error"]["code"] == "database_unavailable"

    # Replaced by another file (a new inode), e.g. a copy moved over it.
    replacement = path.with_name("other.db")
    replacement.write_bytes(garbage)
    os.replace(replacement, path)
    r = client.get("/ready")
    assert r.status_code == 503
    assert "replaced after the server started" in r.json()["checks"]["database"]
    _, status, body = new_team(client, world)
    assert_unavailable(status, body)


def test_another_database_at_the_same_address_is_not_ready(
    client: TestClient, container: Container
) -> None:
    assert container.instance_id is not None
    assert client.get("/ready").status_code == 200
    # What a different Lemur database at the same URL looks like: another instance id.
    with container.db.write() as session:
        session.execute(
            update(AppSecret)
            .where(AppSecret.name == INSTANCE_SECRET)
            .values(ciphertext=container.keyring.encrypt(b"another-instance"))
        )
        session.commit()
    r = client.get("/ready")
    assert r.status_code == 503
    assert r.json()["checks"]["database"].startswith("wrong_database: ")


def test_instance_id_survives_a_restart(container: Container, settings: Settings) -> None:
    again = build_container(settings, init=True, hasher=FAST_HASHER)
    try:
        assert again.instance_id == container.instance_id
    finally:
        again.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of our own, so that filling it fills nobody else's disk."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs here (the suite runs as root): {done.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_full_sqlite_disk_answers_507_and_recovers(
    small_disk: Path, sqlite_template: Path, clock: FrozenClock
) -> None:
    data_dir = small_disk / "data"
    data_dir.mkdir(mode=0o700)
    shutil.copy(sqlite_template, data_dir / "lemur.db")
    settings = Settings(data_dir=data_dir, database_url=f"sqlite:///{data_dir / 'lemur.db'}")
    container = build_container(settings, init=True, clock=clock, hasher=FAST_HASHER)
    try:
        world = World(container)
        from lemur.accounts.models import Role
        from lemur.authz import cli_principal

        with Services(container, cli_principal()) as services:
            services.accounts().create_user(
                "admin2", role=Role.ADMIN, password="admin2-password-123"
            )
        world.tokens["admin2"] = world.add_token("admin2")
        with TestClient(create_app(container)) as client:
            assert client.get("/ready").status_code == 200
            acknowledged = []
            name, status, _ = new_team(client, world)
            assert status == 201
            acknowledged.append(name)
            filler = fill(small_disk)

            statuses = []
            for _ in range(200):
                name, status, body = new_team(client, world)
                statuses.append(status)
                if status == 201:
                    acknowledged.append(name)
                    continue
                assert status == 507, body
                assert body["error"]["code"] == "storage_full"
                break
            assert statuses[-1] == 507, statuses
            r = client.get("/ready")
            assert r.status_code == 503
            assert r.json()["checks"]["database"].startswith("storage_full: ")

            filler.unlink()
            assert client.get("/ready").status_code == 200
            name, status, body = new_team(client, world)
            assert status == 201, body
            acknowledged.append(name)
        assert set(acknowledged) <= team_names(container)
        with container.db.read() as session:
            assert verify_chain(session).ok
    finally:
        container.close()
