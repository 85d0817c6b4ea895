"""The API document: every status a route can answer, and the one error envelope.

Routes declare the errors only they raise (``responses=errors(404, 409)``); those every route
of a kind can give are added by :func:`document_errors` when the app is built, from what the
route depends on:

- every route: 431 (request headers too large, refused before routing);
- a route with parameters or a body: 422 (validation), rendered as the error envelope, which
  also replaces FastAPI's own ``HTTPValidationError`` schema;
- a route with a body: 413 (body over the limit); a body that cannot be read at all (not
  UTF-8, not JSON, nested too deep) is a 422 ``invalid_json`` like any other malformed body;
- an authenticated route: 401 and 403;
- a route that uses the database: 503 (database unavailable) and 507 (storage full).

Every error answer references one schema component, ``ErrorEnvelope``. Authenticated
routes also name the ``bearerAuth`` security scheme, so the explorer can send a token.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from lemur.web.api import current_principal, get_container

Responses = dict[int | str, dict[str, Any]]


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Stable, machine-readable; scripts match on it.")
    message: str = Field(description="What went wrong and what to do, for a person.")
    field: str | None = Field(description="The input at fault (dotted path), if one is.")


class ErrorEnvelope(BaseModel):
    """Every error answer of the API."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


DESCRIPTIONS = {
    401: "Not authenticated: no credentials, or an unknown, expired or revoked token or session.",
    403: "Authenticated, but not allowed (role, team, read-only token, CSRF token).",
    404: "Nothing with this id (or not visible to the caller).",
    409: "Conflicts with what is stored (duplicate name, already revoked, ...).",
    413: "The request body is larger than the configured limit.",
    422: "A parameter or the body is invalid; `field` names it.",
    429: "Too many attempts; retry after the number of seconds in `Retry-After`.",
    431: "The request headers are too large.",
    502: "A remote system (a CA) answered with an error; the message gives its reason.",
    503: "The database or a remote system (a CA) is unavailable; retry later.",
    507: "The database's storage is full.",
}


def errors(*statuses: int) -> Responses:
    """The error answers of ``statuses``, for a route decorator's ``responses=``."""
    return {
        status: {"model": ErrorEnvelope, "description": DESCRIPTIONS[status]} for status in statuses
    }


def binary(*media_types: str, description: str = "Successful Response") -> Responses:
    """A 200 answer whose body is not JSON, in one of ``media_types``."""
    schema = {"type": "string", "format": "binary"}
    return {
        200: {
            "description": description,
            "content": {media_type: {"schema": schema} for media_type in media_types},
        }
    }


def exported() -> Responses:
    """The 200 answer of an export: a file in the exporter's media type (an exporter plugin
    chooses it, e.g. application/x-pem-file or application/pkcs12)."""
    return binary("application/*", description="The exported file, as an attachment.")


# RFC 6960 §A.1: an OCSP request is posted as DER; the route reads the raw body itself.
OCSP_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/ocsp-request": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def kind_statuses(route: APIRoute) -> set[int]:
    """The error statuses every route like ``route`` can answer (see the module docstring)."""
    calls = set(_calls(route.dependant))
    statuses = {431}
    dependant = route.dependant
    if (
        route.body_field is not None
        or dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
    ):
        statuses.add(422)
    if route.body_field is not None:
        statuses.add(413)
    if current_principal in calls:
        statuses |= {401, 403}
    if get_container in calls:
        statuses |= {503, 507}
    return statuses


def document_errors(router: APIRouter) -> None:
    """Add the statuses of each route's kind to its documented responses; call it before the
    router is included. What a route declares itself wins (``/ready`` documents its own 503
    body)."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            declared = {int(status) for status in route.responses if str(status).isdigit()}
            added = errors(*sorted(kind_statuses(route) - declared))
            route.responses = dict(
                sorted({**route.responses, **added}.items(), key=lambda kv: str(kv[0]))
            )
            if current_principal in set(_calls(route.dependant)):
                route.openapi_extra = {**SECURITY, **(route.openapi_extra or {})}


SECURITY_SCHEME = "bearerAuth"
SECURITY: dict[str, Any] = {"security": [{SECURITY_SCHEME: []}]}


def install_security_scheme(app: FastAPI) -> None:
    """Add the bearer scheme the authenticated routes name to the document's components.

    (Authentication reads the header itself, in ``lemur.web.api``, so FastAPI does not
    know the scheme; the browser's session cookie is not for scripts and is left out.)"""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()
        document.setdefault("components", {}).setdefault("securitySchemes", {})[SECURITY_SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (lmr_...): `lemur token create` or POST /api/v1/tokens.",
        }
        return document

    app.openapi = openapi  # type: ignore[method-assign]


# Swagger UI's files come from a package dependency (fastapi-offline ships Swagger UI's
# dist files), so the explorer works without internet and nothing is fetched from a CDN.
DOCS_ASSETS_PACKAGE = ("fastapi_offline", "static")
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _content_security_policy(html: str) -> str:
    """Only this origin; the page's one inline script (Swagger UI's start-up call, written
    by FastAPI) is allowed by its hash, so no other inline script can run. Swagger UI's
    stylesheet draws its icons from ``data:`` SVGs: images may use that scheme."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in INLINE_SCRIPT.findall(html)
    )
    return (
        "default-src 'self'; "
        f"script-src 'self' {hashes}; "
        "style-src 'self'; "
        "img-src 'self' data:; "
        "connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def install_docs(app: FastAPI, *, docs_url: str, openapi_url: str) -> None:
    """Serve the API explorer at ``docs_url`` from local files only."""
    assets = f"{docs_url}/assets"
    app.mount(assets, StaticFiles(packages=[DOCS_ASSETS_PACKAGE]), name="docs-assets")
    page = get_swagger_ui_html(
        openapi_url=openapi_url,
        title=f"{app.title} API",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png",
        oauth2_redirect_url=None,
        # validatorUrl: Swagger UI would send the document to an online validator.
        swagger_ui_parameters={"validatorUrl": None},
    )
    html = bytes(page.body).decode()
    headers = {
        "Content-Security-Policy": _content_security_policy(html),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }

    @app.get(docs_url, include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        return HTMLResponse(html, headers=headers)
