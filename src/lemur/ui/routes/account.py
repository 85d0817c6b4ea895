"""My account: who I am (username, name, email, role, teams), my password with
confirmation, a link to my API tokens.

/password stays where it is: the one-time password flow sends a new user there, and it
changes the same password with the same rules (the API's PasswordChange model).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.accounts.schemas import PasswordChange
from lemur.authz import Action, authorize
from lemur.errors import LemurError
from lemur.ui.pages import FormErrors, FormInvalid, Posted, SignedIn, Visit, parse

router = APIRouter()


def _account_page(visit: Visit, *, status: int = 200, errors: FormErrors | None = None) -> Response:
    authorize(visit.principal, Action.SELF_READ)
    with visit.services() as services:
        me = services.accounts().get_user(visit.user.id)
        tokens = services.tokens().list_for(me.id)
    active = [t for t in tokens if t.revoked_at is None and t.expires_at > visit.now]
    return visit.render(
        "account/detail.html",
        status=status,
        me=me,
        teams=sorted((m.team for m in me.memberships), key=lambda t: t.name),
        active_tokens=len(active),
        errors=errors or FormErrors(),
    )


@router.get("/account", response_class=HTMLResponse)
def account(visit: SignedIn) -> Response:
    return _account_page(visit)


@router.post("/account/password", response_class=HTMLResponse)
def change_password(visit: SignedIn, form: Posted) -> Response:
    authorize(visit.principal, Action.SELF_UPDATE)
    try:
        change = parse(PasswordChange, form)
    except FormInvalid as exc:
        return _account_page(visit, status=422, errors=exc.errors)
    if form.get("confirm_password") != change.new_password:
        errors = FormErrors(
            {"confirm_password": "The two new passwords differ; type the same one in both."}
        )
        return _account_page(visit, status=422, errors=errors)
    try:
        with visit.services() as services:
            accounts = services.accounts()
            accounts.change_own_password(
                accounts.get_user(visit.user.id),
                current=change.current_password,
                new=change.new_password,
            )
    except LemurError as exc:
        return _account_page(visit, status=exc.status, errors=FormErrors.of_error(exc))
    return visit.redirect("/account", notice="Your password was changed.")
