from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from lemur.accounts.models import ApiToken, Role, Team, TokenScope, User
from lemur.bounds import MAX_TOKEN_LIFETIME_DAYS
from lemur.text import Line, PasswordLine, Text


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TeamRef(BaseModel):
    id: int
    name: str


class UserOut(BaseModel):
    id: int
    username: str
    display_name: str
    email: str | None
    role: Role
    disabled: bool
    must_change_password: bool
    created_at: dt.datetime
    teams: list[TeamRef]

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            username=user.username,
            display_name=user.display_name,
            email=user.email,
            role=user.role,
            disabled=not user.is_active,
            must_change_password=user.must_change_password,
            created_at=user.created_at,
            teams=sorted(
                (TeamRef(id=m.team.id, name=m.team.name) for m in user.memberships),
                key=lambda t: t.name,
            ),
        )


class UserCreate(Strict):
    # Length is checked with the other naming rules, so the error can suggest a fix; the
    # body size limit bounds the input.
    username: Line = Field(description="1-64 of a-z 0-9 . _ -, starting with a letter or digit")
    role: Role = Role.MEMBER
    display_name: Line = Field("", max_length=200)
    email: Line | None = Field(None, max_length=254)
    password: PasswordLine | None = Field(None, description="omit to get a one-time password back")


class UserCreated(UserOut):
    one_time_password: str | None


class UserUpdate(Strict):
    role: Role | None = None
    disabled: bool | None = None


class PasswordReset(BaseModel):
    one_time_password: str


class PasswordChange(Strict):
    current_password: PasswordLine = Field(max_length=1024)
    new_password: PasswordLine = Field(max_length=1024)


class MemberOut(BaseModel):
    user_id: int
    username: str
    added_at: dt.datetime


class TeamOut(BaseModel):
    id: int
    name: str
    description: str
    created_at: dt.datetime
    members: list[MemberOut]
    renewal_policy: str | None = Field(
        None, description="overrides the authority's renewal policy (auto|notify); null: inherit"
    )
    renew_before_days: int | None = Field(
        None, description="overrides the renewal window in days; null: inherit"
    )

    @classmethod
    def of(cls, team: Team) -> TeamOut:
        return cls(
            id=team.id,
            name=team.name,
            description=team.description,
            created_at=team.created_at,
            members=sorted(
                (
                    MemberOut(user_id=m.user_id, username=m.user.username, added_at=m.added_at)
                    for m in team.members
                ),
                key=lambda m: m.username,
            ),
            renewal_policy=team.renewal_policy,
            renew_before_days=team.renew_before_days,
        )


class TeamCreate(Strict):
    name: Line = Field(description="1-64 of a-z 0-9 . _ -, starting with a letter or digit")
    description: Text = Field("", max_length=500)


class MemberAdd(Strict):
    username: Line = Field(max_length=64)


class TokenOut(BaseModel):
    id: int
    name: str
    public_id: str
    scope: TokenScope
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    last_used_address: str | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenOut:
        return cls(
            id=token.id,
            name=token.name,
            public_id=token.public_id,
            scope=token.scope,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            last_used_at=token.last_used_at,
            last_used_address=token.last_used_address,
        )


class TokenCreate(Strict):
    name: Line = Field(max_length=100)
    scope: TokenScope = TokenScope.READ
    expires_in_days: int = Field(90, ge=1, le=MAX_TOKEN_LIFETIME_DAYS)


class TokenCreated(TokenOut):
    token: str = Field(description="the secret token; shown only in this response")
