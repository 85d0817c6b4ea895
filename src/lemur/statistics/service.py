"""The dashboard's figures for one caller: authorization, scope, and a short-lived cache.

Counting over a million certificates reads a few indexes end to end, which costs more than
a page should wait for on every view (docs/decisions/0017). The figures of a scope (every
certificate, or one set of teams) are therefore kept in the process for
``LEMUR_STATISTICS_MAX_AGE_SECONDS`` (30 by default; 0 turns the cache off) and every
answer says when they were computed (``computed_at``). Two callers of the same scope share
one entry, whoever they are: the figures depend on the scope only. While one request
computes a scope's figures, other requests for that scope wait for them instead of running
the same statements again.
"""

from __future__ import annotations

import datetime as dt
import enum
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from lemur.authz import TEAM_SCOPED, Action, Principal, authorize
from lemur.clock import Clock
from lemur.db import UnitOfWork
from lemur.errors import PermissionDenied
from lemur.statistics.queries import Figures, figures


class Scope(enum.StrEnum):
    MINE = "mine"  # the certificates of the caller's teams
    ALL = "all"  # every certificate (roles that read every team's certificates)


@dataclass(frozen=True, slots=True)
class CertificateStatistics:
    scope: Scope
    team_ids: tuple[int, ...]  # the teams counted for "mine"; empty for "all"
    computed_at: dt.datetime
    max_age: dt.timedelta
    figures: Figures


CacheKey = tuple[Scope, tuple[int, ...]]


class StatisticsCache:
    """Statistics per scope, reused while younger than ``max_age`` (by the injected clock),
    at most ``capacity`` scopes (the least recently used goes first). Thread-safe."""

    def __init__(self, max_age: dt.timedelta, *, capacity: int = 256) -> None:
        self.max_age = max_age
        self._capacity = capacity
        self._entries: OrderedDict[CacheKey, CertificateStatistics] = OrderedDict()
        self._computing: dict[CacheKey, threading.Lock] = {}
        self._lock = threading.Lock()

    def _fresh(self, key: CacheKey, now: dt.datetime) -> CertificateStatistics | None:
        found = self._entries.get(key)
        # A clock that went back (a test's) makes an entry from the future stale too.
        if found is None or not (found.computed_at <= now < found.computed_at + self.max_age):
            return None
        self._entries.move_to_end(key)
        return found

    def get(
        self, key: CacheKey, clock: Clock, compute: Callable[[dt.datetime], CertificateStatistics]
    ) -> CertificateStatistics:
        """The cached statistics of ``key``, or ``compute(now)``'s (then cached)."""
        if self.max_age <= dt.timedelta(0):
            return compute(clock.now())
        with self._lock:
            found = self._fresh(key, clock.now())
            if found is not None:
                return found
            gate = self._computing.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                found = self._fresh(key, clock.now())
            if found is not None:
                return found
            computed = compute(clock.now())
            with self._lock:
                self._entries[key] = computed
                self._entries.move_to_end(key)
                while len(self._entries) > self._capacity:
                    self._entries.popitem(last=False)
                self._computing.pop(key, None)
            return computed


def sees_every_team(principal: Principal) -> bool:
    """Whether ``principal`` reads every team's certificates (admin, security, read-only)."""
    any_team, _own_team = TEAM_SCOPED[Action.CERTIFICATE_READ]
    return principal.role in any_team


class StatisticsService:
    def __init__(
        self, uow: UnitOfWork, *, cache: StatisticsCache, clock: Clock, actor: Principal
    ) -> None:
        self._uow = uow
        self._cache = cache
        self._clock = clock
        self._actor = actor

    def statistics(self, scope: Scope = Scope.MINE) -> CertificateStatistics:
        """The figures of the actor's teams, or of every certificate. Raises
        PermissionDenied (field ``scope``) for "all" unless the actor reads every team's
        certificates."""
        authorize(self._actor, Action.CERTIFICATE_READ)
        if scope is Scope.ALL and not sees_every_team(self._actor):
            raise PermissionDenied(
                f"your role ({self._actor.role.value}) sees the figures of its own teams "
                "only; ask for scope=mine",
                field="scope",
            )
        team_ids = () if scope is Scope.ALL else tuple(sorted(self._actor.team_ids))
        teams = None if scope is Scope.ALL else frozenset(team_ids)

        def compute(now: dt.datetime) -> CertificateStatistics:
            return CertificateStatistics(
                scope=scope,
                team_ids=team_ids,
                computed_at=now,
                max_age=self._cache.max_age,
                figures=figures(self._uow.read, teams=teams, now=now),
            )

        return self._cache.get((scope, team_ids), self._clock, compute)
