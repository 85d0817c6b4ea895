"""The API explorer at /api/v1/docs works offline: everything it loads comes from Lemur."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from tests.peers.server import RunningServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(sqlite_server: RunningServer) -> RunningServer:
    """SQLite only: docs/decisions/0022."""
    return sqlite_server


def test_api_docs_render_every_operation_from_local_files_only(
    page: Page, server: RunningServer
) -> None:

    requested: list[str] = []
    console_errors: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console_errors.append(message.text)

    page.on("console", on_console)
    page.on("requestfailed", lambda request: console_errors.append(f"failed: {request.url}"))

    document = httpx.get(f"{server.base_url}/api/v1/openapi.json").json()
    operations = sum(
        1
        for item in document["paths"].values()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )

    response = page.goto("/api/v1/docs")
    assert response is not None
    assert response.status == 200
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "http" not in policy  # no other origin is allowed

    # The explorer can send an API token.
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    blocks = page.locator(".opblock")
    expect(blocks).to_have_count(operations)
    expect(
        page.locator(".opblock-summary-path", has_text="/api/v1/certificates").first
    ).to_be_visible()
    # An operation opens and shows its documented error answer.
    page.locator(".opblock-summary", has_text="/api/v1/teams/{team_id}").first.click()
    expect(page.get_by_text("ErrorEnvelope").first).to_be_visible()

    local = f"{server.base_url}/"
    outside = [
        url for url in requested if not url.startswith(local) and not url.startswith("data:")
    ]
    assert outside == []
    assert f"{server.base_url}/api/v1/openapi.json" in requested
    assert any(url.endswith("/swagger-ui-bundle.js") for url in requested)
    assert console_errors == []
