"""A real ``lemur serve`` in a subprocess: its own data directory, a free loopback port.

``start_server`` waits until /ready answers 200 and returns a ``RunningServer`` with the
base URL and everything the process printed so far (the first run prints the admin's
one-time password). ``stop`` ends exactly that process, by its PID.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

# As `lemur serve` prints it in text, and in its first JSON log line (LEMUR_LOG_FORMAT=json).
ADMIN_PASSWORD = re.compile(r'one-time password:\s*(\S+)|"admin_password": "([^"]+)"')


def lemur_command() -> list[str]:
    """The installed ``lemur`` console script next to this interpreter, else ``python -m lemur``."""
    script = Path(sys.executable).parent / "lemur"
    if script.exists():
        return [str(script)]
    found = shutil.which("lemur")
    return [found] if found else [sys.executable, "-m", "lemur"]


def clean_env(data_dir: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The current environment without any LEMUR_* setting of the caller, plus ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEMUR_")}
    env.pop("PYTHONUNBUFFERED", None)  # the CLI must flush what it prints by itself
    env["LEMUR_DATA_DIR"] = str(data_dir)
    env["COLUMNS"] = "120"
    env.update(extra or {})
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class RunningServer:
    base_url: str
    pid: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen[bytes]
    # The server's LEMUR_DATABASE_URL; None: the SQLite file in its data directory.
    database_url: str | None = None

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def admin_password(self) -> str | None:
        found = ADMIN_PASSWORD.search(self.output)
        return (found.group(1) or found.group(2)) if found else None

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.process.wait(timeout)


def start_server(
    data_dir: Path,
    *,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    timeout: float = 90,
    args: Sequence[str] = (),
) -> RunningServer:
    """Start ``lemur serve [args]`` on a free port and wait until /ready says 200."""
    port = free_port()
    log_path = log_path or data_dir.parent / f"serve-{port}.log"
    environment = clean_env(
        data_dir, {"LEMUR_HOST": "127.0.0.1", "LEMUR_PORT": str(port), **(env or {})}
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*lemur_command(), "serve", *args],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = RunningServer(
        f"http://127.0.0.1:{port}",
        process.pid,
        data_dir,
        log_path,
        process,
        database_url=environment.get("LEMUR_DATABASE_URL"),
    )
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=server.base_url, timeout=2) as client:
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"lemur serve exited with {process.returncode}:\n{server.output}"
                )
            try:
                if client.get("/ready").status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"lemur serve not ready after {timeout}s:\n{server.output}")
            time.sleep(0.1)


CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    """Log in through the real /login form, as a browser would (pre-session cookie + CSRF)."""
    page = client.get("/login")
    found = CSRF_FIELD.search(page.text)
    if found is None:
        raise AssertionError(f"no CSRF token on the login page:\n{page.text}")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": found.group(1)},
        follow_redirects=False,
    )
