"""Fixtures shared by the admin-command tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.test_cli import lemur


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
