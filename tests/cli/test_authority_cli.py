"""`lemur authority deactivate|activate` against a real `lemur serve` on SQLite and
PostgreSQL, as an operator runs them: a line for people, --json for scripts, exit codes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.cli.test_cert_cli import CONFLICT, DENIED, ISSUING, NOT_FOUND, OK, TEAM
from tests.peers.server import RunningServer, clean_env, lemur_command


def _env(server: RunningServer, extra: dict[str, str] | None = None) -> dict[str, str]:
    database = {"LEMUR_DATABASE_URL": server.database_url} if server.database_url else {}
    return clean_env(server.data_dir, {**database, **(extra or {})})


def _token(server: RunningServer, scope: str) -> str:
    done = subprocess.run(
        [*lemur_command(), "token", "create", "--user", "admin", "--name", scope, "--scope", scope,
         "--json"],
        env=_env(server),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == OK, done.stderr
    token: str = json.loads(done.stdout)["token"]
    return token


def test_deactivate_and_activate_by_name_with_exit_codes(
    serve: Callable[..., RunningServer], tmp_path: Path
) -> None:
    server = serve()
    tokens = {scope: _token(server, scope) for scope in ("write", "read")}
    team = subprocess.run(
        [*lemur_command(), "team", "create", TEAM], env=_env(server), timeout=60, check=False
    )
    assert team.returncode == OK

    def run(*args: str, scope: str = "write") -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*lemur_command(), *args],
            env=clean_env(
                tmp_path / "client",
                {"LEMUR_URL": server.base_url, "LEMUR_TOKEN": tokens[scope]},
            ),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert tokens[scope] not in done.stdout + done.stderr
        return done

    off = run("authority", "deactivate", ISSUING)
    assert off.returncode == OK, off.stderr
    assert f"({ISSUING}) is deactivated: it issues no new certificates" in off.stdout
    listed = run("authority", "list").stdout
    assert "inactive" in next(line for line in listed.splitlines() if ISSUING in line)

    again = run("authority", "deactivate", ISSUING, "--json")
    assert again.returncode == CONFLICT
    assert json.loads(again.stdout)["error"]["code"] == "authority_already_inactive"

    refused = run("cert", "request", "www.example.com", "--team", TEAM, "--authority", ISSUING)
    assert refused.returncode == CONFLICT
    assert "(authority_inactive)" in refused.stderr
    shown = json.loads(run("authority", "show", ISSUING, "--json").stdout)
    assert shown["active"] is False

    on = run("authority", "activate", str(shown["id"]), "--json")
    assert on.returncode == OK, on.stderr
    assert json.loads(on.stdout)["active"] is True
    assert run("authority", "activate", ISSUING).returncode == CONFLICT

    denied = run("authority", "deactivate", ISSUING, scope="read")
    assert denied.returncode == DENIED
    assert "token_scope_insufficient" in denied.stderr
    missing = run("authority", "deactivate", "no-such-ca")
    assert missing.returncode == NOT_FOUND
    assert "no authority named 'no-such-ca'" in missing.stderr
