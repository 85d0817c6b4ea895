"""A PostgreSQL outage under a real ``lemur serve`` and concurrent keep-alive clients.

The outage is caused on a database of this test's own, without touching the shared server:
its backends are terminated and new connections refused (``ALLOW_CONNECTIONS false``) for a
few seconds. Every answer meanwhile is a success or 503 ``database_unavailable`` (never
500), no answer closes the client's connection, /ready says 503 during the outage and 200
after, and every write that was acknowledged is in the database afterwards.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from tests.conftest import PG_ADMIN_DSN, scratch_database
from tests.peers.server import RunningServer, clean_env, lemur_command, start_server

pytestmark = pytest.mark.postgres

CLIENTS = 8
OUTAGE_S = 3.0


@pytest.fixture
def database() -> Iterator[str]:
    """The name of a database of this test's own."""
    with scratch_database("lemur_outage") as url:
        yield url.rsplit("/", 1)[1]


def url_of(name: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


@pytest.fixture
def server(tmp_path: Path, database: str) -> Iterator[RunningServer]:
    running = start_server(tmp_path / "data", env={"LEMUR_DATABASE_URL": url_of(database)})
    yield running
    running.stop()


def admin_token(server: RunningServer, database: str) -> str:
    done = subprocess.run(
        [
            *lemur_command(),
            *("token", "create", "--user", "admin", "--name", "load", "--scope", "write"),
            "--json",
        ],
        env=clean_env(server.data_dir, {"LEMUR_DATABASE_URL": url_of(database)}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    token: str = json.loads(done.stdout)["token"]
    return token


@dataclass
class Client:
    """One keep-alive connection, writing a team and reading the caller, in turn."""

    host: str
    port: int
    token: str
    statuses: list[int] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)
    acknowledged: list[str] = field(default_factory=list)
    closed_by_server: int = 0
    reused_after_503: bool = False

    def run(self, stop: threading.Event) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        socket_of_503 = None
        turn = 0
        while not stop.is_set():
            turn += 1
            name = f"t-{uuid.uuid4().hex[:12]}"
            if turn % 2:
                conn.request("POST", "/api/v1/teams", json.dumps({"name": name}), headers)
            else:
                conn.request("GET", "/api/v1/me", headers=headers)
            sock = conn.sock
            response = conn.getresponse()
            body = response.read()
            self.statuses.append(response.status)
            if response.will_close:
                self.closed_by_server += 1
            if response.status == 503:
                error = json.loads(body)["error"]
                if error["code"] != "database_unavailable" or not response.getheader("Retry-After"):
                    self.bad.append(f"503 {body!r} {response.getheaders()}")
                socket_of_503 = sock
            elif response.status in (200, 201):
                if turn % 2:
                    self.acknowledged.append(name)
                if socket_of_503 is not None and sock is socket_of_503:
                    self.reused_after_503 = True
            else:
                self.bad.append(f"{response.status} {body!r}")
        conn.close()


def ready_status(server: RunningServer) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", int(server.base_url.rsplit(":", 1)[1]))
    try:
        conn.request("GET", "/ready")
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_postgresql_outage_answers_503_keeps_connections_and_loses_nothing(
    server: RunningServer, database: str
) -> None:
    token = admin_token(server, database)
    port = int(server.base_url.rsplit(":", 1)[1])
    clients = [Client("127.0.0.1", port, token) for _ in range(CLIENTS)]
    stop = threading.Event()
    threads = [threading.Thread(target=c.run, args=(stop,)) for c in clients]
    for thread in threads:
        thread.start()
    ready_during = []
    try:
        time.sleep(1.0)
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            try:
                until = time.monotonic() + OUTAGE_S
                while time.monotonic() < until:
                    admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()",
                        (database,),
                    )
                    ready_during.append(ready_status(server))
                    time.sleep(0.3)
            finally:
                admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        time.sleep(2.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)

    statuses = [s for c in clients for s in c.statuses]
    assert [b for c in clients for b in c.bad] == []
    assert statuses.count(503) > 0, "the outage was not noticed"
    assert set(statuses) <= {200, 201, 503}
    assert sum(c.closed_by_server for c in clients) == 0
    assert any(c.reused_after_503 for c in clients)
    assert 503 in ready_during
    assert set(ready_during) == {503}
    assert ready_status(server) == 200
    acknowledged = {name for c in clients for name in c.acknowledged}
    assert acknowledged
    with psycopg.connect(url_of(database).replace("+psycopg", "")) as conn:
        stored = {row[0] for row in conn.execute("SELECT name FROM teams")}
    assert acknowledged <= stored
    assert "Traceback" not in server.output
