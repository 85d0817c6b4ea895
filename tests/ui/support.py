"""What browser tests share: users in the server's own database, logging in, reading rows,
and the accessibility check (axe-core, from the axe-playwright-python package)."""

from __future__ import annotations

import functools
import importlib.resources
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from playwright.sync_api import Page
from sqlalchemy import text

from lemur.accounts.models import Role
from lemur.authz import cli_principal
from lemur.config import Settings
from lemur.container import Container, build_container
from lemur.errors import NotFound
from lemur.services import Services
from tests.conftest import FAST_HASHER
from tests.peers.server import RunningServer

# axe-core's impacts that fail a page: a keyboard or screen-reader user is blocked.
BLOCKING = ("serious", "critical")


def server_container(server: RunningServer) -> Container:
    """A container on the server's own database (SQLite file or PostgreSQL); close it."""
    settings = Settings(data_dir=server.data_dir)
    if server.database_url:
        settings = Settings(data_dir=server.data_dir, database_url=server.database_url)
    return build_container(settings, init=False, hasher=FAST_HASHER)


def add_user(
    server: RunningServer, *, role: Role = Role.MEMBER, teams: Sequence[str] = ()
) -> tuple[str, str]:
    """A new user with a known password (and teams, created when missing)."""
    name = f"u{uuid.uuid4().hex[:10]}"
    password = f"{name}-password-123"
    container = server_container(server)
    try:
        with Services(container, cli_principal()) as services:
            accounts = services.accounts()
            user, _ = accounts.create_user(name, role=role, password=password)
            for team_name in teams:
                try:
                    team = accounts.find_team(team_name)
                except NotFound:
                    team = accounts.create_team(team_name)
                accounts.add_member(team, user)
    finally:
        container.close()
    return name, password


def count_rows(server: RunningServer, table: str) -> int:
    container = server_container(server)
    try:
        with container.db.read() as session:
            return int(session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        container.close()


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def path_of(page: Page) -> str:
    return httpx.URL(page.url).path


def at_path(page: Page, path: str) -> None:
    """Wait for the navigation a click started, then check where the browser is."""
    page.wait_for_url(lambda url: httpx.URL(url).path == path)
    page.wait_for_load_state()
    assert path_of(page) == path


@functools.cache
def _axe_source() -> str:
    return (importlib.resources.files("axe_playwright_python") / "axe.min.js").read_text()


def accessibility_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as shown (WCAG 2.1 A/AA).

    Injected with evaluate (DevTools protocol), which the page's Content-Security-Policy
    does not govern: no script is added to the page itself."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source())
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {
                runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
                resultTypes: ['violations'],
            });
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
        }"""
    )
    return [v for v in result if v["impact"] in BLOCKING]


def assert_accessible(page: Page) -> None:
    violations = accessibility_violations(page)
    assert not violations, f"{page.url}: accessibility violations: {violations}"
