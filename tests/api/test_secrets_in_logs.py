"""Database errors never put secrets in the log or the answer.

Each use case that handles a secret (login, password change, token creation, key export,
issuance) is made to fail in the database: a constraint violation (PostgreSQL's message
then quotes the whole row: "Failing row contains (...)"), a data error whose message
quotes a value, and, on PostgreSQL, a connection the server drops mid-statement (on SQLite,
which has no such errors of its own, a trigger aborts the statement: what leaked there
were the statement parameters SQLAlchemy appends to every error). Every
log record (DEBUG and up, all loggers) and the answer are then searched for password
hashes, token secrets, passwords, passphrases, key material and 64-hex-digit hashes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx2
import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from lemur.app import create_app
from lemur.config import Settings
from lemur.container import Container, build_container
from lemur.logs import JsonFormatter
from tests.api.certs_helpers import export, issue, issue_raw, key_pem, make_ca, make_leaf, pem
from tests.api.conftest import World
from tests.api.test_login import post_login
from tests.conftest import FAST_HASHER

PASSPHRASE = "export-passphrase-Quokka-77"
NEW_PASSWORD = "a-new-password-Wombat-31"
# What must never be logged: argon2id hashes, API tokens, private keys in PEM, Fernet
# ciphertext of stored keys, SHA-256 hex digests (token and session hashes).
SECRET_PATTERNS = (
    re.compile(r"\$argon2id\$"),
    re.compile(r"lmr_[0-9a-f]+_"),
    re.compile(r"PRIVATE KEY"),
    re.compile(r"gAAAAA"),
    re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])"),
)


@dataclass(frozen=True)
class Fault:
    name: str
    install: Callable[[Container, str, str], None]
    postgres_only: bool = False


def _trigger_sqlite(container: Container, table: str, event: str) -> None:
    with container.db.write_engine.begin() as conn:
        conn.execute(
            text(
                f"CREATE TRIGGER lemur_test_fault BEFORE {event} ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'provoked by the test'); END"
            )
        )


def _trigger_pg(container: Container, table: str, event: str, body: str) -> None:
    with container.db.write_engine.begin() as conn:
        conn.execute(
            text(
                "CREATE OR REPLACE FUNCTION lemur_test_fault() RETURNS trigger "
                f"LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NEW; END $$"
            )
        )
        conn.execute(
            text(
                f"CREATE TRIGGER lemur_test_fault BEFORE {event} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION lemur_test_fault()"
            )
        )


def integrity_error(container: Container, table: str, event: str) -> None:
    if container.db.dialect == "sqlite":
        _trigger_sqlite(container, table, event)
        return
    # A real check violation: PostgreSQL's DETAIL then lists every value of the row.
    with container.db.write_engine.begin() as conn:
        conn.execute(
            text(f"ALTER TABLE {table} ADD CONSTRAINT lemur_test_fault CHECK (false) NOT VALID")
        )


def data_error(container: Container, table: str, event: str) -> None:
    if container.db.dialect == "sqlite":
        _trigger_sqlite(container, table, event)
        return
    # A real invalid-input error whose message quotes the value: the row as JSON.
    _trigger_pg(container, table, event, "PERFORM (row_to_json(NEW)::text)::integer")


def dropped_connection(container: Container, table: str, event: str) -> None:
    _trigger_pg(container, table, event, "PERFORM pg_terminate_backend(pg_backend_pid())")


def remove_faults(container: Container, table: str) -> None:
    """The PostgreSQL database outlives the test (tables are emptied, not dropped). On a
    connection of its own: the application's pool may hold the failed one."""
    if container.db.dialect != "postgresql":
        with container.db.write_engine.begin() as conn:
            conn.execute(text("DROP TRIGGER IF EXISTS lemur_test_fault"))
        return
    url = container.settings.effective_database_url.replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS lemur_test_fault")
        conn.execute(f"DROP TRIGGER IF EXISTS lemur_test_fault ON {table}")
        conn.execute("DROP FUNCTION IF EXISTS lemur_test_fault()")


FAULTS = [
    Fault("integrity", integrity_error),
    Fault("data", data_error),
    Fault("dropped-connection", dropped_connection, postgres_only=True),
]


@pytest.fixture
def app_client(container: Container) -> Iterator[TestClient]:
    with TestClient(
        create_app(container), raise_server_exceptions=False, client=("192.0.2.10", 50000)
    ) as c:
        yield c


def assert_no_secrets(texts: list[str], *plain: str) -> None:
    everything = "\n".join(texts)
    for pattern in SECRET_PATTERNS:
        assert not pattern.search(everything), (pattern.pattern, everything[-3000:])
    for value in plain:
        assert value not in everything, (value, everything[-3000:])


def _log_text(caplog: pytest.LogCaptureFixture) -> list[str]:
    out = []
    for record in caplog.records:
        out.append(record.getMessage())
        out.append(JsonFormatter().format(record))  # LEMUR_LOG_FORMAT=json
        if record.exc_info and record.exc_info[1] is not None:
            out.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            out.append(record.exc_text)
    return out


def _use_case(
    name: str, client: TestClient, world: World, container: Container
) -> tuple[str, str, Callable[[], httpx2.Response], tuple[str, ...]]:
    """(table, event, the request, plaintexts that must not appear)."""
    if name == "login":
        return (
            "web_sessions",
            "INSERT",
            lambda: post_login(client, "member", "member-password-123"),
            ("member-password-123",),
        )
    if name == "password-change":
        return (
            "users",
            "UPDATE",
            lambda: client.post(
                "/api/v1/me/password",
                json={"current_password": "member-password-123", "new_password": NEW_PASSWORD},
                headers=world.headers("member"),
            ),
            ("member-password-123", NEW_PASSWORD),
        )
    if name == "token-creation":
        return (
            "api_tokens",
            "INSERT",
            lambda: client.post(
                "/api/v1/tokens",
                json={"name": "ci", "scope": "read", "expires_in_days": 7},
                headers=world.headers("member"),
            ),
            (),
        )
    if name == "key-export":
        certificate = issue(client, world)
        return (
            "audit_events",
            "INSERT",
            lambda: export(client, world, certificate["id"], "pkcs8-key", passphrase=PASSPHRASE),
            (PASSPHRASE,),
        )
    assert name == "issuance"
    issue(client, world)  # the issuing CA exists before the fault is installed
    return ("private_keys", "INSERT", lambda: issue_raw(client, world), ())


# Each fault on the databases that have it (SQLite has no server connection to drop): the
# database is chosen here rather than skipped in the test.
@pytest.mark.parametrize(
    ("database_url", "fault"),
    [
        pytest.param(backend, fault, id=f"{backend}-{fault.name}")
        for fault in FAULTS
        for backend in (("postgresql",) if fault.postgres_only else ("sqlite", "postgresql"))
    ],
    indirect=["database_url"],
)
@pytest.mark.parametrize(
    "use_case", ["login", "password-change", "token-creation", "key-export", "issuance"]
)
def test_database_errors_log_no_secrets(
    app_client: TestClient,
    world: World,
    container: Container,
    caplog: pytest.LogCaptureFixture,
    fault: Fault,
    use_case: str,
) -> None:
    table, event, request, plaintexts = _use_case(use_case, app_client, world, container)
    fault.install(container, table, event)
    caplog.set_level(logging.DEBUG)
    try:
        r = request()
    finally:
        remove_faults(container, table)
    assert r.status_code >= 500, r.text
    logged = _log_text(caplog)
    # A lost connection is an expected fault (503 database_unavailable, logged as a warning);
    # anything else is an unexpected error, logged with its class.
    assert any("provoked" in m or "Error" in m or "database_unavailable" in m for m in logged), (
        "the failure was not logged"
    )
    assert_no_secrets([*logged, r.text], *plaintexts, *world.tokens.values())


@pytest.mark.parametrize("fault", FAULTS[:2], ids=lambda f: f.name)
def test_the_next_issuances_succeed_after_a_failed_write(
    app_client: TestClient, world: World, container: Container, fault: Fault
) -> None:
    """A write that failed inside the database leaves no connection behind in the failed
    transaction: once the fault is gone, more issuances than the pool has connections all
    succeed (each pooled connection is handed out again)."""
    issue(app_client, world)  # the issuing CA exists before the fault is installed
    fault.install(container, "private_keys", "INSERT")
    try:
        for _ in range(3):
            assert issue_raw(app_client, world).status_code >= 500
    finally:
        remove_faults(container, "private_keys")
    for _ in range(12):
        issue(app_client, world)


class JsonLines(logging.Handler):
    """Every record of every logger as the JSON log line it becomes, formatted when it is
    emitted (inside the request, as under ``lemur serve``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def json_logs() -> Iterator[JsonLines]:
    root = logging.getLogger()
    handler, level = JsonLines(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_json_log_lines_of_requests_carrying_secrets_hold_none(
    settings: Settings, world: World, json_logs: JsonLines
) -> None:
    """A password, a token, a private key PEM and a passphrase sent in (successful and
    refused) requests appear in no JSON log line (DEBUG and up, access lines included)."""
    container = build_container(
        settings.model_copy(update={"log_format": "json"}), init=False, hasher=FAST_HASHER
    )
    ca = make_ca("Secrets CA")
    key, leaf = make_leaf(ca, "secret-import.example.com")
    key_text = key_pem(key)
    try:
        with TestClient(
            create_app(container), raise_server_exceptions=False, client=("192.0.2.10", 50000)
        ) as client:
            assert post_login(client, "member", "wrong-password-Xyz-9").status_code == 401
            assert post_login(client, "member", "member-password-123").status_code == 303
            r = client.post(
                "/api/v1/me/password",
                json={"current_password": "member-password-123", "new_password": NEW_PASSWORD},
                headers=world.headers("member"),
            )
            assert r.status_code == 204, r.text
            created = client.post(
                "/api/v1/tokens",
                json={"name": "ci", "scope": "read", "expires_in_days": 7},
                headers=world.headers("member"),
            )
            assert created.status_code == 201, created.text
            new_token = created.json()["token"]
            assert client.get(
                "/api/v1/me", headers={"Authorization": f"Bearer {new_token}"}
            ).is_success
            imported = client.post(
                "/api/v1/certificates/import",
                json={
                    "team_id": world.team_ids["own"],
                    "certificate": pem(leaf),
                    "private_key": key_text,
                },
                headers=world.headers("member"),
            )
            assert imported.status_code == 201, imported.text
            exported = export(
                client, world, imported.json()["id"], "pkcs8-key", passphrase=PASSPHRASE
            )
            assert exported.status_code == 200, exported.text
            weak = export(client, world, imported.json()["id"], "pkcs8-key", passphrase="short")
            assert weak.status_code == 422
    finally:
        container.close()
    lines = json_logs.lines
    assert any('"logger": "lemur.access"' in line for line in lines), lines
    assert_no_secrets(
        lines,
        "member-password-123",
        "wrong-password-Xyz-9",
        NEW_PASSWORD,
        PASSPHRASE,
        new_token,
        key_text.splitlines()[1],
        *world.tokens.values(),
    )
