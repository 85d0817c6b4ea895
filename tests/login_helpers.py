"""Logins the way a request makes them: each in its own unit of work, closed afterwards
(a LoginService is built per request; tests that log in many times, or from several
threads, use this instead of sharing one)."""

from __future__ import annotations

import datetime as dt

from lemur.accounts.login import LoginResult, LoginService, ThrottlePolicy
from lemur.accounts.passwords import PasswordHasher
from lemur.container import Container
from lemur.db import UnitOfWork


class Logins:
    def __init__(
        self,
        container: Container,
        policy: ThrottlePolicy,
        *,
        hasher: PasswordHasher | None = None,
        session_lifetime: dt.timedelta = dt.timedelta(hours=1),
    ) -> None:
        self._container = container
        self._policy = policy
        self._hasher = hasher or container.hasher
        self._lifetime = session_lifetime

    def login(
        self, username: str, password: str, *, client_address: str, device: str | None = None
    ) -> LoginResult:
        with UnitOfWork(self._container.db) as uow:
            return LoginService(
                uow,
                clock=self._container.clock,
                hasher=self._hasher,
                policy=self._policy,
                session_lifetime=self._lifetime,
                device_secret=self._container.session_secret,
            ).login(username, password, client_address=client_address, device=device)
