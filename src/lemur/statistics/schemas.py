"""The answer of ``GET /api/v1/statistics``."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from lemur.statistics.queries import Brief, Ranking
from lemur.statistics.service import CertificateStatistics, Scope


class TeamRef(BaseModel):
    id: int
    name: str


class CertificateBriefOut(BaseModel):
    id: int
    common_name: str | None
    team: TeamRef | None
    not_before: dt.datetime
    not_after: dt.datetime
    revoked_at: dt.datetime | None = None
    revocation_reason: str | None = None

    @classmethod
    def of(cls, brief: Brief) -> CertificateBriefOut:
        team = None
        if brief.team_id is not None and brief.team_name is not None:
            team = TeamRef(id=brief.team_id, name=brief.team_name)
        return cls(
            id=brief.id,
            common_name=brief.common_name,
            team=team,
            not_before=brief.not_before,
            not_after=brief.not_after,
            revoked_at=brief.revoked_at,
            revocation_reason=brief.revocation_reason,
        )


class WindowCount(BaseModel):
    days: int
    count: int


class GroupCount(BaseModel):
    id: int | None = Field(
        description="null: certificates without a team, or of no authority Lemur manages"
    )
    name: str | None
    count: int


class RankingOut(BaseModel):
    top: list[GroupCount] = Field(description="the largest groups, largest first (at most 10)")
    others: int = Field(description="certificates of every other group")
    other_groups: int = Field(description="how many groups ``others`` sums up")

    @classmethod
    def of(cls, ranking: Ranking) -> RankingOut:
        return cls(
            top=[GroupCount(id=g.id, name=g.name, count=g.count) for g in ranking.top],
            others=ranking.others,
            other_groups=ranking.other_groups,
        )


class IssuedOut(BaseModel):
    windows: list[WindowCount] = Field(
        description="certificates whose notBefore is within the last 7 and 30 days"
    )
    newest: list[CertificateBriefOut] = Field(description="the 5 with the latest notBefore")


class RevokedOut(BaseModel):
    count: int = Field(description="every revoked certificate")
    recent: list[CertificateBriefOut] = Field(description="the 5 most recently revoked")


class StatisticsOut(BaseModel):
    scope: Scope
    team_ids: list[int] = Field(description='the teams counted for scope "mine"')
    computed_at: dt.datetime = Field(
        description="when these figures were counted: they are reused for max_age_seconds"
    )
    max_age_seconds: int
    total: int = Field(description="every stored certificate in scope, renewed ones included")
    by_status: dict[str, int] = Field(
        description="total by the status lists show: valid, expiring (in the renewal "
        "window), expired, revoked, not_yet_valid"
    )
    expiring: list[WindowCount] = Field(
        description="not revoked, not renewed, notAfter within the next 7, 30 and 90 days "
        "(?status=expiring&expiring_within_days=N&include_archived=true lists them: archived ones are counted)"
    )
    issued: IssuedOut
    revoked: RevokedOut
    by_team: RankingOut = Field(description="certificates not yet expired, renewed ones included")
    by_authority: RankingOut = Field(
        description="certificates not yet expired, renewed ones included"
    )

    @classmethod
    def of(cls, stats: CertificateStatistics) -> StatisticsOut:
        f = stats.figures
        return cls(
            scope=stats.scope,
            team_ids=list(stats.team_ids),
            computed_at=stats.computed_at,
            max_age_seconds=int(stats.max_age.total_seconds()),
            total=f.total,
            by_status=dict(f.by_status),
            expiring=[WindowCount(days=d, count=n) for d, n in f.expiring],
            issued=IssuedOut(
                windows=[WindowCount(days=d, count=n) for d, n in f.issued],
                newest=[CertificateBriefOut.of(b) for b in f.newest],
            ),
            revoked=RevokedOut(
                count=f.revoked, recent=[CertificateBriefOut.of(b) for b in f.recently_revoked]
            ),
            by_team=RankingOut.of(f.by_team),
            by_authority=RankingOut.of(f.by_authority),
        )
