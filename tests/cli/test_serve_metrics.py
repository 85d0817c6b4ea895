"""A real ``lemur serve`` (SQLite and PostgreSQL): /metrics on a separate address without
authentication (and then not on the main port), with one and with two uvicorn workers; and
``LEMUR_LOG_FORMAT=json``: every line the server writes is a JSON object, and a request's
lines carry its id, principal and route."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.peers.server import (
    RunningServer,
    clean_env,
    free_port,
    lemur_command,
)


def _token(server: RunningServer, env: dict[str, str], *, user: str = "admin") -> str:
    done = subprocess.run(
        [*lemur_command(), "token", "create", "--user", user, "--name", "t", "--scope", "read", "--json"],
        env=clean_env(server.data_dir, env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    token: str = json.loads(done.stdout)["token"]
    return token


def _families(body: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(body)}


def test_a_separate_metrics_address_serves_without_authentication(
    serve: Callable[..., RunningServer], backend: str | None
) -> None:
    address = f"127.0.0.1:{free_port()}"
    server = serve(LEMUR_METRICS_ADDRESS=address)
    env = {"LEMUR_DATABASE_URL": backend} if backend else {}
    token = _token(server, env)
    with httpx.Client(base_url=server.base_url, timeout=10) as main:
        assert main.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).is_success
        # The main port does not serve it, not even to an admin's token.
        r = main.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 404, r.text
    r = httpx.get(f"http://{address}/metrics", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = _families(r.text)
    statuses = {s.labels["status"]: s.value for s in families["lemur_certificates"].samples}
    assert statuses["valid"] >= 2  # the two local CAs made by init
    seconds = families["lemur_http_request_duration_seconds"]
    routes = {s.labels["route"] for s in seconds.samples}
    assert "/api/v1/me" in routes
    assert httpx.get(f"http://{address}/api/v1/me", timeout=10).status_code == 404


def _serve_workers(data_dir: Path, env: dict[str, str], workers: int) -> RunningServer:
    port = free_port()
    log_path = data_dir.parent / f"serve-{port}.log"
    environment = clean_env(data_dir, {"LEMUR_HOST": "127.0.0.1", "LEMUR_PORT": str(port), **env})
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*lemur_command(), "serve", "--workers", str(workers)],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = RunningServer(f"http://127.0.0.1:{port}", process.pid, data_dir, log_path, process)
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, server.output
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{server.base_url}/ready", timeout=2).status_code == 200:
                return server
        assert time.monotonic() < deadline, server.output
        time.sleep(0.2)


def test_two_workers_share_one_metrics_address(tmp_path: Path, backend: str | None) -> None:
    """Only one worker can bind the address; the other says so and serves on."""
    address = f"127.0.0.1:{free_port()}"
    env = {"LEMUR_METRICS_ADDRESS": address}
    if backend:
        env["LEMUR_DATABASE_URL"] = backend
    server = _serve_workers(tmp_path / "data", env, workers=2)
    try:
        for _ in range(20):
            assert httpx.get(f"{server.base_url}/health", timeout=10).status_code == 200
        r = httpx.get(f"http://{address}/metrics", timeout=10)
        assert r.status_code == 200, r.text
        assert "lemur_certificates" in _families(r.text)
        deadline = time.monotonic() + 10
        while "already served" not in server.output and time.monotonic() < deadline:
            time.sleep(0.2)
        assert server.output.count("serving /metrics without authentication") == 1, server.output
        assert server.output.count("already served") == 1, server.output
    finally:
        server.stop()


def test_json_logs_carry_request_id_principal_and_route(
    serve: Callable[..., RunningServer], backend: str | None
) -> None:
    server = serve(LEMUR_LOG_FORMAT="json")
    env = {"LEMUR_DATABASE_URL": backend} if backend else {}
    token = _token(server, env)
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        r = client.get(
            "/api/v1/users/1",
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "scrape-test-1"},
        )
        assert r.status_code == 200, r.text
        assert r.headers["x-request-id"] == "scrape-test-1"
        assert client.get("/api/v1/me").status_code == 401
        other = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert other.status_code == 200
        generated = other.headers["x-request-id"]
    server.stop()
    lines = [line for line in server.output.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
        assert record["time"].endswith("+00:00"), record
    loggers = {r["logger"] for r in records}
    assert {"uvicorn.error", "lemur.access", "lemur.serve"} <= loggers, loggers
    (access,) = [r for r in records if r.get("request_id") == "scrape-test-1"]
    assert access["logger"] == "lemur.access"
    assert access["principal"] == "user:admin"
    assert access["route"] == "/api/v1/users/{user_id}"
    assert access["method"] == "GET"
    assert access["status"] == 200
    assert access["duration_ms"] > 0
    scraped = [r for r in records if r.get("request_id") == generated]
    assert scraped
    assert scraped[0]["route"] == "/metrics"
    anonymous = [r for r in records if r.get("route") == "/api/v1/me"]
    assert anonymous[0]["status"] == 401
    assert "principal" not in anonymous[0]
