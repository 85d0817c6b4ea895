"""Pages answer errors as pages; every response carries the security headers.

The API's error handlers (lemur.web.errors) answer JSON envelopes. For a page path (not
under /api/, /static/, /ca/, /crl/, /ocsp/, /metrics, /health, /ready) the same errors are
rendered as HTML instead: an unknown path is an HTML 404, a session that ended sends the
browser to the login page and back, a refused action is a 403 page that says why.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lemur.errors import AuthenticationRequired, LemurError
from lemur.ui.visit import render, security_headers

NOT_PAGES = ("/api/", "/static/", "/ca/", "/crl/", "/ocsp/", "/metrics", "/health", "/ready")
# No inline script or style anywhere, nothing from another origin, no framing, forms post
# only here. Inline SVG is markup, not script: the dashboard's charts are allowed.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)
HEADINGS = {
    400: "This address is not valid",
    403: "You may not do this",
    404: "Page not found",
    409: "This cannot be done now",
    413: "What you sent is too large",
    422: "This request is not valid",
    429: "Too many attempts",
    503: "Lemur cannot do this right now",
}


class LoginRequired(Exception):
    """The page needs a signed-in user; the browser goes to the login page and back."""


class PasswordChangeRequired(Exception):
    """A one-time password is still in use: only /password and /logout are open."""


class CSRFFailed(Exception):
    """A form post without its session's CSRF token."""


def is_page(path: str) -> bool:
    return not path.startswith(NOT_PAGES)


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    next_query = "" if target == "/" else "?" + urllib.parse.urlencode({"next": target})
    response = RedirectResponse(f"/login{next_query}", status_code=303)
    security_headers(response)
    return response


def error_page(
    request: Request, status: int, message: str, *, heading: str | None = None
) -> Response:
    return render(
        request,
        "error.html",
        status=status,
        heading=heading or HEADINGS.get(status, "Something went wrong"),
        error=message,
        show_login=status == 401,
    )


Handler = Callable[[Request, Exception], Awaitable[Response]]


def install_page_errors(app: FastAPI) -> None:
    """Wrap the API's handlers (installed first): pages get HTML, the API keeps JSON."""

    def wrap(kind: type[Exception], to_page: Callable[[Request, Exception], Response]) -> None:
        api_handler: Handler = app.exception_handlers[kind]  # type: ignore[assignment]

        async def handler(request: Request, exc: Exception) -> Response:
            if is_page(request.url.path):
                return to_page(request, exc)
            return await api_handler(request, exc)

        app.add_exception_handler(kind, handler)

    def lemur_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LemurError)
        if isinstance(exc, AuthenticationRequired):
            return login_redirect(request)
        return error_page(request, exc.status, exc.message)

    def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_page(
                request,
                404,
                "There is no page at this address. Check the link, or start again from the dashboard.",
            )
        if exc.status_code == 405:
            return error_page(
                request, 405, "This page cannot be used this way.", heading="Not here"
            )
        return error_page(request, exc.status_code, str(exc.detail))

    def invalid_address(request: Request, _exc: Exception) -> Response:
        # A path or query parameter of the wrong shape (/certificates/abc): the address is
        # wrong, not the user's input in a form (forms are parsed by lemur.ui.forms).
        return error_page(
            request,
            404,
            "There is no page at this address. Check the link, or start again from the dashboard.",
        )

    def unexpected(scope: Scope) -> Response | None:
        """An unexpected error on a page: an HTML page (the API keeps its JSON envelope)."""
        if not is_page(str(scope.get("path", ""))):
            return None
        return error_page(
            Request(scope),
            500,
            "Something went wrong on our side; it has been logged. Try again, or go back.",
            heading="Something went wrong",
        )

    app.state.unexpected_page = unexpected
    wrap(LemurError, lemur_error)
    wrap(StarletteHTTPException, http_error)
    wrap(RequestValidationError, invalid_address)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, _exc: LoginRequired) -> Response:
        return login_redirect(request)

    @app.exception_handler(PasswordChangeRequired)
    async def _password(_request: Request, _exc: PasswordChangeRequired) -> Response:
        response = RedirectResponse("/password", status_code=303)
        security_headers(response)
        return response

    @app.exception_handler(CSRFFailed)
    async def _csrf(request: Request, _exc: CSRFFailed) -> Response:
        return error_page(
            request,
            403,
            "The form was missing its security token (CSRF). Reload the page and try again.",
            heading="This form has expired",
        )


class SecurityHeaders:
    """Adds the security headers to every response that does not set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in HEADERS if h[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
