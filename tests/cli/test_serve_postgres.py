"""``lemur serve`` on PostgreSQL: two server processes share one database and its login
throttling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from lemur.accounts.models import Role
from lemur.authz import cli_principal
from lemur.config import Settings
from lemur.container import build_container
from lemur.services import Services
from tests.conftest import scratch_database
from tests.peers.server import RunningServer, form_login, start_server

pytestmark = pytest.mark.postgres

MAX_FAILURES = 5


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with scratch_database("lemur_serve") as url:
        yield url


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, database_url: str
) -> Iterator[tuple[RunningServer, RunningServer]]:
    data_dir = tmp_path_factory.mktemp("pg") / "data"
    env = {
        "LEMUR_DATABASE_URL": database_url,
        "LEMUR_LOGIN_MAX_FAILURES_PER_ACCOUNT": str(MAX_FAILURES),
    }
    first = start_server(data_dir, env=env)
    try:
        second = start_server(data_dir, env=env)
    except BaseException:
        first.stop()
        raise
    yield first, second
    second.stop()
    first.stop()


def test_serves_health_and_ready_on_postgresql(
    servers: tuple[RunningServer, RunningServer], database_url: str
) -> None:
    first, second = servers
    assert first.admin_password, first.output  # the first start initialised the database
    assert second.admin_password is None  # the second found it initialised
    assert "created encryption key file" not in second.output
    for server in servers:
        health = httpx.get(f"{server.base_url}/health")
        ready = httpx.get(f"{server.base_url}/ready")
        assert health.status_code == 200
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        (admins,) = conn.execute("SELECT count(*) FROM users WHERE role = 'admin'").fetchone() or (
            0,
        )
    assert admins == 1  # two starts, one admin


def test_failed_logins_on_two_servers_lock_the_account_on_both(
    servers: tuple[RunningServer, RunningServer], database_url: str
) -> None:
    first, second = servers
    name, password = "pat", "pat-password-123"
    container = build_container(
        Settings(data_dir=first.data_dir, database_url=database_url), init=False
    )
    try:
        with Services(container, cli_principal()) as services:
            services.accounts().create_user(name, role=Role.MEMBER, password=password)
    finally:
        container.close()

    for attempt in range(MAX_FAILURES):
        server = first if attempt % 2 == 0 else second  # 3 on the first, 2 on the second
        with httpx.Client(base_url=server.base_url) as client:
            answer = form_login(client, name, f"wrong-{attempt}-password")
        assert answer.status_code == 401, answer.text
        assert "wrong username or password" in answer.text

    for server in servers:
        with httpx.Client(base_url=server.base_url) as client:
            answer = form_login(client, name, password)  # the right password, too late
        assert answer.status_code == 429
        assert "too many failed logins for this account" in answer.text
        assert int(answer.headers["retry-after"]) > 0
        assert "lemur_session" not in answer.headers.get("set-cookie", "")

    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        (failures,) = conn.execute(
            "SELECT count(*) FROM login_failures WHERE username = %s", (name,)
        ).fetchone() or (0,)
        (sessions,) = conn.execute("SELECT count(*) FROM web_sessions").fetchone() or (0,)
    assert failures == MAX_FAILURES
    assert sessions == 0


def test_data_dir_has_only_the_key_file_with_postgresql(
    servers: tuple[RunningServer, RunningServer],
) -> None:
    first, _ = servers
    assert sorted(p.name for p in Path(first.data_dir).iterdir()) == ["keyring"]
