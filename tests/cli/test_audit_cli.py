"""``lemur audit head`` / ``verify --expect-head`` on a live log, and every admin command on a
database it cannot use: one line, exit 8, no traceback."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.cli.test_cli import lemur, ok_json, setup_accounts

OK, CHECK_FAILED, INVALID, FAILED = 0, 1, 3, 8


def test_verify_against_a_recorded_head_passes_while_the_log_grows(data_dir: Path) -> None:
    head = ok_json(data_dir, "audit", "head")
    assert head["expect_head"] == f"{head['seq']}:{head['hash']}"
    plain = lemur(data_dir, "audit", "head")
    assert plain.stdout.strip() == head["expect_head"]

    setup_accounts(data_dir, users=["gina"], teams=["qa"])  # the log grows

    grown = lemur(data_dir, "audit", "verify", "--expect-head", head["expect_head"])
    assert grown.returncode == OK, grown.stderr
    assert f"event {head['expect_head']} recorded earlier is still in it" in grown.stdout
    old_form = lemur(data_dir, "audit", "verify", "--expect-head", head["hash"])
    assert old_form.returncode == OK, old_form.stderr

    # Rewind: delete the newer events and move the head back; consistent from inside.
    with sqlite3.connect(data_dir / "lemur.db") as conn:
        conn.execute("DELETE FROM audit_events WHERE seq >= ?", (head["seq"],))
        prev = conn.execute(
            "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        conn.execute("UPDATE audit_head SET seq = ?, hash = ?", prev)
    assert lemur(data_dir, "audit", "verify").returncode == OK
    caught = lemur(data_dir, "audit", "verify", "--expect-head", head["expect_head"], "--json")
    assert caught.returncode == CHECK_FAILED
    problems = json.loads(caught.stdout)["problems"]
    assert [(p["seq"], p["kind"]) for p in problems] == [(head["seq"], "head_mismatch")]


def test_missing_head_row_is_detected_and_the_repair_named(data_dir: Path) -> None:
    with sqlite3.connect(data_dir / "lemur.db") as conn:
        conn.execute("DELETE FROM audit_head")
    done = lemur(data_dir, "audit", "verify")
    assert done.returncode == CHECK_FAILED
    assert "head_missing" in done.stderr
    assert "INSERT INTO audit_head (id, seq, hash) VALUES (1, " in done.stderr
    head = lemur(data_dir, "audit", "head")
    assert head.returncode == FAILED
    assert "audit_head_missing" in head.stderr


def test_malformed_expect_head_is_invalid_input(data_dir: Path) -> None:
    done = lemur(data_dir, "audit", "verify", "--expect-head", "not-a-head")
    assert done.returncode == INVALID
    assert "SEQ:HASH" in done.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("audit", "verify"),
        ("audit", "head"),
        ("audit", "list"),
        ("user", "list"),
        ("keys", "status"),
        ("token", "list", "--user", "admin"),
        ("init",),
    ],
)
def test_admin_commands_on_a_garbage_database_print_one_line_and_exit_8(
    data_dir: Path, command: tuple[str, ...]
) -> None:
    (data_dir / "lemur.db").write_bytes(b"this is not a database " * 4000)
    for extra in ((), ("--json",)):
        done = lemur(data_dir, *command, *extra)
        assert done.returncode == FAILED, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        text = (done.stdout + done.stderr).strip()
        assert len(text.splitlines()) == 1, text
        assert "lemur.db" in text
        assert "restore it from a backup" in text


def test_unreachable_postgresql_is_one_line_and_exit_8(tmp_path: Path) -> None:
    url = "postgresql+psycopg://lemur:hunter2@127.0.0.1:1/lemur"
    done = lemur(tmp_path / "data", "user", "list", env={"LEMUR_DATABASE_URL": url})
    assert done.returncode == FAILED
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "hunter2" not in done.stderr
    assert "check that it is running" in done.stderr
