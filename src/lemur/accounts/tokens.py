"""API tokens: ``lmr_<public id>_<secret>``, shown once, stored as SHA-256 of the secret.

The secret has 256 bits of entropy, so a fast hash is enough (a slow password hash would
only cost every API call time); the public id finds the row without a scan.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import String, Table, bindparam, func, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from lemur.accounts.models import ApiToken, TeamMember, TokenScope, User
from lemur.audit.service import AuditLog
from lemur.authz import Principal
from lemur.clock import Clock
from lemur.db import UnitOfWork
from lemur.errors import AuthenticationRequired, Conflict, InvalidInput, NotFound
from lemur.text import require_line

PREFIX = "lmr"
# last_used_at is written at most this often per token, so reads stay reads.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str]:
    # The public id is hex; the secret is url-safe base64 and may itself contain "_".
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or not parts[1] or not parts[2]:
        raise AuthenticationRequired(
            "the API token is malformed: expected lmr_<id>_<secret>", code="token_malformed"
        )
    return parts[1], parts[2]


class TokenService:
    def __init__(self, uow: UnitOfWork, *, clock: Clock, max_lifetime_days: int) -> None:
        self._uow = uow
        self._clock = clock
        self._max_lifetime = dt.timedelta(days=max_lifetime_days)

    def create(
        self,
        principal: Principal,
        *,
        name: str,
        scope: TokenScope,
        expires_in_days: int,
    ) -> tuple[ApiToken, str]:
        """Create a token for the principal's own account; the plaintext is returned once."""
        if principal.user_id is None:
            raise InvalidInput(
                "tokens belong to users; pass --user", code="token_needs_user", field="user"
            )
        require_line(name, field="name")  # the CLI passes names straight here
        if not name.strip() or len(name) > 100:
            raise InvalidInput(
                "token name must be 1-100 characters", code="invalid_token_name", field="name"
            )
        # Compared as numbers first: a huge count of days overflows timedelta.
        if not 1 <= expires_in_days <= self._max_lifetime.days:
            raise InvalidInput(
                f"expires_in_days must be between 1 and {self._max_lifetime.days}",
                code="invalid_token_lifetime",
                field="expires_in_days",
            )
        public_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        now = self._clock.now()
        with self._uow.write() as tx:
            taken = tx.session.scalar(
                select(func.count()).where(
                    ApiToken.user_id == principal.user_id, ApiToken.name == name
                )
            )
            if taken:
                raise Conflict(
                    f"you already have a token named '{name}'", code="token_exists", field="name"
                )
            token = ApiToken(
                public_id=public_id,
                secret_hash=_digest(secret),
                user_id=principal.user_id,
                name=name,
                scope=scope,
                created_at=now,
                expires_at=now + dt.timedelta(days=expires_in_days),
            )
            tx.session.add(token)
            tx.session.flush()
            AuditLog(tx.session, self._clock).record(
                principal.audit_actor,
                "token.create",
                target_type="token",
                target_id=token.id,
                details={"name": name, "scope": scope.value, "public_id": public_id},
            )
        return token, f"{PREFIX}_{public_id}_{secret}"

    def list_for(self, user_id: int) -> Sequence[ApiToken]:
        return self._uow.read.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        ).all()

    def revoke(self, principal: Principal, token_id: int) -> ApiToken:
        with self._uow.write() as tx:
            token = tx.session.get(ApiToken, token_id)
            if token is None or token.user_id != principal.user_id:
                # Someone else's token is reported as absent: ids are not an oracle.
                raise NotFound(
                    f"you have no token with id {token_id}",
                    code="token_not_found",
                    field="token_id",
                )
            if token.revoked_at is None:
                token.revoked_at = self._clock.now()
                AuditLog(tx.session, self._clock).record(
                    principal.audit_actor,
                    "token.revoke",
                    target_type="token",
                    target_id=token.id,
                    details={"name": token.name, "public_id": token.public_id},
                )
        return token


# Every API request runs this: one prebuilt Core statement (table columns, no ORM) gives
# the token, its owner and the owner's teams (as "1,4,9").
_TOKENS = cast(Table, ApiToken.__table__)
_USERS = cast(Table, User.__table__)
_MEMBERS = cast(Table, TeamMember.__table__)
_TEAM_IDS = (
    select(func.aggregate_strings(sql_cast(_MEMBERS.c.team_id, String), ","))
    .where(_MEMBERS.c.user_id == _USERS.c.id)
    .scalar_subquery()
)
_TOKEN_BY_PUBLIC_ID = (
    select(
        _TOKENS.c.id,
        _TOKENS.c.secret_hash,
        _TOKENS.c.scope,
        _TOKENS.c.expires_at,
        _TOKENS.c.revoked_at,
        _TOKENS.c.last_used_at,
        _USERS.c.id,
        _USERS.c.username,
        _USERS.c.role,
        _USERS.c.disabled_at,
        _TEAM_IDS,
    )
    .join(_USERS, _USERS.c.id == _TOKENS.c.user_id)
    .where(_TOKENS.c.public_id == bindparam("public_id"))
)


@dataclass(frozen=True)
class TokenUse:
    """The token a request authenticated with, as touch_token needs it."""

    token_id: int
    last_used_at: dt.datetime | None


def authenticate_token(
    session: Session, token: str, *, clock: Clock, client_address: str | None
) -> tuple[Principal, TokenUse]:
    """Resolve a bearer token to a principal, or raise AuthenticationRequired."""
    public_id, secret = split_token(token)
    row = session.connection().execute(_TOKEN_BY_PUBLIC_ID, {"public_id": public_id}).one_or_none()
    if row is None or not hmac.compare_digest(row[1], _digest(secret)):
        raise AuthenticationRequired("the API token is not valid", code="token_invalid")
    (token_id, _, scope, expires_at, revoked_at, last_used_at) = row[:6]
    user_id, username, role, disabled_at, team_ids = row[6:]
    if revoked_at is not None:
        raise AuthenticationRequired("the API token was revoked", code="token_revoked")
    if expires_at <= clock.now():
        raise AuthenticationRequired(
            f"the API token expired on {expires_at:%Y-%m-%d}; create a new one",
            code="token_expired",
        )
    if disabled_at is not None:
        raise AuthenticationRequired(
            "the account that owns this token is disabled", code="account_disabled"
        )
    principal = Principal(
        user_id=user_id,
        username=username,
        role=role,
        team_ids=frozenset(int(t) for t in team_ids.split(",")) if team_ids else frozenset(),
        via="token",
        token_scope=scope,
        client_address=client_address,
    )
    return principal, TokenUse(token_id, last_used_at)


def token_needs_touch(use: TokenUse, *, clock: Clock) -> bool:
    """Whether to record this use: last use is kept at LAST_USED_RESOLUTION."""
    return use.last_used_at is None or clock.now() - use.last_used_at >= LAST_USED_RESOLUTION


def touch_token(
    uow: UnitOfWork, use: TokenUse, *, clock: Clock, client_address: str | None
) -> None:
    """Record last use (a separate short write; callers check token_needs_touch first)."""
    with uow.write() as tx:
        tx.session.execute(
            update(ApiToken)
            .where(ApiToken.id == use.token_id)
            .values(last_used_at=clock.now(), last_used_address=client_address)
        )
