"""/api/v1: the caller (me), users, teams and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from sqlalchemy.orm import Session

from lemur.accounts.models import User
from lemur.accounts.schemas import (
    MemberAdd,
    PasswordChange,
    PasswordReset,
    TeamCreate,
    TeamOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserCreate,
    UserCreated,
    UserOut,
    UserUpdate,
)
from lemur.accounts.service import AccountService
from lemur.accounts.tokens import TokenService
from lemur.authz import Action, Principal
from lemur.container import Container
from lemur.ids import PathId
from lemur.services import Services
from lemur.web.api import get_container, read_session, require
from lemur.web.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["accounts"])


def _accounts(session: Session, container: Container, principal: Principal) -> AccountService:
    """Built by the service factory on the request's read session; the service writes in
    its unit of work's own transaction."""
    return Services(container, principal, read=session).accounts()


def _tokens(session: Session, container: Container, principal: Principal) -> TokenService:
    return Services(container, principal, read=session).tokens()


def _me(service: AccountService, principal: Principal) -> User:
    assert principal.user_id is not None
    return service.get_user(principal.user_id)


@router.get("/me", response_model=UserOut)
def get_me(
    principal: Principal = Depends(require(Action.SELF_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> UserOut:
    return UserOut.of(_me(_accounts(session, container, principal), principal))


@router.post("/me/password", status_code=204)
def change_password(
    body: PasswordChange,
    principal: Principal = Depends(require(Action.SELF_UPDATE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> Response:
    service = _accounts(session, container, principal)
    service.change_own_password(
        _me(service, principal), current=body.current_password, new=body.new_password
    )
    return Response(status_code=204)


@router.get("/users", response_model=list[UserOut])
def list_users(
    principal: Principal = Depends(require(Action.USER_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> list[UserOut]:
    return [UserOut.of(u) for u in _accounts(session, container, principal).list_users()]


@router.post("/users", response_model=UserCreated, status_code=201, responses=errors(409))
def create_user(
    body: UserCreate,
    principal: Principal = Depends(require(Action.USER_MANAGE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> UserCreated:
    user, password = _accounts(session, container, principal).create_user(
        body.username,
        role=body.role,
        password=body.password,
        display_name=body.display_name,
        email=body.email,
    )
    return UserCreated(**UserOut.of(user).model_dump(), one_time_password=password)


@router.get("/users/{user_id}", response_model=UserOut, responses=errors(404))
def get_user(
    user_id: PathId,
    principal: Principal = Depends(require(Action.USER_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> UserOut:
    return UserOut.of(_accounts(session, container, principal).get_user(user_id))


@router.patch("/users/{user_id}", response_model=UserOut, responses=errors(404, 409))
def update_user(
    user_id: PathId,
    body: UserUpdate,
    principal: Principal = Depends(require(Action.USER_MANAGE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> UserOut:
    service = _accounts(session, container, principal)
    return UserOut.of(
        service.update_user(service.get_user(user_id), role=body.role, disabled=body.disabled)
    )


@router.post("/users/{user_id}/reset-password", response_model=PasswordReset, responses=errors(404))
def reset_password(
    user_id: PathId,
    principal: Principal = Depends(require(Action.USER_MANAGE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> PasswordReset:
    service = _accounts(session, container, principal)
    return PasswordReset(one_time_password=service.reset_password(service.get_user(user_id)))


@router.get("/teams", response_model=list[TeamOut])
def list_teams(
    principal: Principal = Depends(require(Action.TEAM_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> list[TeamOut]:
    return [TeamOut.of(t) for t in _accounts(session, container, principal).list_teams()]


@router.post("/teams", response_model=TeamOut, status_code=201, responses=errors(409))
def create_team(
    body: TeamCreate,
    principal: Principal = Depends(require(Action.TEAM_MANAGE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> TeamOut:
    return TeamOut.of(
        _accounts(session, container, principal).create_team(
            body.name, description=body.description
        )
    )


@router.get("/teams/{team_id}", response_model=TeamOut, responses=errors(404))
def get_team(
    team_id: PathId,
    principal: Principal = Depends(require(Action.TEAM_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> TeamOut:
    return TeamOut.of(_accounts(session, container, principal).get_team(team_id))


@router.post(
    "/teams/{team_id}/members", response_model=TeamOut, status_code=201, responses=errors(404, 409)
)
def add_member(
    team_id: PathId,
    body: MemberAdd,
    principal: Principal = Depends(require(Action.TEAM_MANAGE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> TeamOut:
    service = _accounts(session, container, principal)
    team = service.get_team(team_id)
    service.add_member(team, service.find_user(body.username))
    return TeamOut.of(service.get_team(team_id))


@router.delete("/teams/{team_id}/members/{user_id}", status_code=204, responses=errors(404))
def remove_member(
    team_id: PathId,
    user_id: PathId,
    principal: Principal = Depends(require(Action.TEAM_MANAGE)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> Response:
    service = _accounts(session, container, principal)
    service.remove_member(service.get_team(team_id), service.get_user(user_id))
    return Response(status_code=204)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(
    principal: Principal = Depends(require(Action.SELF_READ)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> list[TokenOut]:
    assert principal.user_id is not None
    return [
        TokenOut.of(t) for t in _tokens(session, container, principal).list_for(principal.user_id)
    ]


@router.post("/tokens", response_model=TokenCreated, status_code=201, responses=errors(409))
def create_token(
    body: TokenCreate,
    principal: Principal = Depends(require(Action.TOKEN_MANAGE_OWN)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> TokenCreated:
    token, plaintext = _tokens(session, container, principal).create(
        principal, name=body.name, scope=body.scope, expires_in_days=body.expires_in_days
    )
    return TokenCreated(**TokenOut.of(token).model_dump(), token=plaintext)


@router.delete("/tokens/{token_id}", response_model=TokenOut, responses=errors(404))
def revoke_token(
    token_id: PathId,
    principal: Principal = Depends(require(Action.TOKEN_MANAGE_OWN)),
    session: Session = Depends(read_session),
    container: Container = Depends(get_container),
) -> TokenOut:
    return TokenOut.of(_tokens(session, container, principal).revoke(principal, token_id))
