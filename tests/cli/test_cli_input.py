"""Bad input on the command line: numbers out of range and control characters are invalid
input (exit 3) with a message naming the option, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_cli import INVALID, count, data_dir, lemur, template  # noqa: F401


@pytest.mark.parametrize("days", ["99999999999", "0", "3651"])
def test_token_create_with_a_lifetime_out_of_range_exits_3(data_dir: Path, days: str) -> None:  # noqa: F811
    before = count(data_dir, "api_tokens")
    done = lemur(data_dir, "token", "create", "--user", "admin", "--name", "x", "--days", days)
    assert done.returncode == INVALID, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "--days" in done.stderr
    assert "3650" in done.stderr
    assert count(data_dir, "api_tokens") == before


def test_token_create_beyond_the_configured_maximum_exits_3(data_dir: Path) -> None:  # noqa: F811
    done = lemur(
        data_dir, "token", "create", "--user", "admin", "--name", "x", "--days", "400", "--json"
    )
    assert done.returncode == INVALID, done.stdout + done.stderr
    assert '"invalid_token_lifetime"' in done.stdout


def test_token_name_with_a_line_break_exits_3(data_dir: Path) -> None:  # noqa: F811
    done = lemur(data_dir, "token", "create", "--user", "admin", "--name", "ci\r\nX: y")
    assert done.returncode == INVALID, done.stdout + done.stderr
    assert "(invalid_character)" in done.stderr
    assert count(data_dir, "api_tokens") == 0


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--port", "99999999999"],
        ["serve", "--workers", "99999999999"],
        [
            "cert",
            "request",
            "a.example",
            "--team",
            "t",
            "--authority",
            "a",
            "--days",
            "99999999999",
        ],
        ["cert", "list", "--expiring-within", "99999999999"],
        ["cert", "renew", "1", "--days", "99999999999"],
        ["authority", "create", "x", "--cn", "X", "--days", "99999999999"],
        ["authority", "create", "x", "--cn", "X", "--max-days", "99999999999"],
        ["authority", "create", "x", "--cn", "X", "--path-length", "99999999999"],
    ],
)
def test_integer_options_out_of_range_exit_3_before_doing_anything(
    data_dir: Path,  # noqa: F811
    args: list[str],
) -> None:
    done = (
        lemur(data_dir, *args, "--url", "http://127.0.0.1:9")
        if args[0] != "serve"
        else lemur(data_dir, *args)
    )
    assert done.returncode == INVALID, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "(out_of_range)" in done.stderr


def test_team_description_with_a_terminal_escape_exits_3(data_dir: Path) -> None:  # noqa: F811
    done = lemur(data_dir, "team", "create", "web", "--description", "ok\x1b[2J")
    assert done.returncode == INVALID, done.stdout + done.stderr
    assert "(invalid_character)" in done.stderr
    assert "U+001B" in done.stderr
    assert count(data_dir, "teams") == 0
