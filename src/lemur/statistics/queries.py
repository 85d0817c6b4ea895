"""The dashboard's figures about certificates, in six statements whatever the inventory's size.

What each figure counts (docs/dashboard.md; the inventory links of the dashboard list
exactly these certificates):

- ``by_status``: every stored certificate in scope, renewed (superseded) ones included, by
  the status lists show (lemur.certificates.schemas.status_of): revoked, expired,
  not_yet_valid, expiring (inside the renewal window), valid. They add up to ``total``.
  The same figures as /metrics' ``lemur_certificates``.
- ``expiring`` within 7, 30 and 90 days: not revoked, not renewed, notAfter in
  (now, now + N days]; what ``?status=expiring&expiring_within_days=N`` lists.
- ``issued`` in the last 7 and 30 days: notBefore within the last N days, not in the future
  (the certificate's own start, whatever its origin: issued here or imported), and the 5
  with the latest notBefore.
- ``revoked``: every revoked certificate, and the 5 most recently revoked.
- ``by_team`` and ``by_authority``: certificates not yet expired, renewed ones included
  (``?team_id=X&include_superseded=true``).

Archived certificates are counted like the others: no index tells them apart, and finding
them would read every row (the dashboard's links add ``include_archived=true``).

For every certificate, each statement reads an index, never the wide rows (DER, chain),
except for the five rows of each list: the status pass, the expiry windows and the two
lists' ids read ``ix_certificates_lifecycle`` (the expiry windows also the index on
replaced_by_id, on SQLite), the groups ``ix_certificates_team_not_after`` and
``ix_certificates_authority_not_after``. A member's scope (their teams) reads the rows of
their teams' certificates. The cost still grows with the inventory (the status pass reads
every entry of an index), which is why the figures are kept for a while
(lemur.statistics.cache); docs/decisions/0017-dashboard-statistics.md has the figures at
1,000,000 certificates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal_column, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from lemur.accounts.models import Team
from lemur.authorities.models import Authority
from lemur.certificates.models import Certificate

EXPIRY_HORIZONS_DAYS = (7, 30, 90)
ISSUED_WINDOWS_DAYS = (7, 30)
LIST_LENGTH = 5
TOP = 10
# The statuses lists show, in their order of precedence (lemur.certificates.schemas.status_of).
STATUSES = ("valid", "expiring", "expired", "revoked", "not_yet_valid")


@dataclass(frozen=True, slots=True)
class Brief:
    """A certificate as the dashboard lists it."""

    id: int
    common_name: str | None
    team_id: int | None
    team_name: str | None
    not_before: dt.datetime
    not_after: dt.datetime
    revoked_at: dt.datetime | None
    revocation_reason: str | None


@dataclass(frozen=True, slots=True)
class Group:
    """One team or authority and how many certificates it has. ``id`` None: certificates
    without one (no team; imported, of no authority Lemur manages)."""

    id: int | None
    name: str | None
    count: int


@dataclass(frozen=True, slots=True)
class Ranking:
    """The largest groups (at most TOP, largest first) and the rest summed up."""

    top: tuple[Group, ...]
    others: int
    other_groups: int


@dataclass(frozen=True, slots=True)
class Figures:
    total: int
    by_status: tuple[tuple[str, int], ...]
    expiring: tuple[tuple[int, int], ...]  # (days, count)
    issued: tuple[tuple[int, int], ...]  # (days, count)
    newest: tuple[Brief, ...]
    revoked: int
    recently_revoked: tuple[Brief, ...]
    by_team: Ranking
    by_authority: Ranking


def _scoped(teams: frozenset[int] | None) -> list[ColumnElement[bool]]:
    return [] if teams is None else [Certificate.team_id.in_(sorted(teams))]


def _per_row(session: Session, column: InstrumentedAttribute[Any]) -> ColumnElement[Any]:
    """``column`` for a comparison made on every row of a scan. On SQLite as ``+column``:
    a DATETIME column has NUMERIC affinity, so compared as it is with a parameter SQLite
    first tries to read the parameter as a number, on every row (five times the cost of
    the whole scan); the unary plus drops the affinity and leaves a comparison of the
    stored text. Not for a condition an index serves: that takes the plain column."""
    if session.get_bind().dialect.name != "sqlite":
        return column.expression
    return literal_column(f"+{Certificate.__tablename__}.{column.key}", column.type)


def _status_pass(
    session: Session, where: list[ColumnElement[bool]], now: dt.datetime
) -> tuple[int, dict[str, int], dict[int, int]]:
    """Statuses and recent issuance in one pass over the lifecycle index."""
    revoked_at, not_after, not_before, renew_after = (
        _per_row(session, column)
        for column in (
            Certificate.revoked_at,
            Certificate.not_after,
            Certificate.not_before,
            Certificate.renew_after,
        )
    )
    live = and_(revoked_at.is_(None), not_after > now)
    conditions = {
        "revoked": revoked_at.is_not(None),
        "expired": and_(revoked_at.is_(None), not_after <= now),
        "not_yet_valid": and_(live, not_before > now),
        "expiring": and_(live, not_before <= now, renew_after <= now),
    }
    issued = {
        days: and_(not_before > now - dt.timedelta(days=days), not_before <= now)
        for days in ISSUED_WINDOWS_DAYS
    }
    row = session.execute(
        select(
            func.count(),
            *(func.count().filter(cond) for cond in conditions.values()),
            *(func.count().filter(cond) for cond in issued.values()),
        )
        .select_from(Certificate)
        .where(*where)
    ).one()
    total, *rest = (int(n) for n in row)
    counts = dict(zip(conditions, rest[: len(conditions)], strict=True))
    counts["valid"] = total - sum(counts.values())
    return total, counts, dict(zip(issued, rest[len(conditions) :], strict=True))


def _not_renewed(session: Session) -> ColumnElement[bool]:
    """Certificates not replaced by a renewal. On SQLite as "not among the renewed ones",
    read from the index on replaced_by_id (which holds the rowid): testing each row's own
    replaced_by_id would read every row in range, and SQLite would rather walk that index
    for the (almost all) rows where it is NULL. PostgreSQL's index on replaced_by_id does
    not hold the id; there the plain test is the cheaper."""
    c = Certificate
    if session.get_bind().dialect.name == "sqlite":
        renewed = select(c.id).where(c.replaced_by_id.is_not(None))
        return c.id.not_in(renewed)
    return c.replaced_by_id.is_(None)


def _expiring(
    session: Session, where: list[ColumnElement[bool]], now: dt.datetime
) -> dict[int, int]:
    c = Certificate
    horizons = {days: now + dt.timedelta(days=days) for days in EXPIRY_HORIZONS_DAYS}
    not_after = _per_row(session, c.not_after)
    row = session.execute(
        select(*(func.count().filter(not_after <= at) for at in horizons.values())).where(
            *where,
            c.not_after > now,
            c.not_after <= max(horizons.values()),
            c.revoked_at.is_(None),
            _not_renewed(session),
        )
    ).one()
    return dict(zip(horizons, (int(n) for n in row), strict=True))


_BRIEF_COLUMNS = (
    Certificate.id,
    Certificate.common_name,
    Certificate.team_id,
    Team.name,
    Certificate.not_before,
    Certificate.not_after,
    Certificate.revoked_at,
    Certificate.revocation_reason,
)


def _briefs(
    session: Session, where: list[ColumnElement[bool]], order: list[ColumnElement[Any]]
) -> tuple[Brief, ...]:
    """The first LIST_LENGTH certificates by ``order``: their ids first, from what an index
    holds (the order's columns and the id), then only those rows' columns a Brief shows (not
    the DER or chain) with the team's name. Sorting the wide rows of every match instead
    would read each one."""
    first = select(Certificate.id).where(*where).order_by(*order).limit(LIST_LENGTH).subquery()
    stmt = (
        select(*_BRIEF_COLUMNS)
        .join(first, first.c.id == Certificate.id)
        .outerjoin(Team, Team.id == Certificate.team_id)
        .order_by(*order)
    )
    return tuple(Brief(*row) for row in session.execute(stmt))


def _newest(
    session: Session, where: list[ColumnElement[bool]], now: dt.datetime
) -> tuple[Brief, ...]:
    c = Certificate
    since = now - dt.timedelta(days=max(ISSUED_WINDOWS_DAYS))
    # notAfter > notBefore: the bound on notAfter lets the lifecycle index serve the range;
    # notBefore is compared on each entry in it.
    not_before = _per_row(session, c.not_before)
    return _briefs(
        session,
        [*where, c.not_after > since, not_before > since, not_before <= now],
        [c.not_before.desc(), c.id.desc()],
    )


def _recently_revoked(session: Session, where: list[ColumnElement[bool]]) -> tuple[Brief, ...]:
    c = Certificate
    return _briefs(session, [*where, c.revoked_at.is_not(None)], [c.revoked_at.desc(), c.id.desc()])


def _grouped(
    session: Session,
    where: list[ColumnElement[bool]],
    now: dt.datetime,
    key: InstrumentedAttribute[int | None],
    model: type[Team] | type[Authority],
) -> list[Group]:
    """Not-yet-expired certificates per ``key``; names joined to the (few) groups."""
    # Every entry of the (key, not_after) index is read in key order: not_after is
    # compared on each, not sought.
    grouped = (
        select(key.label("key"), func.count().label("n"))
        .where(*where, _per_row(session, Certificate.not_after) > now)
        .group_by(key)
        .subquery()
    )
    rows = session.execute(
        select(grouped.c.key, model.name, grouped.c.n).outerjoin(model, model.id == grouped.c.key)
    )
    return [Group(id=k, name=name, count=int(n)) for k, name, n in rows]


def rank(groups: Iterable[Group], top: int = TOP) -> Ranking:
    """The ``top`` largest groups (ties by name, then id) and the rest summed up."""
    ordered = sorted(groups, key=lambda g: (-g.count, g.name is None, g.name or "", g.id or 0))
    rest = ordered[top:]
    return Ranking(
        top=tuple(ordered[:top]), others=sum(g.count for g in rest), other_groups=len(rest)
    )


def figures(session: Session, *, teams: frozenset[int] | None, now: dt.datetime) -> Figures:
    """The figures of the certificates of ``teams`` (None: every certificate). Six
    statements."""
    where = _scoped(teams)
    total, statuses, issued = _status_pass(session, where, now)
    expiring = _expiring(session, where, now)
    by_team = _grouped(session, where, now, Certificate.team_id, Team)
    by_authority = _grouped(session, where, now, Certificate.authority_id, Authority)
    return Figures(
        total=total,
        by_status=tuple((s, statuses[s]) for s in STATUSES),
        expiring=tuple(expiring.items()),
        issued=tuple(issued.items()),
        newest=_newest(session, where, now),
        revoked=statuses["revoked"],
        recently_revoked=_recently_revoked(session, where),
        by_team=rank(by_team),
        by_authority=rank(by_authority),
    )
