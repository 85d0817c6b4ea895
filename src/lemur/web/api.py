"""Dependencies shared by every router: the container, sessions, the caller.

Authentication: ``Authorization: Bearer lmr_...`` for automation, or the browser's session
cookie. A cookie-authenticated request that changes state must carry the CSRF token (form
field ``csrf_token`` in the UI, header ``X-CSRF-Token`` for scripts in the page).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from lemur.accounts.login import authenticate_session, csrf_valid
from lemur.accounts.tokens import authenticate_token, token_needs_touch, touch_token
from lemur.authz import Action, Principal, authorize
from lemur.container import Container
from lemur.db import UnitOfWork
from lemur.errors import AuthenticationRequired, InvalidInput, PermissionDenied
from lemur.logs import set_principal
from lemur.services import Services

SESSION_COOKIE = "lemur_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What a session whose one-time password is still unchanged may reach in the API (the
# pages allow /password and /logout, src/lemur/ui/api.py).
PASSWORD_CHANGE = frozenset({("POST", "/api/v1/me/password")})


# The dependencies are ``async def``: FastAPI runs a plain ``def`` dependency in the thread
# pool, a hand-over that costs more than what these do (authentication included: one
# indexed lookup; docs/decisions/0007).


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


async def read_session(container: Container = Depends(get_container)) -> AsyncIterator[Session]:
    """The request's read session, shared by authentication and the handler (which may use
    it from a pool thread). Opening a session does no I/O and closing one ends a read
    transaction and returns the connection to the pool."""
    with container.db.read() as session:
        yield session


def write_session(container: Container = Depends(get_container)) -> Iterator[Session]:
    with container.db.write() as session:
        yield session


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _from_bearer(request: Request, container: Container, session: Session, value: str) -> Principal:
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationRequired(
            "use 'Authorization: Bearer <token>' with an API token", code="unsupported_auth_scheme"
        )
    address = client_address(request)
    principal, use = authenticate_token(
        session, token.strip(), clock=container.clock, client_address=address
    )
    if token_needs_touch(use, clock=container.clock):
        with UnitOfWork(container.db) as uow:
            touch_token(uow, use, clock=container.clock, client_address=address)
    if (
        request.method not in SAFE_METHODS
        and principal.token_scope is not None
        and principal.token_scope.value == "read"
    ):
        raise PermissionDenied(
            "this API token is read-only; create a token with scope 'write'",
            code="token_scope_insufficient",
        )
    return principal


def _from_cookie(
    request: Request, container: Container, session: Session, cookie: str
) -> Principal:
    found = authenticate_session(
        session, cookie, clock=container.clock, client_address=client_address(request)
    )
    if found is None:
        raise AuthenticationRequired(
            "your session has expired; log in again", code="session_expired"
        )
    principal, user = found
    if user.must_change_password and (request.method, request.url.path) not in PASSWORD_CHANGE:
        # Someone else has seen a one-time password (the administrator who set it, the
        # console of `lemur init`): until its owner replaces it, a session made with it
        # can do nothing else. API tokens are not affected.
        raise PermissionDenied(
            "change your one-time password first (POST /api/v1/me/password or the /password page)",
            code="password_change_required",
        )
    if request.method not in SAFE_METHODS and not csrf_valid(
        container.session_secret, cookie, request.headers.get("x-csrf-token")
    ):
        raise PermissionDenied("missing or wrong CSRF token", code="csrf_failed")
    return principal


async def current_principal(
    request: Request,
    container: Container = Depends(get_container),
    session: Session = Depends(read_session),
) -> Principal:
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    if header:
        principal = _from_bearer(request, container, session, header)
    elif cookie:
        principal = _from_cookie(request, container, session, cookie)
    else:
        raise AuthenticationRequired("authentication required: send an API token or log in")
    request.state.principal = principal
    set_principal(principal.actor_name)
    return principal


def require(action: Action) -> Callable[..., Awaitable[Principal]]:
    """A dependency that authenticates the caller and checks a global action.

    The action is attached to the function so the authorization-matrix test can read
    which action guards each route."""

    async def dependency(principal: Principal = Depends(current_principal)) -> Principal:
        authorize(principal, action)
        return principal

    dependency.lemur_action = action  # type: ignore[attr-defined]
    return dependency


def services_for(action: Action) -> Callable[..., Awaitable[Services]]:
    """A dependency: the services of a caller allowed to do ``action`` (checked by
    :func:`require`), reading through the request's session."""

    async def dependency(
        principal: Principal = Depends(require(action)),
        session: Session = Depends(read_session),
        container: Container = Depends(get_container),
    ) -> Services:
        return Services(container, principal, read=session)

    return dependency


def search_text(value: str | None, *, field: str) -> str | None:
    """A text search filter as given, without surrounding spaces. Refuses one that is empty
    or only spaces: ignoring it (or matching it) would answer every row, which is never what
    was asked. The one rule for every list endpoint's text filters."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        raise InvalidInput(
            f"{field} is empty or only spaces: leave it out, or give something to search for",
            code="empty_filter",
            field=field,
        )
    return text
