"""`lemur cert edit | archive | unarchive | list --include-archived` and the JKS exports,
run as a developer runs them (subprocesses with LEMUR_URL and LEMUR_TOKEN) against a real
`lemur serve` on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jks
import pytest

from tests.cli.test_cert_cli import issue_through_api
from tests.peers.server import RunningServer, clean_env, lemur_command

OK, USAGE, NOT_FOUND, CONFLICT = 0, 2, 4, 5


@dataclass
class CLI:
    server: RunningServer
    admin_env: dict[str, str]
    token: str

    def admin(self, *args: str) -> str:
        done = subprocess.run(
            [*lemur_command(), *args],
            env=clean_env(self.server.data_dir, self.admin_env),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == OK, done.stdout + done.stderr
        return done.stdout

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        env = clean_env(
            self.server.data_dir.parent / "client-data",
            {"LEMUR_URL": self.server.base_url, "LEMUR_TOKEN": self.token},
        )
        done = subprocess.run(
            [*lemur_command(), *args],
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert self.token not in done.stdout + done.stderr
        return done

    def json(self, *args: str) -> Any:
        done = self.run(*args, "--json")
        assert done.returncode == OK, done.stdout + done.stderr
        return json.loads(done.stdout)


@pytest.fixture
def cli(serve: Callable[..., RunningServer], backend: str | None) -> CLI:
    server = serve()
    env = {"LEMUR_DATABASE_URL": backend} if backend else {}
    probe = CLI(server, env, "")
    created = json.loads(
        probe.admin(
            "token", "create", "--user", "admin", "--name", "t", "--scope", "write", "--json"
        )
    )
    probe.admin("team", "create", "payments")
    probe.admin("team", "create", "search")
    return CLI(server, env, created["token"])


def test_edit_archive_list_and_export_a_java_keystore(cli: CLI, tmp_path: Path) -> None:
    cert = issue_through_api(cli.server.base_url, cli.token, "ledger.example.com")
    other = issue_through_api(cli.server.base_url, cli.token, "books.example.com")
    cid = str(cert["id"])

    edited = cli.json(
        "cert",
        "edit",
        cid,
        "--team",
        "search",
        "--description",
        "General ledger API",
        "--no-notify",
    )
    assert edited["team"]["name"] == "search"
    assert edited["description"] == "General ledger API"
    assert edited["notify"] is False
    assert edited["mute"]["muted_by"] == "user:admin"

    shown = cli.run("cert", "show", cid)
    assert shown.returncode == OK, shown.stderr
    assert "General ledger API" in shown.stdout
    assert re.search(r"notifications +off \(muted by user:admin at ", shown.stdout)
    assert re.search(r"team +search", shown.stdout)

    printed = cli.run("cert", "edit", cid, "--notify", "--description", "")
    assert printed.returncode == OK, printed.stderr
    assert f"updated certificate {cid}: ledger.example.com" in printed.stdout
    assert re.search(r"notifications +on", printed.stdout)
    assert "General ledger API" not in printed.stdout

    nothing = cli.run("cert", "edit", cid)
    assert nothing.returncode == USAGE
    assert "nothing to change" in nothing.stderr
    unknown = cli.run("cert", "edit", cid, "--team", "nosuch")
    assert unknown.returncode == NOT_FOUND
    assert "no team named 'nosuch'" in unknown.stderr

    archived = cli.json("cert", "archive", cid)
    assert archived["archived_at"] is not None
    listed = {i["id"] for i in cli.json("cert", "list")["items"]}
    assert other["id"] in listed
    assert cert["id"] not in listed
    everything = {i["id"] for i in cli.json("cert", "list", "--include-archived")["items"]}
    assert everything == listed | {cert["id"]}
    table = cli.run("cert", "list", "--include-archived", "--contains", "ledger")
    assert "valid archived" in table.stdout
    again = cli.run("cert", "archive", cid)
    assert again.returncode == CONFLICT
    assert "already_archived" in again.stderr

    back = cli.run("cert", "unarchive", cid)
    assert back.returncode == OK, back.stderr
    assert f"unarchived certificate {cid}" in back.stdout
    assert {i["id"] for i in cli.json("cert", "list")["items"]} == everything
    assert cli.run("cert", "unarchive", cid).returncode == CONFLICT

    # The Java KeyStore formats (one server start serves both parts of this test).
    cert = issue_through_api(cli.server.base_url, cli.token, "java.example.com")
    target = tmp_path / "java.jks"
    done = cli.run(
        "cert", "export", str(cert["id"]), "--format", "jks", "--passphrase-stdin",
        "--out", str(target),
        stdin="maple orbit lantern cobalt\n",
    )  # fmt: skip
    assert done.returncode == OK, done.stdout + done.stderr
    assert target.stat().st_mode & 0o777 == 0o600
    store = jks.KeyStore.loads(target.read_bytes(), "maple orbit lantern cobalt")
    assert list(store.private_keys) == ["java.example.com"]

    trust = tmp_path / "trust.jks"
    done = cli.run(
        "cert", "export", str(cert["id"]), "--format", "jks-truststore", "-o", str(trust)
    )
    assert done.returncode == OK, done.stdout + done.stderr
    assert len(jks.KeyStore.loads(trust.read_bytes(), "changeit").certs) == 3
