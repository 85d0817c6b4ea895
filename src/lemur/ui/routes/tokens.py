"""My API tokens: the list, a new token (its secret shown once), revoking one.

The secret is on the page that answers the post itself, never stored to be shown later;
reloading that page (the browser sends the post again) goes to /tokens and neither shows
the secret nor makes a second token (``Visit.once``'s ``then``).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.accounts.models import ApiToken, TokenScope
from lemur.accounts.schemas import TokenCreate
from lemur.authz import Action, authorize
from lemur.errors import LemurError, NotFound
from lemur.ids import PathId
from lemur.ui.pages import FormErrors, FormInvalid, Posted, SignedIn, Visit, parse

router = APIRouter()
SCOPES = [
    (TokenScope.READ.value, "read: look, change nothing"),
    (TokenScope.WRITE.value, "write: everything your role may do"),
]


def _list_page(
    visit: Visit,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    authorize(visit.principal, Action.SELF_READ)
    with visit.services() as services:
        found = services.tokens().list_for(visit.user.id)
    return visit.render(
        "tokens/list.html",
        status=status,
        tokens=found,
        scopes=SCOPES,
        max_days=visit.container.settings.token_max_lifetime_days,
        may_manage=visit.may(Action.TOKEN_MANAGE_OWN),
        errors=errors or FormErrors(),
        values=values or {"scope": TokenScope.READ.value, "expires_in_days": "90"},
    )


@router.get("/tokens", response_class=HTMLResponse)
def tokens(visit: SignedIn) -> Response:
    return _list_page(visit)


@router.post("/tokens", response_class=HTMLResponse)
def create_token(visit: SignedIn, form: Posted) -> Response:
    authorize(visit.principal, Action.TOKEN_MANAGE_OWN)

    def work() -> Response:
        try:
            body = parse(TokenCreate, form)
            with visit.services() as services:
                token, secret = services.tokens().create(
                    visit.principal,
                    name=body.name,
                    scope=body.scope,
                    expires_in_days=body.expires_in_days,
                )
        except FormInvalid as exc:
            return _list_page(visit, status=422, errors=exc.errors, values=form.values)
        except LemurError as exc:
            return _list_page(
                visit, status=exc.status, errors=FormErrors.of_error(exc), values=form.values
            )
        return visit.render("tokens/created.html", token=token, secret=secret)

    return visit.once(form, work, then="/tokens")


def _own_token(visit: Visit, token_id: int) -> ApiToken:
    with visit.services() as services:
        for token in services.tokens().list_for(visit.user.id):
            if token.id == token_id:
                return token
    # Someone else's token is reported as absent, as the API does.
    raise NotFound(
        f"you have no token with id {token_id}", code="token_not_found", field="token_id"
    )


@router.get("/tokens/{token_id:int}/revoke", response_class=HTMLResponse)
def confirm_revoke(visit: SignedIn, token_id: PathId) -> Response:
    """Asks before revoking (works without JavaScript)."""
    authorize(visit.principal, Action.TOKEN_MANAGE_OWN)
    return visit.render("tokens/revoke.html", token=_own_token(visit, token_id))


@router.post("/tokens/{token_id:int}/revoke", response_class=HTMLResponse)
def revoke_token(visit: SignedIn, form: Posted, token_id: PathId) -> Response:
    authorize(visit.principal, Action.TOKEN_MANAGE_OWN)

    def work() -> Response:
        with visit.services() as services:
            token = services.tokens().revoke(visit.principal, token_id)
        return visit.redirect(
            "/tokens", notice=f"Token {token.name} was revoked: it no longer works."
        )

    return visit.once(form, work)
