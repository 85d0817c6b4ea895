"""Users (admin and security read them; admins change them): the list, a new user, a
user's page (role, disable or enable, reset the password).

A new user and a password reset get a one-time password. It is shown once, on the page
that answers the post itself (no redirect: it is never stored to be shown later), and a
reload of that page goes to the user instead of making another one (``Visit.once``'s
``then``). The user must change it when they first log in.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.accounts.models import Role
from lemur.accounts.schemas import UserCreate, UserUpdate
from lemur.authz import Action, authorize
from lemur.errors import LemurError
from lemur.ids import PathId
from lemur.ui.pages import FormErrors, FormInvalid, Posted, SignedIn, Visit, parse

router = APIRouter()
ROLES = [(r.value, r.value) for r in Role]


@router.get("/users", response_class=HTMLResponse)
def users(visit: SignedIn) -> Response:
    authorize(visit.principal, Action.USER_READ)
    with visit.services() as services:
        found = services.accounts().list_users()  # teams loaded with them: no query per user
    return visit.render("users/list.html", users=found, may_manage=visit.may(Action.USER_MANAGE))


@router.get("/users/new", response_class=HTMLResponse)
def new_user(visit: SignedIn) -> Response:
    authorize(visit.principal, Action.USER_MANAGE)
    return visit.render("users/new.html", roles=ROLES, values={"role": Role.MEMBER.value})


@router.post("/users/new", response_class=HTMLResponse)
def create_user(visit: SignedIn, form: Posted) -> Response:
    authorize(visit.principal, Action.USER_MANAGE)

    def work() -> Response:
        try:
            # No password field: the new user gets a one-time password.
            body = parse(UserCreate, form, extra={"password": None})
            with visit.services() as services:
                user, password = services.accounts().create_user(
                    body.username,
                    role=body.role,
                    display_name=body.display_name,
                    email=body.email or None,
                )
        except FormInvalid as exc:
            return visit.render(
                "users/new.html", status=422, roles=ROLES, errors=exc.errors, values=form.values
            )
        except LemurError as exc:
            return visit.render(
                "users/new.html",
                status=exc.status,
                roles=ROLES,
                errors=FormErrors.of_error(exc),
                values=form.values,
            )
        return visit.render("users/password.html", subject=user, password=password, created=True)

    return visit.once(form, work, then="/users")


def _user_page(
    visit: Visit, user_id: int, *, status: int = 200, errors: FormErrors | None = None
) -> Response:
    with visit.services() as services:
        user = services.accounts().get_user(user_id)
    return visit.render(
        "users/detail.html",
        status=status,
        subject=user,
        roles=ROLES,
        may_manage=visit.may(Action.USER_MANAGE),
        is_self=user.id == visit.user.id,
        errors=errors or FormErrors(),
        values={"role": user.role.value},
    )


@router.get("/users/{user_id:int}", response_class=HTMLResponse)
def user(visit: SignedIn, user_id: PathId) -> Response:
    authorize(visit.principal, Action.USER_READ)
    return _user_page(visit, user_id)


@router.post("/users/{user_id:int}", response_class=HTMLResponse)
def update_user(visit: SignedIn, form: Posted, user_id: PathId) -> Response:
    """The role form and the disable/enable buttons: the API's UserUpdate, what is sent."""
    authorize(visit.principal, Action.USER_MANAGE)

    def work() -> Response:
        try:
            body = parse(UserUpdate, form)
            with visit.services() as services:
                accounts = services.accounts()
                before = accounts.get_user(user_id)
                was_active = before.is_active
                after = accounts.update_user(before, role=body.role, disabled=body.disabled)
        except FormInvalid as exc:
            return _user_page(visit, user_id, status=422, errors=exc.errors)
        except LemurError as exc:
            if exc.field == "user_id" and exc.status == 404:
                raise
            return _user_page(visit, user_id, status=exc.status, errors=FormErrors.of_error(exc))
        if after.is_active != was_active:
            notice = f"{after.username} was {'enabled' if after.is_active else 'disabled'}."
        else:
            notice = f"{after.username} now has the role {after.role.value}."
        return visit.redirect(f"/users/{user_id}", notice=notice)

    return visit.once(form, work)


@router.post("/users/{user_id:int}/reset-password", response_class=HTMLResponse)
def reset_password(visit: SignedIn, form: Posted, user_id: PathId) -> Response:
    authorize(visit.principal, Action.USER_MANAGE)

    def work() -> Response:
        with visit.services() as services:
            accounts = services.accounts()
            found = accounts.get_user(user_id)
            password = accounts.reset_password(found)
        return visit.render("users/password.html", subject=found, password=password, created=False)

    return visit.once(form, work, then=f"/users/{user_id}")
