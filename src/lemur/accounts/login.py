"""Password login, browser sessions and login throttling.

Failures are counted in the database within a sliding window, so the limits hold across
every server process. The throttle (docs/decisions/0010) is built so that guessing cannot
keep an account's owner out, and one address cannot stop others:

- per account and client: ``max_per_account`` failures of one account from one client
  (a known device, else an address) throttle that pair only;
- per address: failures for ``max_per_address`` distinct accounts throttle that address;
- per account, from unknown clients: beyond ``max_per_account`` failures, a client whose
  address has failed before waits an exponentially growing delay; beyond
  ``ACCOUNT_CEILING`` times that, every unknown client is refused until the window slides.

A *known device* is a browser that logged in to this account before: it carries a device
cookie (an HMAC under the session secret of the username and a random id) and is exempt
from the per-address and account-wide limits; its failures count against itself only.
A throttled attempt is refused before the password is checked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, distinct, func, select, text
from sqlalchemy.orm import Session

from lemur.accounts.models import LoginFailure, User, WebSession
from lemur.accounts.passwords import PasswordHasher
from lemur.accounts.service import load_principal
from lemur.audit.service import Actor, AuditLog
from lemur.authz import Principal
from lemur.clock import Clock
from lemur.db import UnitOfWork
from lemur.errors import AuthenticationRequired, TooManyRequests

# Any fixed key: it names the advisory lock that serialises login attempts on PostgreSQL.
LOGIN_LOCK = 0x4C454D55
# Failures of a known device are recorded under this prefix instead of an address.
DEVICE_PREFIX = "device:"
# Unknown clients are refused outright once an account has this many times
# max_per_account failures from unknown clients in the window.
ACCOUNT_CEILING = 10
# The longest exponential delay, as a power of two seconds (before the window cap).
MAX_DELAY_EXPONENT = 16
DEVICE_COOKIE_LIFETIME = dt.timedelta(days=365)


@dataclass(frozen=True)
class ThrottlePolicy:
    """``max_per_account``: failures of one account from one client (device or address);
    ``max_per_address``: distinct accounts failed from one address; both per ``window``."""

    max_per_account: int
    max_per_address: int
    window: dt.timedelta


@dataclass(frozen=True)
class LoginResult:
    session_token: str
    user: User
    expires_at: dt.datetime
    device_cookie: str


def device_cookie(secret: bytes, username: str, device_id: str) -> str:
    """``<username>.<device id>.<HMAC>``: proves this browser logged in to the account."""
    mac = hmac.new(secret, f"device:{username}:{device_id}".encode(), hashlib.sha256)
    return f"{username}.{device_id}.{mac.hexdigest()}"


def known_device(secret: bytes, cookie: str | None, username: str) -> str | None:
    """The device id of a valid device cookie for ``username``, else None."""
    parts = (cookie or "").rsplit(".", 2)
    if len(parts) != 3 or parts[0] != username or len(parts[1]) != 16:
        return None
    if not hmac.compare_digest(device_cookie(secret, username, parts[1]), cookie or ""):
        return None
    return parts[1]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class LoginService:
    """Password checks run in the read phase; only the outcome is written, so a slow argon2
    verification never holds SQLite's write lock. A login writes in several short write
    transactions of its unit of work (the reserved attempt, the audited failure, the new
    session), each committed by the unit of work: a refused login keeps its record."""

    def __init__(
        self,
        uow: UnitOfWork,
        *,
        clock: Clock,
        hasher: PasswordHasher,
        policy: ThrottlePolicy,
        session_lifetime: dt.timedelta,
        device_secret: bytes,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._hasher = hasher
        self._policy = policy
        self._lifetime = session_lifetime
        self._device_secret = device_secret

    def _throttled(self, message: str, until: dt.datetime) -> TooManyRequests:
        retry = max(int((until - self._clock.now()).total_seconds()) + 1, 1)
        return TooManyRequests(
            f"{message}; try again in {retry} seconds", code="login_throttled", retry_after=retry
        )

    def _check_throttle(
        self, session: Session, username: str, address: str, device: str | None
    ) -> None:
        now = self._clock.now()
        window = self._policy.window
        recent = LoginFailure.at >= now - window
        client = DEVICE_PREFIX + device if device else address
        count, oldest = session.execute(
            select(func.count(), func.min(LoginFailure.at)).where(
                LoginFailure.username == username, LoginFailure.client_address == client, recent
            )
        ).one()
        if count >= self._policy.max_per_account:
            raise self._throttled(
                "too many failed logins for this account from here", oldest + window
            )
        if device:
            return
        accounts, oldest, any_failure = session.execute(
            select(
                func.count(distinct(LoginFailure.username)),
                func.min(LoginFailure.at),
                func.count(),
            ).where(LoginFailure.client_address == address, recent)
        ).one()
        if accounts >= self._policy.max_per_address:
            raise self._throttled("too many failed logins from your address", oldest + window)
        unknown, oldest, latest = session.execute(
            select(func.count(), func.min(LoginFailure.at), func.max(LoginFailure.at)).where(
                LoginFailure.username == username,
                LoginFailure.client_address.not_like(f"{DEVICE_PREFIX}%"),
                recent,
            )
        ).one()
        excess = unknown - self._policy.max_per_account
        if unknown >= ACCOUNT_CEILING * self._policy.max_per_account:
            raise self._throttled(
                "this account has too many failed logins; log in from a browser you have "
                "used before, or wait",
                oldest + window,
            )
        if excess >= 0 and any_failure:
            # An address that has failed before waits; one that has not may try: the
            # owner on a new network is not kept out by guesses from elsewhere.
            delay = min(dt.timedelta(seconds=2 ** min(excess, MAX_DELAY_EXPONENT)), window)
            if now < latest + delay:
                raise self._throttled("too many failed logins for this account", latest + delay)

    def _reserve_attempt(self, username: str, address: str, device: str | None) -> None:
        """Count this attempt as a failure before the password is checked, in the same
        transaction as the throttle check, so that concurrent guesses cannot slip past the
        limit between check and record. A successful login clears this client's failures."""
        throttled: TooManyRequests | None = None
        with self._uow.write() as tx:
            if self._uow.dialect == "postgresql":
                # SQLite's write transaction is already exclusive; PostgreSQL needs a lock.
                tx.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOGIN_LOCK})
            try:
                self._check_throttle(tx.session, username, address, device)
            except TooManyRequests as exc:
                throttled = exc
            else:
                tx.session.add(
                    LoginFailure(
                        username=username,
                        client_address=DEVICE_PREFIX + device if device else address,
                        at=self._clock.now(),
                    )
                )
        if throttled is not None:
            # Audited (someone is guessing) but not counted: counting it would keep
            # extending the lock-out for as long as the guessing goes on.
            self._audit_failure(username, address, "throttled")
            raise throttled

    def _audit_failure(self, username: str, address: str, reason: str) -> None:
        with self._uow.write() as tx:
            AuditLog(tx.session, self._clock).record(
                Actor(f"user:{username}", address),
                "auth.login",
                target_type="user",
                target_id=username,
                outcome="failure",
                details={"reason": reason},
            )

    def _fail(
        self, username: str, address: str, reason: str, message: str, code: str
    ) -> AuthenticationRequired:
        self._audit_failure(username, address, reason)
        return AuthenticationRequired(
            message, code=code, field="password" if code == "invalid_credentials" else "username"
        )

    def login(
        self, username: str, password: str, *, client_address: str, device: str | None = None
    ) -> LoginResult:
        """Log in; ``device`` is the browser's device cookie, if it sent one."""
        username = username.strip().lower()[:64]
        device_id = known_device(self._device_secret, device, username)
        self._reserve_attempt(username, client_address, device_id)
        user = self._uow.read.scalar(select(User).where(User.username == username))
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
        with self._uow.write() as tx:
            # Only this client's failures: the owner logging in must not wipe the record
            # of someone else's guesses.
            tx.session.execute(
                delete(LoginFailure).where(
                    LoginFailure.username == username,
                    LoginFailure.client_address
                    == (DEVICE_PREFIX + device_id if device_id else client_address),
                )
            )
            tx.session.execute(delete(WebSession).where(WebSession.expires_at <= now))
            tx.session.add(
                WebSession(
                    token_hash=_digest(token),
                    user_id=user.id,
                    created_at=now,
                    expires_at=expires,
                    client_address=client_address,
                )
            )
            AuditLog(tx.session, self._clock).record(
                Actor(f"user:{username}", client_address),
                "auth.login",
                target_type="user",
                target_id=user.id,
            )
        return LoginResult(
            session_token=token,
            user=user,
            expires_at=expires,
            device_cookie=device_cookie(
                self._device_secret, username, device_id or secrets.token_hex(8)
            ),
        )

    def logout(self, principal: Principal, session_token: str) -> None:
        with self._uow.write() as tx:
            tx.session.execute(
                delete(WebSession).where(WebSession.token_hash == _digest(session_token))
            )
            AuditLog(tx.session, self._clock).record(
                principal.audit_actor,
                "auth.logout",
                target_type="user",
                target_id=principal.user_id,
            )


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
