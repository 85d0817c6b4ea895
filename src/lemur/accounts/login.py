"""Password login, browser sessions and login throttling.

Throttling counts failures in the database within a sliding window, per account and per
client address, so the limits hold across every server process. A throttled attempt is
refused before the password is checked, so guessing cannot continue while throttled.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from lemur.accounts.models import LoginFailure, User, WebSession
from lemur.accounts.passwords import PasswordHasher
from lemur.accounts.service import load_principal
from lemur.audit.service import Actor, AuditLog
from lemur.authz import Principal
from lemur.clock import Clock
from lemur.db import Database
from lemur.errors import AuthenticationRequired, TooManyRequests

# Any fixed key: it names the advisory lock that serialises login attempts on PostgreSQL.
LOGIN_LOCK = 0x4C454D55


@dataclass(frozen=True)
class ThrottlePolicy:
    max_per_account: int
    max_per_address: int
    window: dt.timedelta


@dataclass(frozen=True)
class LoginResult:
    session_token: str
    user: User
    expires_at: dt.datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginService:
    """Password checks run in a read transaction; only the outcome is written, so a slow
    argon2 verification never holds SQLite's write lock."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        hasher: PasswordHasher,
        policy: ThrottlePolicy,
        session_lifetime: dt.timedelta,
    ) -> None:
        self._db = db
        self._clock = clock
        self._hasher = hasher
        self._policy = policy
        self._lifetime = session_lifetime

    def _check_throttle(self, session: Session, username: str, address: str) -> None:
        since = self._clock.now() - self._policy.window
        for column, value, limit, what in (
            (LoginFailure.username, username, self._policy.max_per_account, "this account"),
            (LoginFailure.client_address, address, self._policy.max_per_address, "your address"),
        ):
            count, oldest = session.execute(
                select(func.count(), func.min(LoginFailure.at)).where(
                    column == value, LoginFailure.at >= since
                )
            ).one()
            if count >= limit:
                retry = int((oldest + self._policy.window - self._clock.now()).total_seconds()) + 1
                raise TooManyRequests(
                    f"too many failed logins for {what}; try again in {max(retry, 1)} seconds",
                    code="login_throttled",
                    retry_after=max(retry, 1),
                )

    def _reserve_attempt(self, username: str, address: str) -> None:
        """Count this attempt as a failure before the password is checked, in the same
        transaction as the throttle check, so that concurrent guesses cannot slip past the
        limit between check and record. A successful login clears the account's failures."""
        throttled: TooManyRequests | None = None
        with self._db.write() as session:
            if self._db.dialect == "postgresql":
                # SQLite's write transaction is already exclusive; PostgreSQL needs a lock.
                session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOGIN_LOCK})
            try:
                self._check_throttle(session, username, address)
            except TooManyRequests as exc:
                throttled = exc
            else:
                session.add(
                    LoginFailure(username=username, client_address=address, at=self._clock.now())
                )
                session.commit()
        if throttled is not None:
            # Audited (someone is guessing) but not counted: counting it would keep
            # extending the lock-out for as long as the guessing goes on.
            self._audit_failure(username, address, "throttled")
            raise throttled

    def _audit_failure(self, username: str, address: str, reason: str) -> None:
        with self._db.write() as session:
            AuditLog(session, self._clock).record(
                Actor(f"user:{username}", address),
                "auth.login",
                target_type="user",
                target_id=username,
                outcome="failure",
                details={"reason": reason},
            )
            session.commit()

    def _fail(
        self, username: str, address: str, reason: str, message: str, code: str
    ) -> AuthenticationRequired:
        self._audit_failure(username, address, reason)
        return AuthenticationRequired(
            message, code=code, field="password" if code == "invalid_credentials" else "username"
        )

    def login(self, username: str, password: str, *, client_address: str) -> LoginResult:
        username = username.strip().lower()[:64]
        self._reserve_attempt(username, client_address)
        with self._db.read() as session:
            user = session.scalar(select(User).where(User.username == username))
        # Unknown user and wrong password are one answer, so usernames cannot be probed;
        # the audit log keeps the difference.
        if not self._hasher.verify(user.password_hash if user else None, password) or user is None:
            reason = "unknown_user" if user is None else "wrong_password"
            raise self._fail(
                username,
                client_address,
                reason,
                "wrong username or password",
                "invalid_credentials",
            )
        if not user.is_active:
            raise self._fail(
                username,
                client_address,
                "disabled",
                "this account is disabled; ask an administrator",
                "account_disabled",
            )
        now = self._clock.now()
        token = secrets.token_urlsafe(32)
        expires = now + self._lifetime
        with self._db.write() as session:
            session.execute(delete(LoginFailure).where(LoginFailure.username == username))
            session.execute(delete(WebSession).where(WebSession.expires_at <= now))
            session.add(
                WebSession(
                    token_hash=_digest(token),
                    user_id=user.id,
                    created_at=now,
                    expires_at=expires,
                    client_address=client_address,
                )
            )
            AuditLog(session, self._clock).record(
                Actor(f"user:{username}", client_address),
                "auth.login",
                target_type="user",
                target_id=user.id,
            )
            session.commit()
        return LoginResult(session_token=token, user=user, expires_at=expires)

    def logout(self, principal: Principal, session_token: str) -> None:
        with self._db.write() as session:
            session.execute(
                delete(WebSession).where(WebSession.token_hash == _digest(session_token))
            )
            AuditLog(session, self._clock).record(
                principal.audit_actor,
                "auth.logout",
                target_type="user",
                target_id=principal.user_id,
            )
            session.commit()


def authenticate_session(
    session: Session, token: str, *, clock: Clock, client_address: str | None
) -> tuple[Principal, User] | None:
    """The principal behind a session cookie, or None when it is unknown or expired."""
    row = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == _digest(token))
    ).one_or_none()
    if row is None:
        return None
    web_session, user = row
    if web_session.expires_at <= clock.now() or not user.is_active:
        return None
    return load_principal(session, user, via="session", client_address=client_address), user


def csrf_token(secret: bytes, binding: str) -> str:
    """A CSRF token bound to a session (or, before login, to a random pre-session cookie)."""
    return hmac.new(secret, f"csrf:{binding}".encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: bytes, binding: str, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(csrf_token(secret, binding), presented or "")
