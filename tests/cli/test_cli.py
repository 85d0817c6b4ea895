"""The real ``lemur`` command in subprocesses, each on its own data directory."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import sqlite3
import stat
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from lemur.accounts.login import ThrottlePolicy
from lemur.accounts.models import Role
from lemur.authz import cli_principal
from lemur.config import Settings
from lemur.container import build_container
from lemur.crypto.keyring import generate_key
from lemur.errors import AuthenticationRequired
from lemur.services import Services
from tests.login_helpers import Logins
from tests.peers.server import (
    ADMIN_PASSWORD,
    RunningServer,
    clean_env,
    free_port,
    lemur_command,
    start_server,
)

# Exit codes scripts rely on (src/lemur/cli/output.py).
OK, CHECK_FAILED, USAGE, INVALID, NOT_FOUND, CONFLICT, CONFIG = 0, 1, 2, 3, 4, 5, 7


@dataclass
class Initialised:
    data_dir: Path
    admin_password: str


def lemur(
    data_dir: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    columns: int = 120,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*lemur_command(), *args],
        env=clean_env(data_dir, {"COLUMNS": str(columns), **(env or {})}),
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok_json(data_dir: Path, *args: str, env: Mapping[str, str] | None = None) -> Any:
    done = lemur(data_dir, *args, "--json", env=env)
    assert done.returncode == OK, done.stdout + done.stderr
    return json.loads(done.stdout)


def count(data_dir: Path, table: str) -> int:
    with sqlite3.connect(data_dir / "lemur.db") as conn:
        (n,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(n)


def keys_in(key_file: Path) -> list[str]:
    return [
        line.strip()
        for line in key_file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def can_log_in(data_dir: Path, username: str, password: str) -> bool:
    """Log in with the in-process LoginService against the CLI's own database."""
    container = build_container(Settings(data_dir=data_dir), init=False)
    try:
        service = Logins(
            container, ThrottlePolicy(100, 100, dt.timedelta(minutes=15)), hasher=container.hasher
        )
        try:
            service.login(username, password, client_address="127.0.0.1")
        except AuthenticationRequired:
            return False
        return True
    finally:
        container.close()


def setup_accounts(data_dir: Path, users: Sequence[str] = (), teams: Sequence[str] = ()) -> None:
    """Arrange users and teams in-process (as the CLI would, audited as ``cli``); the CLI
    itself is what each test then runs."""
    container = build_container(Settings(data_dir=data_dir), init=False)
    try:
        with Services(container, cli_principal()) as services:
            accounts = services.accounts()
            for name in users:
                accounts.create_user(name, role=Role.MEMBER, password=f"{name}-password-123")
            for name in teams:
                accounts.create_team(name)
    finally:
        container.close()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Initialised:
    """One `lemur init`; each test works on its own copy."""
    data_dir = tmp_path_factory.mktemp("template") / "data"
    done = lemur(data_dir, "init")
    assert done.returncode == OK, done.stderr
    found = ADMIN_PASSWORD.search(done.stdout)
    assert found, done.stdout
    return Initialised(data_dir, found.group(1))


@pytest.fixture
def data_dir(template: Initialised, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(template.data_dir, target)
    return target


@pytest.fixture
def server(data_dir: Path) -> Iterator[RunningServer]:
    running = start_server(data_dir)
    yield running
    running.stop()


# --- init -------------------------------------------------------------------------------


def test_init_creates_data_dir_key_file_and_admin_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"

    first = lemur(data_dir, "init")

    assert first.returncode == OK, first.stderr
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    key_file = data_dir / "keyring"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((data_dir / "lemur.db").stat().st_mode) == 0o600
    assert len(keys_in(key_file)) == 1
    found = ADMIN_PASSWORD.search(first.stdout)
    assert found, first.stdout
    password = found.group(1)
    assert "admin account: admin" in first.stdout
    assert f"created encryption key file {key_file}" in first.stdout
    key_bytes = key_file.read_bytes()

    again = lemur(data_dir, "init")
    again_json = ok_json(data_dir, "init")

    assert again.returncode == OK, again.stderr
    assert "one-time password" not in again.stdout
    assert password not in again.stdout
    assert f"Lemur is initialised in {data_dir}" in again.stdout
    assert again_json["admin_password"] is None
    assert again_json["created_key_file"] is False
    assert key_file.read_bytes() == key_bytes
    assert count(data_dir, "users") == 1
    # The password printed the first time is still the admin's.
    assert can_log_in(data_dir, "admin", password)
    assert not can_log_in(data_dir, "admin", "not-the-password")


def test_serve_on_an_initialised_data_dir_makes_no_new_admin(server: RunningServer) -> None:
    # The copied data directory already has an admin: serve must not make another one.
    assert server.admin_password is None
    assert f"Lemur serving on {server.base_url}/" in server.output
    assert httpx.get(f"{server.base_url}/health").status_code == 200


# --- users ------------------------------------------------------------------------------


def test_user_create_list_disable_enable_and_reset_password(data_dir: Path) -> None:
    created = ok_json(data_dir, "user", "create", "bob", "--role", "security")
    assert created["username"] == "bob"
    assert created["role"] == "security"
    assert created["must_change_password"] is True
    one_time = created["one_time_password"]
    assert can_log_in(data_dir, "bob", one_time)

    human = lemur(
        data_dir, "user", "create", "carol", "--password-stdin", stdin="carol-password-123\n"
    )
    assert human.returncode == OK, human.stderr
    assert "created user carol (member)" in human.stdout
    assert "one-time password" not in human.stdout
    assert can_log_in(data_dir, "carol", "carol-password-123")

    listed = {u["username"]: u for u in ok_json(data_dir, "user", "list")}
    assert set(listed) == {"admin", "bob", "carol"}
    assert listed["bob"]["disabled"] is False

    disabled = lemur(data_dir, "user", "disable", "bob")
    assert disabled.returncode == OK
    assert "disabled user bob" in disabled.stdout
    assert {u["username"]: u["disabled"] for u in ok_json(data_dir, "user", "list")}["bob"] is True
    table = lemur(data_dir, "user", "list").stdout
    assert re.search(r"bob\s+security\s+disabled", table), table
    assert re.search(r"carol\s+member\s+active", table), table
    assert not can_log_in(data_dir, "bob", one_time)

    assert ok_json(data_dir, "user", "disable", "bob", "--enable")["disabled"] is False
    assert can_log_in(data_dir, "bob", one_time)

    reset = ok_json(data_dir, "user", "reset-password", "bob")
    assert reset["username"] == "bob"
    assert reset["one_time_password"] != one_time
    assert not can_log_in(data_dir, "bob", one_time)
    assert can_log_in(data_dir, "bob", reset["one_time_password"])


@pytest.mark.parametrize(
    ("args", "code", "error_code", "field"),
    [
        (["user", "create", "admin"], CONFLICT, "user_exists", "username"),
        (["user", "create", "Not A Name!"], INVALID, "invalid_username", "username"),
        (["user", "disable", "nobody"], NOT_FOUND, "user_not_found", "username"),
        (["user", "reset-password", "nobody"], NOT_FOUND, "user_not_found", "username"),
        (["team", "add-member", "no-such-team", "admin"], NOT_FOUND, "team_not_found", None),
        (
            ["token", "create", "--user", "nobody", "--name", "x"],
            NOT_FOUND,
            "user_not_found",
            "user",
        ),
    ],
)
def test_bad_input_exit_codes_and_nothing_written(
    data_dir: Path, args: list[str], code: int, error_code: str, field: str | None
) -> None:
    before = {t: count(data_dir, t) for t in ("users", "teams", "api_tokens", "audit_events")}

    human = lemur(data_dir, *args)
    scripted = lemur(data_dir, *args, "--json")

    assert human.returncode == code, human.stdout + human.stderr
    assert human.stderr.startswith("error"), human.stderr
    assert f"({error_code})" in human.stderr
    assert scripted.returncode == code
    error = json.loads(scripted.stdout)["error"]
    assert error["code"] == error_code
    if field is not None:
        assert error["field"] == field
    assert error["message"]
    assert {t: count(data_dir, t) for t in before} == before


def test_usage_error_exits_2(data_dir: Path) -> None:
    done = lemur(data_dir, "user", "create")
    assert done.returncode == USAGE
    assert "Missing argument" in done.stderr


# --- teams ------------------------------------------------------------------------------


def test_team_create_add_remove_member_and_list(data_dir: Path) -> None:
    setup_accounts(data_dir, users=["dora"])
    created = lemur(data_dir, "team", "create", "web", "--description", "the web shop")
    assert created.returncode == OK
    assert "created team web" in created.stdout

    added = lemur(data_dir, "team", "add-member", "web", "dora")
    assert added.returncode == OK
    assert "added dora to web" in added.stdout
    teams = {t["name"]: t for t in ok_json(data_dir, "team", "list")}
    assert [m["username"] for m in teams["web"]["members"]] == ["dora"]
    assert teams["web"]["description"] == "the web shop"
    assert re.search(r"web\s+dora\s+the web shop", lemur(data_dir, "team", "list").stdout)
    dora = {u["username"]: u for u in ok_json(data_dir, "user", "list")}["dora"]
    assert [t["name"] for t in dora["teams"]] == ["web"]

    removed = ok_json(data_dir, "team", "remove-member", "web", "dora")
    assert removed == {"team": "web", "username": "dora", "member": False}
    teams = {t["name"]: t for t in ok_json(data_dir, "team", "list")}
    assert teams["web"]["members"] == []

    before = count(data_dir, "teams")
    duplicate = lemur(data_dir, "team", "create", "web")
    assert duplicate.returncode == CONFLICT
    assert count(data_dir, "teams") == before


# --- tokens -----------------------------------------------------------------------------


def test_token_create_list_revoke_against_a_running_server(
    data_dir: Path, server: RunningServer
) -> None:
    setup_accounts(data_dir, users=["erin"])
    created = ok_json(
        data_dir,
        "token",
        "create",
        "--user",
        "erin",
        "--name",
        "ci-deploy",
        "--scope",
        "write",
        "--days",
        "30",
    )
    plaintext = created["token"]
    assert plaintext.startswith(f"lmr_{created['public_id']}_")
    assert created["scope"] == "write"

    with httpx.Client(
        base_url=server.base_url, headers={"Authorization": f"Bearer {plaintext}"}
    ) as api:
        me = api.get("/api/v1/me")
        assert me.status_code == 200, me.text
        assert me.json()["username"] == "erin"

        listed = ok_json(data_dir, "token", "list", "--user", "erin")
        assert [t["name"] for t in listed] == ["ci-deploy"]
        assert listed[0]["last_used_at"] is not None
        assert "token" not in listed[0]  # the secret is shown once, never listed
        table = lemur(data_dir, "token", "list", "--user", "erin")
        assert re.search(r"ci-deploy\s+write\s+active", table.stdout), table.stdout
        assert plaintext not in table.stdout

        revoked = lemur(data_dir, "token", "revoke", str(created["id"]), "--user", "erin")
        assert revoked.returncode == OK, revoked.stderr
        assert "revoked token" in revoked.stdout

        refused = api.get("/api/v1/me")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "token_revoked"
    assert ok_json(data_dir, "token", "list", "--user", "erin")[0]["revoked_at"] is not None


def test_revoking_an_unknown_token_exits_4(data_dir: Path) -> None:
    done = lemur(data_dir, "token", "revoke", "999", "--user", "admin", "--json")
    assert done.returncode == NOT_FOUND
    assert json.loads(done.stdout)["error"]["code"]


# --- audit ------------------------------------------------------------------------------


def test_audit_list_as_json_and_as_a_readable_table(data_dir: Path) -> None:
    setup_accounts(data_dir, users=["frank"], teams=["ops"])

    page = ok_json(data_dir, "audit", "list")
    actions = [e["action"] for e in page["items"]]
    assert actions[:2] == ["team.create", "user.create"]  # newest first
    assert page["next_cursor"] is None
    only_users = ok_json(data_dir, "audit", "list", "--action", "user.")
    assert {e["action"] for e in only_users["items"]} == {"user.create"}

    # An 80-column terminal shows one line per event, the time in full.
    shown = lemur(data_dir, "audit", "list", columns=80)
    assert shown.returncode == OK
    lines = shown.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    stamps = [line for line in lines if re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", line)]
    assert len(stamps) == len(page["items"]), shown.stdout
    # A narrow one puts the time under the date, never splitting either.
    narrow = lemur(data_dir, "audit", "list", columns=60).stdout
    assert len(re.findall(r"\s\d{4}-\d\d-\d\d\s", narrow)) == len(page["items"]), narrow
    assert len(re.findall(r"\s\d\d:\d\d:\d\d\s", narrow)) == len(page["items"]), narrow
    assert "UTC\n" not in narrow.replace("(UTC)", "")
    team_event = page["items"][0]
    row = rf"\b{team_event['seq']}\s+\S+ \S+\s+cli\s+team\.create\s+team:{team_event['target_id']}\s+success"
    assert re.search(row, shown.stdout), shown.stdout


def test_audit_verify_passes_then_names_the_tampered_event(data_dir: Path) -> None:
    setup_accounts(data_dir, users=["gina"], teams=["qa"])

    intact = lemur(data_dir, "audit", "verify")
    assert intact.returncode == OK, intact.stderr
    assert f"audit chain intact: {count(data_dir, 'audit_events')} event(s)" in intact.stdout
    assert ok_json(data_dir, "audit", "verify")["ok"] is True

    with sqlite3.connect(data_dir / "lemur.db") as conn:
        conn.execute("UPDATE audit_events SET action='x' WHERE seq=2")

    broken = lemur(data_dir, "audit", "verify")
    assert broken.returncode == CHECK_FAILED
    assert "audit chain BROKEN" in broken.stderr
    assert re.search(r"event 2: changed", broken.stderr), broken.stderr
    scripted = lemur(data_dir, "audit", "verify", "--json")
    assert scripted.returncode == CHECK_FAILED
    result = json.loads(scripted.stdout)
    assert result["ok"] is False
    assert [(p["seq"], p["kind"]) for p in result["problems"]] == [(2, "changed")]


# --- configuration and keys ---------------------------------------------------------------


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    key = generate_key()
    env = {
        "LEMUR_ENCRYPTION_KEYS": key,
        "LEMUR_DATABASE_URL": "postgresql+psycopg://u:secretpw@127.0.0.1/db",
        "LEMUR_SESSION_SECRET": "session-secret-value",
        "LEMUR_PORT": "8443",
    }
    human = lemur(tmp_path / "data", "config", "show", env=env)
    scripted = lemur(tmp_path / "data", "config", "show", "--json", env=env)

    for done in (human, scripted):
        assert done.returncode == OK, done.stderr
        for secret in ("secretpw", key, "session-secret-value"):
            assert secret not in done.stdout
    values = json.loads(scripted.stdout)
    assert values["database_url"] == "postgresql+psycopg://u:***@127.0.0.1/db"
    assert values["encryption_keys"] == "********"
    assert values["port"] == 8443
    assert re.search(
        r"LEMUR_DATABASE_URL\s+postgresql\+psycopg://u:\*\*\*@127\.0\.0\.1/db", human.stdout
    )
    assert re.search(r"LEMUR_ENCRYPTION_KEYS\s+\*{8}", human.stdout)
    assert not (tmp_path / "data").exists()  # showing the configuration changes nothing


def test_missing_key_file_with_encrypted_data_refuses_to_start(data_dir: Path) -> None:
    (data_dir / "keyring").unlink()
    before = sorted(p.name for p in data_dir.iterdir())

    for args in (["init"], ["serve", "--port", str(free_port())], ["user", "list"]):
        done = lemur(data_dir, *args)
        assert done.returncode == CONFIG, (args, done.stdout, done.stderr)
        assert "Restore the key file" in done.stderr
        assert "(keyring_missing)" in done.stderr
        assert "one-time password" not in done.stdout
        assert not (data_dir / "keyring").exists()
    assert sorted(p.name for p in data_dir.iterdir()) == before


def test_a_different_environment_key_refuses_to_start(data_dir: Path) -> None:
    key_bytes = (data_dir / "keyring").read_bytes()
    env = {"LEMUR_ENCRYPTION_KEYS": generate_key()}
    audit_before = count(data_dir, "audit_events")

    for args in (["init"], ["serve", "--port", str(free_port())]):
        done = lemur(data_dir, *args, env=env)
        assert done.returncode == CONFIG, (args, done.stdout, done.stderr)
        assert "LEMUR_ENCRYPTION_KEYS" in done.stderr
        assert "(keyring_missing_key)" in done.stderr
    assert (data_dir / "keyring").read_bytes() == key_bytes
    assert count(data_dir, "audit_events") == audit_before


def test_keys_rotate_adds_a_primary_and_reencrypts_everything(data_dir: Path) -> None:
    key_file = data_dir / "keyring"
    (old,) = keys_in(key_file)
    status = ok_json(data_dir, "keys", "status")
    old_kid = status["primary"]

    done = lemur(data_dir, "keys", "rotate")

    assert done.returncode == OK, done.stderr
    assert "re-encrypting app_secrets.ciphertext" in done.stderr  # the progress bar
    # app_secrets: the session secret and the instance id (lemur.health.database)
    assert re.search(r"app_secrets\.ciphertext\s.*\b2/2\b", done.stderr), done.stderr
    new_keys = keys_in(key_file)
    assert len(new_keys) == 2
    assert new_keys[1] == old
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    status = ok_json(data_dir, "keys", "status")
    assert status["primary"] != old_kid
    assert status["keys"] == [status["primary"], old_kid]
    assert sum(status["pending"].values()) == 0
    assert f"new primary key {status['primary']}" in done.stdout
    rotations = ok_json(data_dir, "audit", "list", "--action", "keys.rotate")["items"]
    assert [e["outcome"] for e in rotations] == ["success"]
    assert rotations[0]["target_id"] == status["primary"]
    assert ok_json(data_dir, "audit", "verify")["ok"] is True
    # The server still starts and decrypts its secrets with the new ring.
    assert lemur(data_dir, "user", "list").returncode == OK


def test_an_invalid_setting_is_a_configuration_error_naming_it(data_dir: Path) -> None:
    env = {"LEMUR_PORT": "eighty"}
    for args in (["config", "show"], ["user", "list"]):
        done = lemur(data_dir, *args, env=env)
        assert done.returncode == CONFIG, done.stderr
        assert "Traceback" not in done.stderr
        assert "LEMUR_PORT" in done.stderr
        assert "(config_invalid)" in done.stderr
    scripted = lemur(data_dir, "config", "show", "--json", env=env)
    assert scripted.returncode == CONFIG
    assert json.loads(scripted.stdout)["error"]["field"] == "port"


def test_names_with_brackets_print_verbatim(data_dir: Path) -> None:
    description = "[red]ops[/] on-call [b]"
    created = lemur(data_dir, "team", "create", "ops", "--description", description)
    assert created.returncode == OK, created.stderr
    shown = lemur(data_dir, "team", "list").stdout
    assert description in shown
    missing = lemur(data_dir, "team", "add-member", "[/x]", "admin")
    assert missing.returncode == NOT_FOUND
    assert "'[/x]'" in missing.stderr


def test_admin_command_from_another_directory_says_where_it_looked(tmp_path: Path) -> None:
    """Run from the wrong directory, an admin command must not invite ``lemur init`` (a
    second, empty instance): it names the absolute path it looked at, says it is relative
    to the current directory, and how to point at the real data directory."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(tmp_path, {"COLUMNS": "200"})
    del env["LEMUR_DATA_DIR"]
    done = subprocess.run(
        [*lemur_command(), "user", "list"],
        env=env,
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == CONFIG, done.stdout + done.stderr
    said = " ".join((done.stdout + done.stderr).split())
    assert str(elsewhere / "lemur-data") in said
    assert "relative to the current directory" in said
    assert "LEMUR_DATA_DIR=" in said
    assert "make run" in said
    assert not (elsewhere / "lemur-data").exists()

    # With LEMUR_DATA_DIR set to a missing directory, it says that is where it looked.
    missing = tmp_path / "missing"
    done = lemur(missing, "user", "list", columns=200)
    assert done.returncode == CONFIG, done.stdout + done.stderr
    said = " ".join((done.stdout + done.stderr).split())
    assert str(missing) in said
    assert "LEMUR_DATA_DIR is set" in said
