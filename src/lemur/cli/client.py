"""The developer CLI's HTTP client: talks to a Lemur server's API with an API token.

The server is ``--url`` or ``LEMUR_URL`` (default http://127.0.0.1:8000), the token ``--token``
or ``LEMUR_TOKEN``. The API's error envelope ``{"error": {"code", "message", "field"}}`` becomes
the :class:`~lemur.errors.LemurError` subclass of its HTTP status, carrying the API's code,
field and message, so the CLI's exit codes (``lemur.cli.output``) follow the status: 400/413/422
-> 3, 404 -> 4, 409 -> 5, 401/403 -> 6, anything else (and an unreachable server) -> 8.

The token is sent only in the Authorization header; it is never printed, never part of an
error message, and redirects are not followed (a redirect must not carry it elsewhere).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import typer

from lemur.errors import (
    AuthenticationRequired,
    BadRequest,
    ConfigurationError,
    Conflict,
    InvalidInput,
    LemurError,
    NotFound,
    PermissionDenied,
)

DEFAULT_URL = "http://127.0.0.1:8000"
TIMEOUT_SECONDS = 60.0

URL = typer.Option(
    None,
    "--url",
    help=f"Lemur server (default: $LEMUR_URL, else {DEFAULT_URL})",
    show_default=False,
)
TOKEN = typer.Option(
    None,
    "--token",
    help="API token (default: $LEMUR_TOKEN); create one with `lemur token create`",
    show_default=False,
)
JSON = typer.Option(False, "--json", help="print JSON instead of a table")

_BY_STATUS: dict[int, type[LemurError]] = {
    400: BadRequest,
    401: AuthenticationRequired,
    403: PermissionDenied,
    404: NotFound,
    409: Conflict,
    # Too large is bad input for the caller to fix, like a validation error.
    413: InvalidInput,
    422: InvalidInput,
}


class Unreachable(LemurError):
    """No HTTP answer from the server (refused, timed out, DNS failure)."""

    status = 503
    default_code = "lemur_unreachable"


class ServerError(LemurError):
    """The server answered with a status the CLI has no better meaning for (5xx, 429)."""

    default_code = "server_error"


@dataclass(frozen=True)
class Endpoint:
    url: str
    token: str = field(repr=False)


def endpoint(url: str | None, token: str | None) -> Endpoint:
    """The server and token from the options, else the environment; checked before use.

    Raises ConfigurationError for a URL that is not http(s), AuthenticationRequired when no
    usable token is given (without ever repeating the token)."""
    url = (url or os.environ.get("LEMUR_URL") or DEFAULT_URL).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"LEMUR_URL must be an http:// or https:// URL such as {DEFAULT_URL}, got '{url}'",
            code="invalid_url",
            field="url",
        )
    if parts.username or parts.password:
        raise ConfigurationError(
            "LEMUR_URL must not contain credentials; give the API token in LEMUR_TOKEN",
            code="invalid_url",
            field="url",
        )
    token = (token if token is not None else os.environ.get("LEMUR_TOKEN", "")).strip()
    if not token:
        raise AuthenticationRequired(
            "no API token: set LEMUR_TOKEN or pass --token "
            "(an admin creates one with `lemur token create --user NAME --name NAME --scope write`)",
            code="token_missing",
            field="token",
        )
    if not token.isascii() or not token.isprintable() or " " in token:
        raise AuthenticationRequired(
            "the API token is not a Lemur token (they look like lmr_<id>_<secret>)",
            code="token_malformed",
            field="token",
        )
    return Endpoint(url, token)


def api_error(response: httpx.Response) -> LemurError:
    """The LemurError for an error response: the API's envelope when it sent one."""
    status = response.status_code
    cls = _BY_STATUS.get(status, ServerError)
    try:
        body = response.json()
        error = body["error"]
        message = str(error["message"])
        code = str(error["code"])
        at = error.get("field")
    except (ValueError, KeyError, TypeError):
        reason = response.reason_phrase or "error"
        return cls(f"Lemur answered HTTP {status} {reason}", code=f"http_{status}")
    return cls(message, code=code, field=str(at) if at else None)


class LemurClient:
    """A synchronous client for one server and token. Use as a context manager."""

    def __init__(self, where: Endpoint, *, transport: httpx.BaseTransport | None = None) -> None:
        self.url = where.url
        self._http = httpx.Client(
            base_url=where.url,
            headers={
                "Authorization": f"Bearer {where.token}",
                "Accept": "application/json",
                "User-Agent": "lemur-cli",
            },
            timeout=TIMEOUT_SECONDS,
            follow_redirects=False,
            transport=transport,
        )

    def __enter__(self) -> LemurClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> httpx.Response:
        """Send one request; a 2xx response, or the LemurError of the answer."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(
                method, path, params=query, json=body if body is not None else None
            )
        except httpx.ConnectError as exc:
            raise Unreachable(
                f"cannot reach Lemur at {self.url}: is `lemur serve` running?"
            ) from exc
        except httpx.TimeoutException as exc:
            raise Unreachable(
                f"Lemur at {self.url} did not answer within {TIMEOUT_SECONDS:.0f} s"
            ) from exc
        except httpx.TransportError as exc:
            raise Unreachable(
                f"cannot reach Lemur at {self.url} ({type(exc).__name__}): "
                "is `lemur serve` running?"
            ) from exc
        if response.status_code >= 300:
            raise api_error(response)
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params).json()

    def post(self, path: str, body: Any) -> Any:
        return self.request("POST", path, body=body).json()

    # -- names to ids ------------------------------------------------------------------------

    def team(self, value: str) -> dict[str, Any]:
        """The team named ``value`` (or with that id). NotFound lists the teams there are."""
        return _pick(self.get("/api/v1/teams"), value, what="team", option="--team")

    def authority(self, value: str, *, option: str = "--authority") -> dict[str, Any]:
        """The authority named ``value`` (or with that id)."""
        return _pick(self.get("/api/v1/authorities"), value, what="authority", option=option)


def _pick(rows: list[dict[str, Any]], value: str, *, what: str, option: str) -> dict[str, Any]:
    wanted = value.strip()
    for row in rows:
        if row["name"] == wanted:
            return row
    if wanted.isdigit():
        for row in rows:
            if row["id"] == int(wanted):
                return row
    known = ", ".join(sorted(str(r["name"]) for r in rows)) or "none"
    raise NotFound(
        f"no {what} named '{wanted}' (known: {known})",
        code=f"{what}_not_found",
        field=option.lstrip("-"),
    )


@contextmanager
def connect(url: str | None, token: str | None) -> Iterator[LemurClient]:
    with LemurClient(endpoint(url, token)) as client:
        yield client
