"""A real ``lemur serve``: X-Forwarded-For is believed only from LEMUR_TRUSTED_PROXIES, and
what the server prints (its log, uvicorn's access log) holds no secret when the database
fails, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

import httpx
import psycopg
import pytest

from tests.peers.server import CSRF_FIELD, RunningServer, form_login

NEW_PASSWORD = "a-new-password-Osprey-64"


def behind_proxy(server: RunningServer, forwarded_for: str) -> httpx.Client:
    """A client as a load balancer on this machine would pass it on."""
    return httpx.Client(
        base_url=server.base_url, timeout=10, headers={"X-Forwarded-For": forwarded_for}
    )


@pytest.mark.parametrize("trusted", [False, True], ids=["untrusted", "trusted"])
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    serve: Callable[..., RunningServer], trusted: bool
) -> None:
    env = {"LEMUR_LOGIN_MAX_FAILURES_PER_ADDRESS": "3"}
    if trusted:
        env["LEMUR_TRUSTED_PROXIES"] = "127.0.0.0/8, ::1"
    server = serve(**env)
    assert server.admin_password
    with behind_proxy(server, "198.51.100.7") as attacker:
        for name in ("ghost-1", "ghost-2", "ghost-3"):
            assert form_login(attacker, name, "wrong-password").status_code == 401
    # The same connection address (127.0.0.1), another client according to the header.
    with behind_proxy(server, "203.0.113.5") as owner:
        r = form_login(owner, "admin", server.admin_password)
    if trusted:
        assert r.status_code == 303, r.text
    else:
        # Forged headers from an untrusted peer change nothing: 127.0.0.1 is throttled.
        assert r.status_code == 429, r.text
        assert "your address" in r.text


def install_fault(server: RunningServer, backend: str | None) -> None:
    """Make every password change fail in the database with a constraint violation (on
    PostgreSQL its message quotes the whole row, password hash included)."""
    if backend is None:
        with sqlite3.connect(server.data_dir / "lemur.db") as conn:
            conn.execute(
                "CREATE TRIGGER lemur_test_fault BEFORE UPDATE ON users "
                "BEGIN SELECT RAISE(ABORT, 'provoked by the test'); END"
            )
        return
    with psycopg.connect(backend.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("ALTER TABLE users ADD CONSTRAINT lemur_test_fault CHECK (false) NOT VALID")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_server_output_holds_no_secret_when_the_database_fails(
    serve: Callable[..., RunningServer], backend: str | None, log_format: str
) -> None:
    server = serve(LEMUR_LOG_FORMAT=log_format)
    password = server.admin_password
    assert password
    with httpx.Client(base_url=server.base_url, timeout=10) as browser:
        # A client that puts a secret in a URL by mistake.
        browser.get("/health?token=lmr_0123abcd_not-for-the-log")
        assert form_login(browser, "admin", password).status_code == 303
        page = browser.get("/password")
        found = CSRF_FIELD.search(page.text)
        assert found
        install_fault(server, backend)
        r = browser.post(
            "/password",
            data={
                "current_password": password,
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
                "csrf_token": found.group(1),
            },
        )
        assert r.status_code == 500, r.text
    server.stop()  # everything it had to say is written
    output = server.output
    assert "unexpected error" in output  # the failure was logged ...
    if log_format == "text":
        assert "/health HTTP" in output  # ... and so was the request with the query string
    else:
        lines = [json.loads(line) for line in output.splitlines() if line.strip()]
        assert any(line.get("route") == "/health" and line.get("status") == 200 for line in lines)
        failed = [line for line in lines if line["message"].startswith("unexpected error")]
        assert failed, lines
        assert failed[0]["principal"] == "user:admin", failed
    for secret in ("$argon2id$", "lmr_", NEW_PASSWORD, "PRIVATE KEY", "not-for-the-log"):
        assert secret not in output, (secret, output[-4000:])
    # The one-time password is printed once at the start, and never again.
    assert output.count(password) == 1
