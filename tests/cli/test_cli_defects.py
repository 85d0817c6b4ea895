"""Issue 8's CLI defects, each against what a user sees: the server the developer commands
talk to and name in errors, scripted revocation, tables at 80 columns, ranges of every
whole-number option, and the JSON error envelope of every command.

Commands that talk HTTP run against one real ``lemur serve`` per database (SQLite and
PostgreSQL); checks that end before anything is sent (option parsing) run the real
``lemur.cli.main`` in-process over every command of the tree, so a command added later is
checked too.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer.main
from rich.console import Console

import lemur.cli.output as output
from lemur.cli import build_app, main
from tests.cli.test_cert_cli import issue_through_api
from tests.conftest import scratch_database
from tests.peers.server import RunningServer, clean_env, free_port, lemur_command, start_server

OK, USAGE, INVALID, DENIED, CONFIG, ERROR = 0, 2, 3, 6, 7, 8
REPO = Path(__file__).resolve().parents[2]
TEAM = "payments"
ISSUING = "local-issuing-ca"
# 120 characters, every one of them distinct from its neighbours: a DNS name of two long
# labels (at most 63 each, RFC 1035 §2.3.4).
LONG_NAME = (
    "".join("abcdefghij"[i % 10] for i in range(63))
    + "."
    + "".join("0123456789"[i % 10] for i in range(44))
    + ".example.com"
)
assert len(LONG_NAME) == 120


@dataclass
class Lemur:
    server: RunningServer
    token: str
    work: Path

    @property
    def port(self) -> int:
        return int(self.server.base_url.rsplit(":", 1)[1])

    def run(
        self, *args: str, env: Mapping[str, str] | None = None, columns: int = 120
    ) -> subprocess.CompletedProcess[str]:
        """The CLI as a developer runs it: LEMUR_TOKEN set, LEMUR_URL only if ``env`` says."""
        done = subprocess.run(
            [*lemur_command(), *args],
            env=clean_env(
                self.work / "client-data",
                {"LEMUR_TOKEN": self.token, "COLUMNS": str(columns), **(env or {})},
            ),
            input="",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert self.token not in done.stdout + done.stderr
        return done

    def at_url(self) -> dict[str, str]:
        return {"LEMUR_URL": self.server.base_url}

    def issue(self, *names: str) -> dict[str, Any]:
        return issue_through_api(self.server.base_url, self.token, *names)


def _admin(data_dir: Path, env: Mapping[str, str], *args: str) -> Any:
    done = subprocess.run(
        [*lemur_command(), *args, "--json"],
        env=clean_env(data_dir, env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == OK, done.stdout + done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def lemur(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Lemur]:
    work = tmp_path_factory.mktemp(f"cli-defects-{request.param}")
    data_dir = work / "data"
    data_dir.mkdir()
    env: dict[str, str] = {}
    cleanup = contextlib.ExitStack()
    if request.param == "postgresql":
        env["LEMUR_DATABASE_URL"] = cleanup.enter_context(scratch_database("lemur_cli"))
    server = None
    try:
        server = start_server(data_dir, env=env, timeout=180)  # the machine may be busy
        token = _admin(
            data_dir, env, "token", "create", "--user", "admin", "--name", "t", "--scope", "write"
        )["token"]
        _admin(data_dir, env, "team", "create", TEAM)
        yield Lemur(server, token, work)
    finally:
        if server is not None:
            server.stop()
        cleanup.close()


def column(printed: str, header: str, following: str) -> str:
    """The text of one table column, its cells' lines joined: from where ``header`` starts
    on the header line to where ``following`` starts."""
    lines = printed.splitlines()
    at = next(i for i, line in enumerate(lines) if header in line and following in line)
    start, end = lines[at].index(header), lines[at].index(following)
    cells = [line[start:end].strip() for line in lines[at + 1 :]]
    return "".join(c for c in cells if c.strip("─━ "))


# -- which server -------------------------------------------------------------------------


def test_default_url_is_lemur_host_and_port_as_for_serve(lemur: Lemur) -> None:
    env = {"LEMUR_HOST": "127.0.0.1", "LEMUR_PORT": str(lemur.port)}
    listed = lemur.run("authority", "list", "--json", env=env)
    assert listed.returncode == OK, listed.stderr
    assert ISSUING in {a["name"] for a in json.loads(listed.stdout)}
    # A server bound to every address is reached on loopback.
    wildcard = lemur.run("authority", "list", "--json", env={**env, "LEMUR_HOST": "0.0.0.0"})
    assert wildcard.returncode == OK, wildcard.stderr
    # LEMUR_URL still wins.
    elsewhere = f"http://127.0.0.1:{free_port()}"
    named = lemur.run("authority", "list", env={**env, "LEMUR_URL": elsewhere})
    assert named.returncode == ERROR
    assert elsewhere in named.stderr


def test_errors_from_the_server_name_it(lemur: Lemur) -> None:
    wrong = {**lemur.at_url(), "LEMUR_TOKEN": "lmr_0000000000000000_nottherealsecret"}
    human = lemur.run("cert", "list", env=wrong)
    assert human.returncode == DENIED
    assert f"Lemur at {lemur.server.base_url}" in human.stderr
    scripted = lemur.run("cert", "list", "--json", env=wrong)
    assert scripted.returncode == DENIED
    error = json.loads(scripted.stdout)["error"]
    assert lemur.server.base_url in error["message"]
    assert error["code"].startswith("token")
    missing = lemur.run("cert", "show", "987654", env=lemur.at_url())
    assert missing.returncode == 4
    assert lemur.server.base_url in missing.stderr
    team = lemur.run(
        "cert", "request", "x.example.com", "--team", "nope", "--authority", ISSUING,
        env=lemur.at_url(),
    )  # fmt: skip
    assert team.returncode == 4
    assert f"no team named 'nope' at {lemur.server.base_url}" in team.stderr


def test_unreachable_server_names_the_url_and_lemur_url(lemur: Lemur) -> None:
    port = free_port()
    done = lemur.run("cert", "list", env={"LEMUR_HOST": "127.0.0.1", "LEMUR_PORT": str(port)})
    assert done.returncode == ERROR
    assert f"cannot reach Lemur at http://127.0.0.1:{port}" in done.stderr
    assert "LEMUR_URL" in done.stderr
    assert "LEMUR_HOST/LEMUR_PORT" in done.stderr


# -- scripted revocation --------------------------------------------------------------------


def test_revoke_in_a_script_needs_yes_and_says_so(lemur: Lemur) -> None:
    item = lemur.issue(f"script-{uuid.uuid4().hex[:8]}.example.com")
    refused = lemur.run("cert", "revoke", str(item["id"]), "--json", env=lemur.at_url())
    assert refused.returncode == USAGE
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == "confirmation_required"
    assert error["field"] == "yes"
    assert "--yes" in error["message"]
    human = lemur.run("cert", "revoke", str(item["id"]), env=lemur.at_url())
    assert human.returncode == USAGE
    assert "--yes" in human.stderr
    shown = lemur.run("cert", "show", str(item["id"]), "--json", env=lemur.at_url())
    assert json.loads(shown.stdout)["status"] == "valid"
    done = lemur.run(
        "cert", "revoke", str(item["id"]), "--reason", "superseded", "--yes", "--json",
        env=lemur.at_url(),
    )  # fmt: skip
    assert done.returncode == OK, done.stderr
    assert json.loads(done.stdout)["revocation_reason"] == "superseded"


def test_readme_and_docs_revoke_with_yes_in_scripts() -> None:
    readme = [
        line for line in (REPO / "README.md").read_text().splitlines() if "cert revoke" in line
    ]
    assert readme
    assert all("--yes" in line for line in readme), readme
    docs = (REPO / "docs" / "cli.md").read_text()
    assert re.search(r"lemur cert revoke \d+ .*--yes", docs)


# -- tables at 80 columns -------------------------------------------------------------------


def test_cert_list_and_show_wrap_a_120_character_name_at_80_columns(lemur: Lemur) -> None:
    # A common name has at most 64 characters (RFC 5280 ub-common-name): the long one is a SAN.
    short = f"wrap-{uuid.uuid4().hex[:8]}.example.com"
    item = lemur.issue(short, LONG_NAME)
    listed = lemur.run("cert", "list", "--name", LONG_NAME, env=lemur.at_url(), columns=80)
    assert listed.returncode == OK, listed.stderr
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80
    assert "…" not in listed.stdout
    assert short in column(listed.stdout, "common name", "names")
    assert f"{short},{LONG_NAME}" in column(listed.stdout, "names", "team")
    shown = lemur.run("cert", "show", str(item["id"]), env=lemur.at_url(), columns=80)
    assert shown.returncode == OK, shown.stderr
    assert max(len(line) for line in shown.stdout.splitlines()) <= 80
    dns_lines = shown.stdout.split("DNS names", 1)[1].split("valid from", 1)[0]
    assert LONG_NAME in "".join(part.strip() for part in dns_lines.splitlines())


def test_every_table_column_folds_long_values_at_80_columns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    printed = StringIO()
    monkeypatch.setattr(output, "out", Console(file=printed, width=80, highlight=False))
    other = LONG_NAME.upper()
    output.table(
        None,
        [output.col("id", fixed=True), "name", "description", output.col("state", fixed=True)],
        [(1, LONG_NAME, other, "active")],
    )
    text = printed.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert LONG_NAME in column(text, "name", "description")
    assert other in column(text, "description", "state")


# -- whole-number options -------------------------------------------------------------------


def leaf_commands() -> list[tuple[list[str], Any]]:
    """Every command of the tree with its path, e.g. (["cert", "list"], command)."""
    found: list[tuple[list[str], Any]] = []

    def walk(path: list[str], command: Any) -> None:
        children = getattr(command, "commands", None)
        if children:
            for name, child in children.items():
                walk([*path, name], child)
        else:
            found.append((path, command))

    walk([], typer.main.get_command(build_app(["lemur"])))
    return found


def integer_params() -> list[tuple[list[str], Any, Any]]:
    return [
        (path, command, param)
        for path, command in leaf_commands()
        for param in command.params
        if getattr(getattr(param, "type_descriptor", None), "annotation", None) is int
    ]


def takes_json(command: Any) -> bool:
    return any(getattr(p, "name", None) == "as_json" for p in command.params)


def invoke(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str, str]:
    """``lemur ARGV`` in this process: its exit code, standard output and error."""
    monkeypatch.setattr(sys, "argv", ["lemur", *argv])
    with pytest.raises(SystemExit) as ended:
        main()
    captured = capsys.readouterr()
    code = ended.value.code
    return (code if isinstance(code, int) else 0), captured.out, captured.err


def test_every_integer_option_has_a_range() -> None:
    params = integer_params()
    assert len(params) >= 15  # the walk finds them (token create --days, cert list --limit, ...)
    unbounded = [
        f"lemur {' '.join(path)} {param.opts[0]}"
        for path, _, param in params
        if param.min is None or param.max is None
    ]
    assert unbounded == []


def test_token_create_with_absurd_days_is_invalid_input(tmp_path: Path) -> None:
    done = subprocess.run(
        [*lemur_command(), "token", "create", "--user", "admin", "--name", "x", "--days", "99999999999"],
        env=clean_env(tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == INVALID, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "--days must be a whole number from 1 to" in done.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was opened


def test_absurd_integers_are_invalid_input_for_every_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("LEMUR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LEMUR_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("LEMUR_TOKEN", "lmr_0000000000000000_x")
    checked = 0
    for path, command, param in integer_params():
        for value in (str(param.max + 1), str(param.min - 1), "9" * 30, "many"):
            if param.opts[0].startswith("-"):
                given = [param.opts[0], value]
            elif value.startswith("-"):
                continue  # a negative argument reads as an option
            else:
                given = [value]
            for as_json in (False, True):
                argv = [*path, *given, *(["--json"] if as_json and takes_json(command) else [])]
                code, out, err = invoke(monkeypatch, capsys, *argv)
                assert code == INVALID, (argv, out, err)
                assert "Traceback" not in out + err
                if as_json and takes_json(command):
                    error = json.loads(out)["error"]
                    assert error["code"] == "out_of_range", argv
                    assert error["field"] == param.name
                else:
                    assert "must be a whole number from" in err, (argv, err)
                checked += 1
    assert checked >= 100
    assert not (tmp_path / "data").exists()


# -- the JSON error envelope ----------------------------------------------------------------


def test_every_command_with_json_prints_the_envelope_on_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    commands = [(path, c) for path, c in leaf_commands() if takes_json(c)]
    assert len(commands) >= 20
    for path, _ in commands:
        code, out, err = invoke(monkeypatch, capsys, *path, "--no-such-option", "--json")
        assert code == USAGE, (path, out, err)
        error = json.loads(out)["error"]
        assert error["code"] == "usage_error"
        assert "--no-such-option" in error["message"]


# A valid command line for each command: what then fails is the environment.
DEVELOPER = {
    "cert request": ["a.example.com", "--team", TEAM, "--authority", ISSUING],
    "cert list": [],
    "cert show": ["1"],
    "cert export": ["1"],
    "cert revoke": ["1", "--yes"],
    "cert renew": ["1"],
    "authority create": ["x", "--cn", "X"],
    "authority list": [],
    "authority show": [ISSUING],
}
ADMIN = {
    "user create": ["bob"],
    "user list": [],
    "user disable": ["bob"],
    "user reset-password": ["bob"],
    "team create": ["ops"],
    "team add-member": ["ops", "bob"],
    "team remove-member": ["ops", "bob"],
    "team list": [],
    "token create": ["--user", "admin", "--name", "x"],
    "token list": ["--user", "admin"],
    "token revoke": ["1", "--user", "admin"],
    "keys status": [],
    "keys rotate": [],
    "config show": [],
    "init": [],
}


@pytest.mark.parametrize(("command", "args"), sorted(DEVELOPER.items()))
def test_developer_commands_print_the_envelope_when_the_server_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    args: list[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("LEMUR_URL", url)
    monkeypatch.setenv("LEMUR_TOKEN", "lmr_0000000000000000_x")
    code, out, _ = invoke(monkeypatch, capsys, *command.split(), *args, "--json")
    assert code == ERROR
    error = json.loads(out)["error"]
    assert error["code"] == "lemur_unreachable"
    assert url in error["message"]


@pytest.mark.parametrize(("command", "args"), sorted(ADMIN.items()))
def test_admin_commands_print_the_envelope_on_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: str,
    args: list[str],
) -> None:
    monkeypatch.setenv("LEMUR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LEMUR_PORT", "eighty")
    code, out, _ = invoke(monkeypatch, capsys, *command.split(), *args, "--json")
    assert code == CONFIG
    error = json.loads(out)["error"]
    assert error["code"] == "config_invalid"
    assert error["field"] == "port"


# -- answers that are not Lemur's -------------------------------------------------------------


@pytest.fixture
def other_server(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server that is not Lemur: it serves files, one at a Lemur API path."""
    root = tmp_path / "site"
    (root / "api" / "v1").mkdir(parents=True)
    (root / "api" / "v1" / "certificates").write_text('{"unexpected": true}')
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_an_answer_that_is_not_lemurs_is_an_error_naming_the_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], other_server: str
) -> None:
    monkeypatch.setenv("LEMUR_URL", other_server)
    monkeypatch.setenv("LEMUR_TOKEN", "lmr_0000000000000000_x")
    code, out, err = invoke(monkeypatch, capsys, "cert", "list", "--json")
    assert code == ERROR
    error = json.loads(out)["error"]
    assert error["code"] == "unexpected_answer"
    assert other_server in error["message"]
    assert "Traceback" not in err
    code, out, err = invoke(monkeypatch, capsys, "cert", "show", "5")
    assert code == 4
    assert f"Lemur at {other_server} answered HTTP 404" in err
