"""A production-like Lemur server for the benchmarks.

It is started the way docs/operations.md tells an operator to: ``lemur init`` once, then
``lemur serve --no-init --workers 2`` (uvicorn, one worker per core), with its own data
directory in a temporary directory and, for PostgreSQL, a fresh database that is dropped
afterwards. Other people's servers on this machine are never touched: the server is stopped
by the PIDs this module started.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = ("postgresql", "sqlite")
LEMUR = str(Path(sys.executable).with_name("lemur"))


def pg_available() -> bool:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (uvicorn's supervisor and its worker processes)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{tid}/children").read_text()
        except FileNotFoundError:
            continue
        for child in text.split():
            out.append(int(child))
            out += _children(int(child))
    return out


def _vm_rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


@dataclass
class Server:
    """One Lemur installation (data directory + database) and, once started, its server."""

    backend: str
    workers: int = 2
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lemur-bench-")))
    port: int = field(default_factory=_free_port)
    db_name: str = field(default_factory=lambda: f"lemur_bench_{uuid.uuid4().hex[:10]}")
    process: subprocess.Popen[bytes] | None = None
    startup_seconds: float | None = None
    token: str | None = None
    team_id: int | None = None
    # The ``lemur`` console script to run: this checkout's, or another tree's (bench.compare).
    executable: str = LEMUR
    # More LEMUR_* settings for this installation's commands and server.
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def database_url(self) -> str | None:
        if self.backend == "postgresql":
            base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
            return f"{base}/{self.db_name}"
        return None

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "lemur.db"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEMUR_")}
        env.update(
            LEMUR_DATA_DIR=str(self.data_dir),
            LEMUR_HOST="127.0.0.1",
            LEMUR_PORT=str(self.port),
        )
        if self.database_url:
            env["LEMUR_DATABASE_URL"] = self.database_url
        env.update(self.extra_env)
        return env

    def settings(self) -> Any:
        from lemur.config import Settings

        return Settings(
            data_dir=self.data_dir,
            database_url=self.database_url,
            host="127.0.0.1",
            port=self.port,
        )

    # lifecycle -------------------------------------------------------------------------

    def create_database(self) -> None:
        if self.backend != "postgresql":
            return
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.db_name}"')

    def lemur(self, *args: str) -> Any:
        """Run a ``lemur`` CLI command with --json against this installation."""
        result = subprocess.run(
            [self.executable, *args, "--json"],
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"lemur {' '.join(args)} failed ({result.returncode}): {result.stderr or result.stdout}"
            )
        return json.loads(result.stdout) if result.stdout.strip() else None

    def init(self, *, clock: Any = None) -> None:
        """``lemur init`` (the CLI), or in-process with an injected clock (the inventory
        benchmark backdates its CAs so that certificates can have expired long ago)."""
        self.create_database()
        if clock is None:
            self.lemur("init")
        else:
            from lemur.container import build_container

            build_container(self.settings(), init=True, clock=clock).close()

    def create_team_and_token(self, team: str = "bench") -> None:
        created = self.lemur("team", "create", team)
        self.team_id = int(created["id"])
        token = self.lemur(
            "token", "create", "--user", "admin", "--name", "bench", "--scope", "write"
        )
        self.token = str(token["token"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self, timeout: float = 60.0) -> float:
        """``lemur serve --no-init --workers N``; returns seconds from process start to /ready 200."""
        log = (self.root / f"serve-{int(time.time())}.log").open("wb")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [self.executable, "serve", "--no-init", "--workers", str(self.workers)],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"lemur serve exited; see {log.name}")
                try:
                    if client.get(f"{self.base_url}/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.perf_counter() - started > timeout:
                    self.stop()
                    raise RuntimeError(f"lemur serve not ready after {timeout} s; see {log.name}")
                time.sleep(0.02)
        self.startup_seconds = time.perf_counter() - started
        # Every worker answers /ready only once it has built its container; make sure both
        # have served something before measuring.
        with httpx.Client(timeout=10.0) as client:
            for _ in range(self.workers * 4):
                client.get(f"{self.base_url}/ready")
        return self.startup_seconds

    def pids(self) -> list[int]:
        if self.process is None or self.process.poll() is not None:
            return []
        return [self.process.pid, *_children(self.process.pid)]

    def rss_mib(self) -> float:
        """Sum of VmRSS of the serve process and its workers."""
        return sum(_vm_rss_kib(pid) for pid in self.pids()) / 1024

    def rss_breakdown(self) -> str:
        """``role MiB`` per process: the serve process, uvicorn's helpers and workers."""
        parts = []
        for pid in self.pids():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except FileNotFoundError:
                continue
            role = (
                "serve"
                if pid == self.pids()[0]
                else "tracker"
                if "resource_tracker" in cmd
                else "worker"
            )
            parts.append(f"{role} {_vm_rss_kib(pid) / 1024:.0f}")
        return ", ".join(parts)

    def stop(self) -> None:
        if self.process is None:
            return
        pids = self.pids()
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        # Workers normally exit with the supervisor; make sure none of ours linger.
        deadline = time.time() + 10
        for pid in pids[1:]:
            while Path(f"/proc/{pid}").exists() and time.time() < deadline:
                time.sleep(0.05)
            with contextlib.suppress(ProcessLookupError):
                if Path(f"/proc/{pid}").exists():
                    os.kill(pid, signal.SIGKILL)
        self.process = None

    def db_size_bytes(self) -> int:
        if self.backend == "postgresql":
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                row = conn.execute("SELECT pg_database_size(%s)", (self.db_name,)).fetchone()
                return int(row[0]) if row else 0
        return sum(
            p.stat().st_size
            for p in (self.sqlite_path, Path(f"{self.sqlite_path}-wal"))
            if p.exists()
        )

    def destroy(self) -> None:
        self.stop()
        if self.backend == "postgresql":
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_server(backend: str, *, workers: int = 2, executable: str = LEMUR) -> Iterator[Server]:
    """An initialised, started server with a team and an admin write token."""
    server = Server(backend, workers=workers, executable=executable)
    try:
        server.init()
        server.create_team_and_token()
        server.start()
        yield server
    finally:
        server.destroy()


def authority_id(server: Server, name: str) -> int:
    response = httpx.get(f"{server.base_url}/api/v1/authorities", headers=server.headers)
    response.raise_for_status()
    body = response.json()
    items = body["items"] if isinstance(body, dict) else body
    for item in items:
        if item["name"] == name:
            return int(item["id"])
    raise LookupError(f"no authority named {name}")


if __name__ == "__main__":  # smoke test: python -m bench.harness sqlite
    with running_server(sys.argv[1] if len(sys.argv) > 1 else "sqlite") as srv:
        print(
            f"ready in {srv.startup_seconds:.2f} s, RSS {srv.rss_mib():.0f} MiB "
            f"({srv.rss_breakdown()}), "
            f"db {srv.db_size_bytes() / 1e6:.1f} MB, team {srv.team_id}, "
            f"issuing CA {authority_id(srv, 'local-issuing-ca')}"
        )
