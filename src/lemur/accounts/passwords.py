"""argon2id password hashing and one-time password generation."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError

from lemur.strength import MAX_LENGTH, MIN_LENGTH, check_secret_strength

MIN_PASSWORD_LENGTH = MIN_LENGTH
MAX_PASSWORD_LENGTH = MAX_LENGTH


class PasswordHasher:
    """argon2id with the library's RFC 9106 low-memory defaults (64 MiB, t=3, p=4)."""

    def __init__(self, *, time_cost: int | None = None, memory_cost: int | None = None) -> None:
        defaults = _Argon2()
        self._hasher = _Argon2(
            time_cost=time_cost or defaults.time_cost,
            memory_cost=memory_cost or defaults.memory_cost,
        )
        # Verified against when the account does not exist, so that an unknown user costs
        # as much time as a wrong password and cannot be told apart by timing.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            return bool(self._hasher.verify(stored or self._dummy, password)) and stored is not None
        except (VerificationError, InvalidHashError):
            return False


def check_password_strength(
    password: str, *, field: str = "password", username: str | None = None
) -> None:
    """The strength rule of lemur.strength, for a password someone chose."""
    check_secret_strength(password, field=field, kind="password", username=username)


def one_time_password() -> str:
    """A random password shown once; the user must change it at first login."""
    return "-".join(secrets.token_urlsafe(6) for _ in range(3))
