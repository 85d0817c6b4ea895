"""/health (liveness) and /ready (database reachable, schema current), with honest codes."""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from lemur.app import create_app
from lemur.clock import FrozenClock
from lemur.config import Settings
from lemur.container import Container, InitReport, build_container
from lemur.crypto.keyring import generate_key
from lemur.db import Database, is_sqlite
from lemur.errors import ConfigurationError
from lemur.migrate import head_revision, upgrade
from tests.conftest import FAST_HASHER, PG_ADMIN_DSN

EARLIER = "0001"


@pytest.fixture
def blank_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty database on the same backend as ``database_url``."""
    if is_sqlite(database_url):
        yield f"sqlite:///{tmp_path / 'blank.db'}"
        return
    name = f"lemur_test_blank_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def env_settings(tmp_path: Path, url: str) -> Settings:
    """A server configured entirely by its environment (keys and secret not in the database)."""
    data = tmp_path / "server"
    data.mkdir(mode=0o700, exist_ok=True)
    return Settings(
        data_dir=data,
        database_url=url,
        encryption_keys=SecretStr(generate_key()),
        session_secret=SecretStr(secrets.token_urlsafe(32)),
    )


def test_health(client: TestClient) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_ready_on_a_migrated_database(client: TestClient) -> None:
    r = client.get("/ready")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}


def test_not_ready_while_the_schema_is_behind(
    blank_url: str, tmp_path: Path, clock: FrozenClock
) -> None:
    db = Database.connect(blank_url)
    upgrade(db.write_engine, EARLIER)
    db.dispose()
    report = InitReport()
    server = build_container(
        env_settings(tmp_path, blank_url),
        init=False,
        clock=clock,
        hasher=FAST_HASHER,
        report=report,
    )
    try:
        assert any("lemur init" in note for note in report.notes)
        with TestClient(create_app(server)) as client:
            r = client.get("/ready")
            assert r.status_code == 503
            body = r.json()
            assert body["status"] == "not_ready"
            assert body["checks"]["database"] == "ok"
            assert body["checks"]["migrations"] == f"at {EARLIER}, need {head_revision()}"
            assert client.get("/health").status_code == 200
            # `lemur init` (the migration) runs; the same running server becomes ready.
            upgrade(server.db.write_engine)
            r = client.get("/ready")
            assert r.status_code == 200, r.text
    finally:
        server.close()


def test_server_refuses_to_start_on_a_database_without_schema(
    blank_url: str, tmp_path: Path, clock: FrozenClock
) -> None:
    with pytest.raises(ConfigurationError) as info:
        build_container(env_settings(tmp_path, blank_url), init=False, clock=clock)
    assert info.value.code == "database_not_initialised"
    assert "lemur init" in info.value.message


def test_not_ready_when_the_schema_is_gone(container: Container, blank_url: str) -> None:
    # A running server whose database was replaced by an empty one (a bad restore).
    swapped = dataclasses.replace(container, db=Database.connect(blank_url))
    try:
        with TestClient(create_app(swapped)) as client:
            r = client.get("/ready")
            assert r.status_code == 503
            assert r.json()["checks"]["migrations"] == f"at none, need {head_revision()}"
    finally:
        swapped.db.dispose()


def test_not_ready_when_the_database_is_unreachable(container: Container, tmp_path: Path) -> None:
    if is_sqlite(container.db.url):
        bogus = f"sqlite:///{tmp_path / 'no-such-dir' / 'lemur.db'}"
    else:
        bogus = "postgresql+psycopg://lemur:hunter2@127.0.0.1:1/lemur?connect_timeout=2"
    container.db.dispose()
    down = dataclasses.replace(container, db=Database.connect(bogus))
    try:
        with TestClient(create_app(down)) as client:
            r = client.get("/ready")
            assert r.status_code == 503
            body = r.json()
            assert body["status"] == "not_ready"
            assert body["checks"]["database"].startswith("unreachable: ")
            assert "migrations" not in body["checks"]
            assert "hunter2" not in r.text
            assert "127.0.0.1" not in r.text
            # Liveness does not depend on the database.
            assert client.get("/health").status_code == 200
    finally:
        down.db.dispose()
