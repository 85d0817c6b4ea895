"""Pages: login, home, change password, logout. Every form post carries a CSRF token:
before login it is bound to a random pre-session cookie, after login to the session."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from lemur.accounts.login import (
    DEVICE_COOKIE_LIFETIME,
    authenticate_session,
    csrf_token,
    csrf_valid,
)
from lemur.accounts.models import User
from lemur.authz import Principal, public_principal
from lemur.container import Container
from lemur.errors import LemurError, TooManyRequests
from lemur.logs import set_principal
from lemur.services import Services
from lemur.text import Line, PasswordLine
from lemur.web.api import SESSION_COOKIE, client_address, get_container

PRE_SESSION_COOKIE = "lemur_csrf"
# Marks a browser that has logged in to an account before (login throttling, accounts/login).
DEVICE_COOKIE = "lemur_device"
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)
# Messages shown once after a redirect; the query names one, never carries its text.
NOTICES = {"password-changed": "Your password was changed."}
# Form fields as Annotated[kind, Form(...)]: given as a default (``x: Line = Form()``),
# FastAPI drops the text rule's validator.
CSRFField = Annotated[Line, Form(alias="csrf_token", max_length=128)]


def _page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("messages", [])
    context.setdefault("user", None)
    response = templates.TemplateResponse(request, name, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _set_cookie(
    response: Response, container: Container, name: str, value: str, *, max_age: int | None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=container.settings.secure_cookies,
        path="/",
    )


def _signed_in(request: Request, container: Container) -> tuple[Principal, User, str] | None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    with container.db.read() as session:
        found = authenticate_session(
            session, cookie, clock=container.clock, client_address=client_address(request)
        )
        if found is None:
            return None
        principal, user = found
        set_principal(principal.actor_name)
        _ = [m.team.name for m in user.memberships]  # load for the template
    return principal, user, cookie


def _login_page(
    request: Request,
    container: Container,
    *,
    status: int = 200,
    error: str | None = None,
    username: str = "",
) -> HTMLResponse:
    nonce = request.cookies.get(PRE_SESSION_COOKIE) or secrets.token_urlsafe(24)
    response = _page(
        request,
        "login.html",
        status,
        csrf_token=csrf_token(container.session_secret, f"login:{nonce}"),
        error=error,
        username=username,
    )
    _set_cookie(response, container, PRE_SESSION_COOKIE, nonce, max_age=3600)
    return response


def _forbidden_csrf(request: Request) -> HTMLResponse:
    return _page(
        request,
        "error.html",
        403,
        heading="This form has expired",
        error="The form was missing its security token (CSRF). Reload the page and try again.",
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, container: Container = Depends(get_container)) -> Response:
    signed_in = _signed_in(request, container)
    if signed_in:
        target = "/password" if signed_in[1].must_change_password else "/"
        return RedirectResponse(target, status_code=303)
    return _login_page(request, container)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[Line, Form(max_length=200)] = "",
    password: Annotated[PasswordLine, Form(max_length=1024)] = "",
    csrf_token_field: CSRFField = "",
    container: Container = Depends(get_container),
) -> Response:
    nonce = request.cookies.get(PRE_SESSION_COOKIE, "")
    if not nonce or not csrf_valid(container.session_secret, f"login:{nonce}", csrf_token_field):
        return _forbidden_csrf(request)
    settings = container.settings
    try:
        with Services(container, public_principal()) as services:
            result = services.login().login(
                username,
                password,
                client_address=client_address(request),
                device=request.cookies.get(DEVICE_COOKIE),
            )
    except LemurError as exc:
        page = _login_page(
            request, container, status=exc.status, error=exc.message, username=username[:64]
        )
        if isinstance(exc, TooManyRequests):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    target = "/password" if result.user.must_change_password else "/"
    response = RedirectResponse(target, status_code=303)
    _set_cookie(
        response,
        container,
        SESSION_COOKIE,
        result.session_token,
        max_age=settings.session_lifetime_minutes * 60,
    )
    _set_cookie(
        response,
        container,
        DEVICE_COOKIE,
        result.device_cookie,
        max_age=int(DEVICE_COOKIE_LIFETIME.total_seconds()),
    )
    response.delete_cookie(PRE_SESSION_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(
    request: Request,
    csrf_token_field: CSRFField = "",
    container: Container = Depends(get_container),
) -> Response:
    signed_in = _signed_in(request, container)
    if signed_in is None:
        return RedirectResponse("/login", status_code=303)
    principal, _user, cookie = signed_in
    if not csrf_valid(container.session_secret, cookie, csrf_token_field):
        return _forbidden_csrf(request)
    with Services(container, principal) as services:
        services.login().logout(principal, cookie)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, container: Container = Depends(get_container)) -> Response:
    signed_in = _signed_in(request, container)
    if signed_in is None:
        return RedirectResponse("/login", status_code=303)
    _principal, user, cookie = signed_in
    if user.must_change_password:
        # Until the one-time password is replaced only /password and /logout are open.
        return RedirectResponse("/password", status_code=303)
    teams = sorted((m.team for m in user.memberships), key=lambda t: t.name)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    return _page(
        request,
        "home.html",
        user=user,
        teams=teams,
        csrf_token=csrf_token(container.session_secret, cookie),
        messages=[notice] if notice else [],
    )


@router.get("/password", response_class=HTMLResponse)
def password_form(request: Request, container: Container = Depends(get_container)) -> Response:
    signed_in = _signed_in(request, container)
    if signed_in is None:
        return RedirectResponse("/login", status_code=303)
    _principal, user, cookie = signed_in
    return _page(
        request, "password.html", user=user, csrf_token=csrf_token(container.session_secret, cookie)
    )


@router.post("/password", response_class=HTMLResponse)
def change_password(
    request: Request,
    current_password: Annotated[PasswordLine, Form(max_length=1024)] = "",
    new_password: Annotated[PasswordLine, Form(max_length=1024)] = "",
    confirm_password: Annotated[PasswordLine, Form(max_length=1024)] = "",
    csrf_token_field: CSRFField = "",
    container: Container = Depends(get_container),
) -> Response:
    signed_in = _signed_in(request, container)
    if signed_in is None:
        return RedirectResponse("/login", status_code=303)
    principal, user, cookie = signed_in
    token = csrf_token(container.session_secret, cookie)
    if not csrf_valid(container.session_secret, cookie, csrf_token_field):
        return _forbidden_csrf(request)
    if confirm_password != new_password:
        return _page(
            request,
            "password.html",
            422,
            user=user,
            csrf_token=token,
            error="The two new passwords differ; type the same new password in both fields.",
        )
    with Services(container, principal) as services:
        service = services.accounts()
        fresh = service.get_user(user.id)
        try:
            service.change_own_password(fresh, current=current_password, new=new_password)
        except LemurError as exc:
            return _page(
                request, "password.html", exc.status, user=user, csrf_token=token, error=exc.message
            )
    # Post/Redirect/Get: reloading the home page must not post the form again.
    return RedirectResponse("/?notice=password-changed", status_code=303)
