"""Against a real ``lemur serve`` (SQLite and PostgreSQL): header size limit, and every curl
example of the documentation run as written, so that the docs cannot rot again."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import scratch_database
from tests.peers.server import RunningServer, clean_env, lemur_command, start_server

ROOT = Path(__file__).resolve().parent.parent.parent
# In this order against one server: notifications.md mutes a certificate certificates.md
# requested.
DOCS = [
    ROOT / "README.md",
    ROOT / "docs" / "certificates.md",
    ROOT / "docs" / "notifications.md",
    ROOT / "docs" / "dashboard.md",
]


@dataclass
class Served:
    server: RunningServer
    token: str  # an admin's write token


def _lemur(data_dir: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*lemur_command(), *args],
        env=clean_env(data_dir, env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp("served") / "data"
    env: dict[str, str] = {}
    cleanup = contextlib.ExitStack()
    if request.param == "postgresql":
        env["LEMUR_DATABASE_URL"] = cleanup.enter_context(scratch_database("lemur_served"))
    server = start_server(data_dir, env=env)
    try:
        _lemur(data_dir, env, "team", "create", "payments")
        created = json.loads(
            _lemur(
                data_dir,
                env,
                "token",
                "create",
                "--user",
                "admin",
                "--name",
                "docs",
                "--scope",
                "write",
                "--json",
            )
        )
        yield Served(server, created["token"])
    finally:
        server.stop()
        cleanup.close()


# --- header size ------------------------------------------------------------------------------


def _raw_request(base_url: str, head: bytes) -> bytes:
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        # the server may answer and close before reading everything
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head)
        answer = b""
        while not answer.endswith(b"}") and len(answer) < 65536:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            answer += chunk
    return answer


def test_an_8_mb_header_is_431_and_the_server_keeps_serving(served: Served) -> None:
    base = served.server.base_url
    big = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (8 * 1024 * 1024) + b"\r\n\r\n"
    answer = _raw_request(base, big)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert b'"headers_too_large"' in answer
    many = (
        b"GET /health HTTP/1.1\r\nHost: x\r\n"
        + b"".join(f"X-H{i}: 1\r\n".encode() for i in range(500))
        + b"\r\n"
    )
    assert _raw_request(base, many).startswith(b"HTTP/1.1 431 ")
    # a normal request, with the usual headers, afterwards
    r = httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {served.token}"})
    assert r.status_code == 200, r.text
    assert r.json()["username"] == "admin"


# --- the documentation's curl examples ----------------------------------------------------------


def curl_examples(path: Path) -> list[str]:
    """Each curl command of the file's ``sh`` blocks, continuation lines included."""
    commands: list[str] = []
    in_block = False
    current: list[str] = []
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_block = line.strip() in ("```sh", "```bash", "```shell") and not in_block
            current = []
            continue
        if not in_block:
            continue
        if current or line.lstrip().startswith("curl "):
            current.append(line)
            text = "\n".join(current)
            if text.count("'") % 2 == 0 and not text.endswith("\\"):
                commands.append(text)
                current = []
    return commands


def test_the_docs_have_curl_examples() -> None:
    found = {p.name: len(curl_examples(p)) for p in DOCS}
    assert found["certificates.md"] >= 2, found
    assert found["README.md"] >= 1, found
    assert found["notifications.md"] >= 4, found
    assert found["dashboard.md"] >= 1, found


def test_every_curl_example_of_the_docs_works_as_written(served: Served) -> None:
    """The documents in order, against one server, as a reader following them would."""
    assert shutil.which("curl"), "curl is needed to run the documentation's examples"
    for command in (c for doc in DOCS for c in curl_examples(doc)):
        runnable = (
            command.replace("http://127.0.0.1:8000", served.server.base_url)
            .replace("lmr_...", served.token)
            .replace("curl ", "curl --fail-with-body -sS ", 1)
        )
        done = subprocess.run(
            ["bash", "-c", runnable],
            env={**os.environ, "T": served.token},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        assert re.match(r"\s*[\[{]", done.stdout), (command, done.stdout)
