"""Which certificates are inside their renewal window, and what the policy decides for each.

One statement per batch, whatever the policies: the candidates are a range of the
``not_after`` index (from RENEW_EXPIRED_WITHIN ago to the largest window in use ahead),
narrowed by each certificate's own window: ``renew_after`` (the standard window, stored and
indexed) unless a ``renew_before_days`` override applies (certificate, then team, then
authority), which the statement computes from ``not_after``. The largest window in use is
one more statement per pass. Neither grows with the inventory, only with what is due.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, func, literal_column, or_, select
from sqlalchemy.orm import Session

from lemur.accounts.models import Team
from lemur.authorities.models import Authority
from lemur.authorities.specs import EXTERNAL
from lemur.certificates.models import Certificate
from lemur.certificates.renewal import MAX_RENEWAL_WINDOW
from lemur.renewal.policy import (
    RENEW_EXPIRED_WITHIN,
    Decision,
    Settings,
    decide,
    window_starts,
)

C = cast(Table, Certificate.__table__)
T = cast(Table, Team.__table__)
A = cast(Table, Authority.__table__)

_COLUMNS = (
    C.c.id,
    C.c.common_name,
    C.c.not_before,
    C.c.not_after,
    C.c.team_id,
    T.c.name.label("team_name"),
    C.c.authority_id,
    A.c.name.label("authority_name"),
    A.c.has_key.label("authority_has_key"),
    A.c.plugin_slug.label("authority_plugin"),
    C.c.has_private_key,
    C.c.renewal_manual_at,
    C.c.renewal_policy.label("c_policy"),
    C.c.renew_before_days.label("c_days"),
    T.c.renewal_policy.label("t_policy"),
    T.c.renew_before_days.label("t_days"),
    A.c.renewal_policy.label("a_policy"),
    A.c.renew_before_days.label("a_days"),
)
_FROM = C.outerjoin(T, T.c.id == C.c.team_id).outerjoin(A, A.c.id == C.c.authority_id)
_EFFECTIVE_DAYS = func.coalesce(C.c.renew_before_days, T.c.renew_before_days, A.c.renew_before_days)
# Certificates the pass looks at: in use (not replaced, not revoked, not archived), a team's,
# not a CA's.
_LIVE = (
    C.c.replaced_by_id.is_(None),
    C.c.revoked_at.is_(None),
    C.c.archived_at.is_(None),
    C.c.is_ca.is_(False),
    C.c.team_id.is_not(None),
)


@dataclass(frozen=True)
class Candidate:
    """A certificate inside its renewal window and what the policy decides for it."""

    id: int
    common_name: str | None
    not_before: dt.datetime
    not_after: dt.datetime
    team_id: int
    team_name: str | None
    authority_id: int | None
    authority_name: str | None
    renewal_manual_at: dt.datetime | None
    decision: Decision
    window_starts: dt.datetime

    @property
    def notified(self) -> bool:
        """The owners were already told Lemur will not renew it."""
        return self.renewal_manual_at is not None


def _override_due(dialect: str, now: dt.datetime) -> ColumnElement[bool]:
    """``not_after - effective days <= now``, in each database's date arithmetic (SQLite
    stores the text form, which julianday() reads)."""
    if dialect == "postgresql":
        return C.c.not_after - _EFFECTIVE_DAYS * literal_column("interval '1 day'") <= now
    return func.julianday(C.c.not_after) - _EFFECTIVE_DAYS <= func.julianday(
        now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    )


def largest_window(session: Session) -> dt.timedelta:
    """The largest renewal window in use: the standard one, or the largest override (one
    statement; the certificates' overrides have a partial index, so max() reads one entry
    of an index that holds only the certificates with an override)."""
    row = session.execute(
        select(
            select(func.max(A.c.renew_before_days)).scalar_subquery(),
            select(func.max(T.c.renew_before_days)).scalar_subquery(),
            select(func.max(C.c.renew_before_days))
            .where(C.c.renew_before_days.is_not(None))
            .scalar_subquery(),
        )
    ).one()
    days = max((d for d in row if d is not None), default=0)
    return max(MAX_RENEWAL_WINDOW, dt.timedelta(days=int(days)))


def _candidate(row: Any) -> Candidate:
    decision = decide(
        Settings(row.c_policy, row.c_days),
        Settings(row.t_policy, row.t_days),
        Settings(row.a_policy, row.a_days),
        # The key held here, or the CA reached through its plugin (ACME, CFSSL, AWS PCA).
        can_issue=row.authority_id is not None
        and (bool(row.authority_has_key) or row.authority_plugin != EXTERNAL),
        has_private_key=bool(row.has_private_key),
    )
    return Candidate(
        id=row.id,
        common_name=row.common_name,
        not_before=row.not_before,
        not_after=row.not_after,
        team_id=row.team_id,
        team_name=row.team_name,
        authority_id=row.authority_id,
        authority_name=row.authority_name,
        renewal_manual_at=row.renewal_manual_at,
        decision=decision,
        window_starts=window_starts(row.not_before, row.not_after, decision.renew_before_days),
    )


def due(
    session: Session,
    *,
    now: dt.datetime,
    horizon: dt.timedelta,
    after: tuple[dt.datetime, int] | None = None,
    limit: int = 500,
    team_ids: Collection[int] | None = None,
) -> list[Candidate]:
    """Certificates inside their renewal window at ``now``, by expiry then id, after the
    keyset position ``after`` (the last (not_after, id) of the previous batch). ``horizon``
    is :func:`largest_window`; ``team_ids`` limits the answer to those teams."""
    dialect = session.get_bind().dialect.name
    in_window = or_(
        and_(_EFFECTIVE_DAYS.is_(None), C.c.renew_after <= now),
        and_(_EFFECTIVE_DAYS.is_not(None), _override_due(dialect, now)),
    )
    stmt = (
        select(*_COLUMNS)
        .select_from(_FROM)
        .where(
            *_LIVE,
            C.c.not_after > now - RENEW_EXPIRED_WITHIN,
            C.c.not_after <= now + horizon,
            in_window,
        )
        .order_by(C.c.not_after, C.c.id)
        .limit(limit)
    )
    if after is not None:
        stmt = stmt.where(
            or_(C.c.not_after > after[0], and_(C.c.not_after == after[0], C.c.id > after[1]))
        )
    if team_ids is not None:
        stmt = stmt.where(C.c.team_id.in_(list(team_ids)))
    return [_candidate(row) for row in session.execute(stmt)]


def decision_for(session: Session, certificate_id: int) -> Candidate | None:
    """The policy's decision for one live certificate, in its window or not (the renew job
    checks it again before renewing); None when it is replaced, revoked, archived, a CA or
    teamless."""
    row = session.execute(
        select(*_COLUMNS).select_from(_FROM).where(C.c.id == certificate_id, *_LIVE)
    ).first()
    return None if row is None else _candidate(row)


def names_of(session: Session, ids: Sequence[int]) -> dict[int, list[str]]:
    """The names (CN and SANs) of these certificates, one statement."""
    from lemur.certificates.statements import SELECT_NAMES

    found: dict[int, list[str]] = {}
    if not ids:
        return found
    for certificate_id, _kind, name in session.execute(SELECT_NAMES, {"ids": list(ids)}):
        names = found.setdefault(certificate_id, [])
        if name not in names:
            names.append(name)
    return found
