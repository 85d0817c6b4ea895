"""The developer CLI's HTTP client: talks to a Lemur server's API with an API token.

The server is ``--url``, else ``LEMUR_URL``, else ``http://LEMUR_HOST:LEMUR_PORT`` with the
defaults ``lemur serve`` has (read from the same Settings, so a ``lemur.toml`` or the
environment that moved the server moves the client too). The token is ``--token`` or
``LEMUR_TOKEN``.

The API's error envelope ``{"error": {"code", "message", "field"}}`` becomes the
:class:`~lemur.errors.LemurError` subclass of its HTTP status, carrying the API's code and
field; its message names the server that answered, so an error from the wrong server says
so. The CLI's exit codes (``lemur.cli.output``) follow the status: 400/413/422 -> 3,
404 -> 4, 409 -> 5, 401/403 -> 6, anything else (and an unreachable server) -> 8.

Answers are parsed with the API's own output schemas (``CertificateDetailOut``,
``AuthorityOut``, ...); an answer that does not fit them is an error naming the server, not
a traceback.

The token is sent only in the Authorization header; it is never printed, never part of an
error message, and redirects are not followed (a redirect must not carry it elsewhere).
"""

from __future__ import annotations

import functools
import ipaddress
import os
from collections.abc import Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import urlsplit

import httpx
import typer
from pydantic import TypeAdapter, ValidationError

from lemur.accounts.schemas import TeamOut
from lemur.authorities.schemas import AuthorityOut
from lemur.cli.context import load_settings
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

TIMEOUT_SECONDS = 60.0

URL = typer.Option(
    None,
    "--url",
    help="Lemur server (default: $LEMUR_URL, else http://$LEMUR_HOST:$LEMUR_PORT as for "
    "`lemur serve`, i.e. http://127.0.0.1:8000)",
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

T = TypeVar("T")
U = TypeVar("U")


class Unreachable(LemurError):
    """No HTTP answer from the server (refused, timed out, DNS failure)."""

    status = 503
    default_code = "lemur_unreachable"


class ServerError(LemurError):
    """The server answered with a status the CLI has no better meaning for (5xx, 429), or
    with a body that is not what the API's schemas describe."""

    default_code = "server_error"


@dataclass(frozen=True)
class Endpoint:
    url: str
    token: str = field(repr=False)
    # Where the URL came from ("--url", "LEMUR_URL", ...): named when nothing answers there.
    source: str = "--url"


def _client_host(host: str) -> str:
    """The address a client on this machine uses for a server bound to ``host``: a
    wildcard bind (0.0.0.0, ::) is reached on loopback; IPv6 literals get brackets."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host
    if address.is_unspecified:
        address = ipaddress.ip_address("::1" if address.version == 6 else "127.0.0.1")
    return f"[{address}]" if address.version == 6 else str(address)


def default_url() -> tuple[str, str]:
    """The server URL and where it came from: LEMUR_URL, else the address ``lemur serve``
    would listen on (LEMUR_HOST, LEMUR_PORT, the configuration file, the defaults)."""
    named = os.environ.get("LEMUR_URL", "").strip()
    if named:
        return named, "LEMUR_URL"
    settings = load_settings()
    return f"http://{_client_host(settings.host)}:{settings.port}", "LEMUR_HOST/LEMUR_PORT"


def endpoint(url: str | None, token: str | None) -> Endpoint:
    """The server and token from the options, else the environment; checked before use.

    Raises ConfigurationError for a URL that is not http(s), AuthenticationRequired when no
    usable token is given (without ever repeating the token)."""
    source = "--url"
    if not url:
        url, source = default_url()
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(
            f"{source} must be an http:// or https:// URL such as http://127.0.0.1:8000, "
            f"got '{url}'",
            code="invalid_url",
            field="url",
        )
    if parts.username or parts.password:
        raise ConfigurationError(
            f"{source} must not contain credentials; give the API token in LEMUR_TOKEN",
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
    return Endpoint(url, token, source)


def api_error(response: httpx.Response, url: str) -> LemurError:
    """The LemurError for an error response: the API's envelope when it sent one, its
    message prefixed with the server that answered."""
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
        return cls(f"Lemur at {url} answered HTTP {status} {reason}", code=f"http_{status}")
    return cls(f"Lemur at {url}: {message}", code=code, field=str(at) if at else None)


@functools.cache
def _adapter(shape: Any) -> TypeAdapter[Any]:
    return TypeAdapter(shape)


class Named(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=Named)


class LemurClient:
    """A synchronous client for one server and token. Use as a context manager."""

    def __init__(self, where: Endpoint, *, transport: httpx.BaseTransport | None = None) -> None:
        self.url = where.url
        self.source = where.source
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

    def _unreachable(self, what: str) -> Unreachable:
        return Unreachable(
            f"cannot reach Lemur at {self.url}{what}: is `lemur serve` running? "
            f"(the URL came from {self.source}; set LEMUR_URL or pass --url for another server)"
        )

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
            raise self._unreachable("") from exc
        except httpx.TimeoutException as exc:
            raise self._unreachable(f" (no answer within {TIMEOUT_SECONDS:.0f} s)") from exc
        except httpx.TransportError as exc:
            raise self._unreachable(f" ({type(exc).__name__})") from exc
        if response.status_code >= 300:
            raise api_error(response, self.url)
        return response

    def parse(self, response: httpx.Response, shape: type[T]) -> T:
        """The answer as ``shape`` (an API output schema, or a list of one)."""
        try:
            value: T = _adapter(cast(Hashable, shape)).validate_json(response.content)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the body"
            raise ServerError(
                f"Lemur at {self.url} answered {response.request.method} "
                f"{response.request.url.path} with something this CLI does not understand "
                f"({where}: {first['msg']}); is it a Lemur server of the same version?",
                code="unexpected_answer",
            ) from exc
        return value

    def get(self, path: str, shape: type[T], **params: Any) -> T:
        return self.parse(self.request("GET", path, params=params), shape)

    def post(self, path: str, body: Any, shape: type[T]) -> T:
        return self.parse(self.request("POST", path, body=body), shape)

    def post_either(self, path: str, body: Any, created: type[T], accepted: type[U]) -> T | U:
        """POST answered with ``created`` (201), or ``accepted`` (202: a request the server
        finishes later)."""
        response = self.request("POST", path, body=body)
        if response.status_code == 202:
            return self.parse(response, accepted)
        return self.parse(response, created)

    def patch(self, path: str, body: Any, shape: type[T]) -> T:
        return self.parse(self.request("PATCH", path, body=body), shape)

    # -- names to ids ------------------------------------------------------------------------

    def team(self, value: str) -> TeamOut:
        """The team named ``value`` (or with that id). NotFound lists the teams there are."""
        teams = self.get("/api/v1/teams", list[TeamOut])
        return self.pick(teams, value, what="team", option="--team")

    def authority(self, value: str, *, option: str = "--authority") -> AuthorityOut:
        """The authority named ``value`` (or with that id)."""
        rows = self.get("/api/v1/authorities", list[AuthorityOut])
        return self.pick(rows, value, what="authority", option=option)

    def pick(self, rows: Sequence[N], value: str, *, what: str, option: str) -> N:
        wanted = value.strip()
        for row in rows:
            if row.name == wanted:
                return row
        if wanted.isdigit():
            for row in rows:
                if row.id == int(wanted):
                    return row
        known = ", ".join(sorted(r.name for r in rows)) or "none"
        raise NotFound(
            f"no {what} named '{wanted}' at {self.url} (known: {known})",
            code=f"{what}_not_found",
            field=option.lstrip("-"),
        )


@contextmanager
def connect(url: str | None, token: str | None) -> Iterator[LemurClient]:
    with LemurClient(endpoint(url, token)) as client:
        yield client
