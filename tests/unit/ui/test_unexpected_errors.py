"""An unexpected error answers a page on page paths and the JSON envelope on the API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lemur.app import create_app
from lemur.container import Container


def test_a_crash_on_a_page_is_an_html_page_and_on_the_api_json(container: Container) -> None:
    app = create_app(container, run_jobs=False)

    @app.get("/crash-page")
    def crash_page() -> None:
        raise RuntimeError("boom: a secret-looking detail")

    @app.get("/api/v1/crash")
    def crash_api() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        page = client.get("/crash-page")
        api = client.get("/api/v1/crash")
    assert page.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    assert "Something went wrong" in page.text
    assert "secret-looking" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert api.status_code == 500
    assert api.json()["error"]["code"] == "internal_error"
