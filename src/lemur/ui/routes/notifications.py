"""Notifications at a glance (admin and security): channels, rules, recent messages with
their state, muted certificates (unmute). Channels and rules have their own pages
(notification_channels, notification_rules)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.authz import Action, authorize
from lemur.errors import InvalidInput
from lemur.ids import PathId
from lemur.notifications.models import MessageState
from lemur.ui.pages import FormErrors, Posted, SignedIn

router = APIRouter()
MESSAGES_PER_PAGE = 20
STATES = [(s.value, s.value) for s in MessageState]


@router.get("/notifications", response_class=HTMLResponse)
def notifications(visit: SignedIn, state: str = "", cursor: str = "") -> Response:
    authorize(visit.principal, Action.NOTIFICATION_READ)
    errors = FormErrors()
    if state and state not in {s.value for s in MessageState}:
        errors["state"] = f"Choose one of: {', '.join(s.value for s in MessageState)}."
        state = ""
    with visit.services() as services:
        service = services.notifications()
        channels = service.list_channels()
        rules = service.list_rules()
        mutes = service.list_mutes()
        team_names = {t.id: t.name for t in services.accounts().list_teams()}
        try:
            page = service.list_messages(
                state=state or None, limit=MESSAGES_PER_PAGE, cursor=cursor or None
            )
        except InvalidInput as exc:  # a cursor this page did not make
            errors[exc.field or "cursor"] = exc.message
            page = service.list_messages(state=state or None, limit=MESSAGES_PER_PAGE)
    params = {k: v for k, v in (("state", state), ("cursor", cursor)) if v}
    return visit.render(
        "notifications/index.html",
        status=422 if errors else 200,
        channels=channels,
        rules=rules,
        mutes=mutes,
        recent=page.items,
        next_cursor=page.next_cursor,
        team_names=team_names,
        states=STATES,
        params=params,
        may_manage=visit.may(Action.NOTIFICATION_MANAGE),
        errors=errors,
        values={"state": state},
    )


@router.post("/notifications/mutes/{certificate_id:int}/unmute", response_class=HTMLResponse)
def unmute(visit: SignedIn, form: Posted, certificate_id: PathId) -> Response:
    def work() -> Response:
        with visit.services() as services:
            services.notifications().unmute(certificate_id)
        return visit.redirect(
            "/notifications",
            notice=f"Certificate {certificate_id} was unmuted: it gets notices again.",
        )

    return visit.once(form, work)
