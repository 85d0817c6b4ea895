"""Teams: the list with member counts, a new team, a team's members (add, remove).

Reads need TEAM_READ (everyone), changes TEAM_MANAGE (admins). A team's renewal policy
overrides are shown; the API offers no way to change them yet, so neither does the page.
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from lemur.accounts.models import Team, User
from lemur.accounts.schemas import MemberAdd, TeamCreate
from lemur.authz import Action, authorize
from lemur.errors import LemurError, NotFound
from lemur.ids import PathId
from lemur.ui.pages import FormErrors, FormInvalid, Posted, SignedIn, Visit, parse

router = APIRouter()


@router.get("/teams", response_class=HTMLResponse)
def teams(visit: SignedIn) -> Response:
    authorize(visit.principal, Action.TEAM_READ)
    with visit.services() as services:
        # One statement for the teams, one for their members: no query per team.
        found = services.accounts().list_teams()
        rows = [(team, len(team.members)) for team in found]
    return visit.render("teams/list.html", teams=rows, may_manage=visit.may(Action.TEAM_MANAGE))


@router.get("/teams/new", response_class=HTMLResponse)
def new_team(visit: SignedIn) -> Response:
    authorize(visit.principal, Action.TEAM_MANAGE)
    return visit.render("teams/new.html")


@router.post("/teams/new", response_class=HTMLResponse)
def create_team(visit: SignedIn, form: Posted) -> Response:
    authorize(visit.principal, Action.TEAM_MANAGE)

    def work() -> Response:
        try:
            body = parse(TeamCreate, form)
            with visit.services() as services:
                team = services.accounts().create_team(body.name, description=body.description)
        except FormInvalid as exc:
            return visit.render("teams/new.html", status=422, errors=exc.errors, values=form.values)
        except LemurError as exc:
            return visit.render(
                "teams/new.html",
                status=exc.status,
                errors=FormErrors.of_error(exc),
                values=form.values,
            )
        return visit.redirect(f"/teams/{team.id}", notice=f"Team {team.name} was created.")

    return visit.once(form, work)


def _team_page(
    visit: Visit,
    team_id: int,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    may_manage = visit.may(Action.TEAM_MANAGE)
    with visit.services() as services:
        accounts = services.accounts()
        team = accounts.get_team(team_id)
        members = sorted(team.members, key=lambda m: m.user.username)
        candidates: Sequence[User] = ()
        if may_manage and visit.may(Action.USER_READ):
            member_ids = {m.user_id for m in members}
            candidates = [u for u in accounts.list_users() if u.id not in member_ids]
    return visit.render(
        "teams/detail.html",
        status=status,
        team=team,
        members=members,
        candidates=candidates,
        may_manage=may_manage,
        may_read_users=visit.may(Action.USER_READ),
        errors=errors or FormErrors(),
        values=values or {},
    )


@router.get("/teams/{team_id:int}", response_class=HTMLResponse)
def team(visit: SignedIn, team_id: PathId) -> Response:
    authorize(visit.principal, Action.TEAM_READ)
    return _team_page(visit, team_id)


@router.post("/teams/{team_id:int}/members", response_class=HTMLResponse)
def add_member(visit: SignedIn, form: Posted, team_id: PathId) -> Response:
    authorize(visit.principal, Action.TEAM_MANAGE)

    def work() -> Response:
        try:
            body = parse(MemberAdd, form)
            with visit.services() as services:
                accounts = services.accounts()
                found = accounts.get_team(team_id)
                user = accounts.find_user(body.username)
                accounts.add_member(found, user)
        except FormInvalid as exc:
            return _team_page(visit, team_id, status=422, errors=exc.errors, values=form.values)
        except LemurError as exc:
            if exc.field == "team_id":
                raise
            return _team_page(
                visit,
                team_id,
                status=exc.status,
                errors=FormErrors.of_error(exc),
                values=form.values,
            )
        return visit.redirect(
            f"/teams/{team_id}", notice=f"{user.username} was added to {found.name}."
        )

    return visit.once(form, work)


def _membership(visit: Visit, team_id: int, user_id: int) -> tuple[Team, User]:
    """The team and the member, or NotFound (either gone, or not a member)."""
    with visit.services() as services:
        found = services.accounts().get_team(team_id)
        for member in found.members:
            if member.user_id == user_id:
                return found, member.user
    raise NotFound(
        f"user {user_id} is not a member of this team", code="not_a_member", field="user_id"
    )


@router.get("/teams/{team_id:int}/members/{user_id:int}/remove", response_class=HTMLResponse)
def confirm_remove(visit: SignedIn, team_id: PathId, user_id: PathId) -> Response:
    """Asks before removing (works without JavaScript)."""
    authorize(visit.principal, Action.TEAM_MANAGE)
    found, user = _membership(visit, team_id, user_id)
    return visit.render("teams/remove.html", team=found, member=user)


@router.post("/teams/{team_id:int}/members/{user_id:int}/remove", response_class=HTMLResponse)
def remove_member(visit: SignedIn, form: Posted, team_id: PathId, user_id: PathId) -> Response:
    authorize(visit.principal, Action.TEAM_MANAGE)

    def work() -> Response:
        with visit.services() as services:
            accounts = services.accounts()
            found = accounts.get_team(team_id)
            user = accounts.get_user(user_id)
            accounts.remove_member(found, user)
        return visit.redirect(
            f"/teams/{team_id}", notice=f"{user.username} was removed from {found.name}."
        )

    return visit.once(form, work)
