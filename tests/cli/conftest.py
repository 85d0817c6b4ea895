"""Fixtures shared by the admin-command tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import lemur
from tests.conftest import scratch_database
from tests.peers.server import RunningServer, start_server


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory after `lemur init`, made once per module."""
    data_dir = tmp_path_factory.mktemp("initialised") / "data"
    done = lemur(data_dir, "init")
    assert done.returncode == 0, done.stderr
    return data_dir


@pytest.fixture
def data_dir(initialised: Path, tmp_path: Path) -> Path:
    """A copy of the initialised data directory, the test's own."""
    target = tmp_path / "data"
    shutil.copytree(initialised, target)
    return target


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for SQLite (the data directory's file), else a fresh PostgreSQL database URL."""
    if request.param == "sqlite":
        yield None
        return
    with scratch_database("lemur_serve") as url:
        yield url


@pytest.fixture
def serve(tmp_path: Path, backend: str | None) -> Iterator[Callable[..., RunningServer]]:
    """Start real `lemur serve` processes on the test's backend (``serve(LEMUR_X="...")``);
    all are stopped at the end."""
    started: list[RunningServer] = []

    def start(**env: str) -> RunningServer:
        if backend:
            env["LEMUR_DATABASE_URL"] = backend
        server = start_server(tmp_path / "data", env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
