"""A real ``lemur serve`` per test module and one headless Chromium per test worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.conftest import scratch_database
from tests.peers.server import RunningServer, start_server

# Seconds for `lemur serve` to answer /ready: generous, as a loaded CI machine with browsers
# and other servers starting at once can take well over the usual second or two.
START_TIMEOUT = 120


def serve(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A real ``lemur serve`` on its SQLite file, or on a fresh PostgreSQL database."""
    data_dir = tmp_path_factory.mktemp("serve") / "data"
    if database == "sqlite":
        running = start_server(data_dir, timeout=START_TIMEOUT)
        yield running
        running.stop()
        return
    with scratch_database("lemur_ui") as url:
        running = start_server(data_dir, env={"LEMUR_DATABASE_URL": url}, timeout=START_TIMEOUT)
        yield running
        running.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A real ``lemur serve`` per test module and database."""
    yield from serve(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """For modules whose pages add no query of their own to what the API suite runs on both
    databases (docs/decisions/0022): they override ``server`` with this one."""
    yield from serve("sqlite", tmp_path_factory)


@pytest.fixture
def context(browser: Browser, server: RunningServer) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=server.base_url, viewport={"width": 1000, "height": 700})
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


__all__ = ["context", "page", "server", "sqlite_server"]
