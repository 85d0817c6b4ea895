"""Log in, log out, change the password. Before login a form's CSRF token is bound to a
random pre-session cookie, after login to the session."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from lemur.accounts.login import DEVICE_COOKIE_LIFETIME, csrf_token, csrf_valid
from lemur.accounts.schemas import PasswordChange
from lemur.authz import public_principal
from lemur.container import Container
from lemur.errors import LemurError, TooManyRequests
from lemur.services import Services
from lemur.text import Line, PasswordLine
from lemur.ui.api import MaybeSignedIn, Posted, SignedIn
from lemur.ui.errors import CSRFFailed
from lemur.ui.forms import FormErrors, FormInvalid, parse
from lemur.ui.visit import render, safe_next, security_headers
from lemur.web.api import SESSION_COOKIE, client_address

PRE_SESSION_COOKIE = "lemur_csrf"
# Marks a browser that has logged in to an account before (login throttling, accounts/login).
DEVICE_COOKIE = "lemur_device"
router = APIRouter()
# Form fields as Annotated[kind, Form(...)]: given as a default (``x: Line = Form()``),
# FastAPI drops the text rule's validator.
CSRFField = Annotated[Line, Form(alias="csrf_token", max_length=128)]


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


def _login_page(
    request: Request,
    *,
    status: int = 200,
    error: str | None = None,
    username: str = "",
    next_url: str = "/",
) -> HTMLResponse:
    container: Container = request.app.state.container
    nonce = request.cookies.get(PRE_SESSION_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status=status,
        csrf_token=csrf_token(container.session_secret, f"login:{nonce}"),
        error=error,
        username=username,
        next_url=next_url,
    )
    _set_cookie(response, container, PRE_SESSION_COOKIE, nonce, max_age=3600)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, visit: MaybeSignedIn, next: str = "/") -> Response:
    if visit is not None:
        target = "/password" if visit.user.must_change_password else safe_next(next)
        return RedirectResponse(target, status_code=303)
    return _login_page(request, next_url=safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[Line, Form(max_length=200)] = "",
    password: Annotated[PasswordLine, Form(max_length=1024)] = "",
    csrf_token_field: CSRFField = "",
    # Any text: safe_next turns whatever is not a local path into "/".
    next_url: Annotated[str, Form(alias="next", max_length=600)] = "/",
) -> Response:
    container: Container = request.app.state.container
    nonce = request.cookies.get(PRE_SESSION_COOKIE, "")
    if not nonce or not csrf_valid(container.session_secret, f"login:{nonce}", csrf_token_field):
        raise CSRFFailed()
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
            request,
            status=exc.status,
            error=exc.message,
            username=username[:64],
            next_url=safe_next(next_url),
        )
        if isinstance(exc, TooManyRequests):
            page.headers["Retry-After"] = str(exc.retry_after)
        return page
    target = "/password" if result.user.must_change_password else safe_next(next_url)
    response = RedirectResponse(target, status_code=303)
    security_headers(response)
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
def logout(visit: SignedIn, _form: Posted) -> Response:
    with visit.services() as services:
        services.login().logout(visit.principal, visit.cookie)
    response = visit.redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/password", response_class=HTMLResponse)
def password_form(visit: SignedIn) -> Response:
    return visit.render("password.html")


@router.post("/password", response_class=HTMLResponse)
def change_password(visit: SignedIn, form: Posted) -> Response:
    try:
        change = parse(PasswordChange, form)
    except FormInvalid as exc:
        return visit.render("password.html", status=422, errors=exc.errors)
    if form.get("confirm_password") != change.new_password:
        errors = FormErrors(
            {"confirm_password": "The two new passwords differ; type the same one in both."}
        )
        return visit.render("password.html", status=422, errors=errors)
    with visit.services() as services:
        service = services.accounts()
        try:
            service.change_own_password(
                service.get_user(visit.user.id),
                current=change.current_password,
                new=change.new_password,
            )
        except LemurError as exc:
            return visit.render("password.html", status=exc.status, errors=FormErrors.of_error(exc))
    # Post/Redirect/Get: reloading the dashboard must not post the form again.
    return visit.redirect("/", notice="Your password was changed.")
