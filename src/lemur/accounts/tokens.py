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

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lemur.accounts.models import ApiToken, TokenScope, User
from lemur.accounts.service import load_principal
from lemur.audit.service import AuditLog
from lemur.authz import Principal
from lemur.clock import Clock
from lemur.errors import AuthenticationRequired, Conflict, InvalidInput, NotFound

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
    def __init__(self, session: Session, *, clock: Clock, max_lifetime_days: int) -> None:
        self._session = session
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
        if not name.strip() or len(name) > 100:
            raise InvalidInput(
                "token name must be 1-100 characters", code="invalid_token_name", field="name"
            )
        lifetime = dt.timedelta(days=expires_in_days)
        if expires_in_days < 1 or lifetime > self._max_lifetime:
            raise InvalidInput(
                f"expires_in_days must be between 1 and {self._max_lifetime.days}",
                code="invalid_token_lifetime",
                field="expires_in_days",
            )
        taken = self._session.scalar(
            select(func.count()).where(ApiToken.user_id == principal.user_id, ApiToken.name == name)
        )
        if taken:
            raise Conflict(
                f"you already have a token named '{name}'", code="token_exists", field="name"
            )
        public_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        now = self._clock.now()
        token = ApiToken(
            public_id=public_id,
            secret_hash=_digest(secret),
            user_id=principal.user_id,
            name=name,
            scope=scope,
            created_at=now,
            expires_at=now + lifetime,
        )
        self._session.add(token)
        self._session.flush()
        AuditLog(self._session, self._clock).record(
            principal.audit_actor,
            "token.create",
            target_type="token",
            target_id=token.id,
            details={"name": name, "scope": scope.value, "public_id": public_id},
        )
        self._session.commit()
        return token, f"{PREFIX}_{public_id}_{secret}"

    def list_for(self, user_id: int) -> Sequence[ApiToken]:
        return self._session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
        ).all()

    def revoke(self, principal: Principal, token_id: int) -> ApiToken:
        token = self._session.get(ApiToken, token_id)
        if token is None or token.user_id != principal.user_id:
            # Someone else's token is reported as absent: ids are not an oracle.
            raise NotFound(
                f"you have no token with id {token_id}", code="token_not_found", field="token_id"
            )
        if token.revoked_at is None:
            token.revoked_at = self._clock.now()
            AuditLog(self._session, self._clock).record(
                principal.audit_actor,
                "token.revoke",
                target_type="token",
                target_id=token.id,
                details={"name": token.name, "public_id": token.public_id},
            )
            self._session.commit()
        return token


def authenticate_token(
    session: Session, token: str, *, clock: Clock, client_address: str | None
) -> tuple[Principal, ApiToken]:
    """Resolve a bearer token to a principal, or raise AuthenticationRequired."""
    public_id, secret = split_token(token)
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.public_id == public_id)
    ).one_or_none()
    if row is None or not hmac.compare_digest(row[0].secret_hash, _digest(secret)):
        raise AuthenticationRequired("the API token is not valid", code="token_invalid")
    api_token, user = row
    now = clock.now()
    if api_token.revoked_at is not None:
        raise AuthenticationRequired("the API token was revoked", code="token_revoked")
    if api_token.expires_at <= now:
        raise AuthenticationRequired(
            f"the API token expired on {api_token.expires_at:%Y-%m-%d}; create a new one",
            code="token_expired",
        )
    if not user.is_active:
        raise AuthenticationRequired(
            "the account that owns this token is disabled", code="account_disabled"
        )
    principal = load_principal(
        session, user, via="token", token_scope=api_token.scope, client_address=client_address
    )
    return principal, api_token


def touch_token(
    session: Session, token: ApiToken, *, clock: Clock, client_address: str | None
) -> None:
    """Record last use, at most once per LAST_USED_RESOLUTION (a separate short write)."""
    now = clock.now()
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_RESOLUTION:
        return
    session.execute(
        update(ApiToken)
        .where(ApiToken.id == token.id)
        .values(last_used_at=now, last_used_address=client_address)
    )
    session.commit()
