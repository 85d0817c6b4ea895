"""A real ``lemur serve`` per test module and one headless Chromium per test worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.conftest import scratch_database
from tests.peers.server import RunningServer, start_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A real ``lemur serve`` per test module and database: its SQLite file, or a fresh
    PostgreSQL database."""
    data_dir = tmp_path_factory.mktemp("serve") / "data"
    if request.param == "sqlite":
        running = start_server(data_dir)
        yield running
        running.stop()
        return
    with scratch_database("lemur_ui") as url:
        running = start_server(data_dir, env={"LEMUR_DATABASE_URL": url})
        yield running
        running.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install-peers.sh (make peers)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser, server: RunningServer) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=server.base_url, viewport={"width": 1000, "height": 700})
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()
