"""The dashboard's figures for one caller: authorization, scope, and the process's kept
figures (lemur.statistics.cache)."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from sqlalchemy.orm import Session

from lemur.authz import TEAM_SCOPED, Action, Principal, authorize
from lemur.db import UnitOfWork
from lemur.errors import PermissionDenied
from lemur.statistics.cache import StatisticsCache as FiguresCache
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
StatisticsCache = FiguresCache[CacheKey, CertificateStatistics]


def sees_every_team(principal: Principal) -> bool:
    """Whether ``principal`` reads every team's certificates (admin, security, read-only)."""
    any_team, _own_team = TEAM_SCOPED[Action.CERTIFICATE_READ]
    return principal.role in any_team


class StatisticsService:
    def __init__(self, uow: UnitOfWork, *, cache: StatisticsCache, actor: Principal) -> None:
        self._uow = uow
        self._cache = cache
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

        def compute(session: Session, now: dt.datetime) -> CertificateStatistics:
            return CertificateStatistics(
                scope=scope,
                team_ids=team_ids,
                computed_at=now,
                max_age=self._cache.max_age,
                figures=figures(session, teams=teams, now=now),
            )

        return self._cache.get((scope, team_ids), compute, self._uow.read)
