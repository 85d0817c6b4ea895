"""Inventory search: filters, sorting and keyset (cursor) pagination.

One page costs a constant number of statements: the page of certificates (with team and
authority names joined) and one statement for the names of the certificates on the page.
The ORM maps the rows for the search; the page hands out CertificateRecords.
Name search goes through the ``certificate_names`` index, including wildcard coverage:
searching ``api.example.com`` also finds certificates for ``*.example.com``.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, column, func, or_, select, table, union
from sqlalchemy.orm import Session, selectinload

from lemur.accounts.models import Role, Team
from lemur.authorities.models import Authority
from lemur.authz import Principal
from lemur.certificates.enums import Origin, SortKey, Status
from lemur.certificates.models import (
    SQLITE_SEARCH_TABLE,
    Certificate,
    CertificateName,
    CertificateRecord,
)
from lemur.certificates.renewal import MAX_RENEWAL_WINDOW
from lemur.certificates.store import CertificateStore
from lemur.crypto.names import covering_wildcards, normalize_dns_name
from lemur.errors import InvalidInput
from lemur.ids import MAX_ID

SORT_COLUMNS: dict[SortKey, Any] = {
    SortKey.NOT_AFTER: Certificate.not_after,
    SortKey.NOT_BEFORE: Certificate.not_before,
    SortKey.CREATED_AT: Certificate.created_at,
    SortKey.COMMON_NAME: func.coalesce(Certificate.common_name, ""),
    SortKey.ID: Certificate.id,
}
EXPIRING_DEFAULT_DAYS = 30


@dataclass(frozen=True)
class CertificateFilter:
    name: str | None = None  # exact name, with wildcard coverage
    name_contains: str | None = None
    # A name or part of one (the inventory's search box): names containing it, and the
    # wildcards that cover it when it is a full host name.
    name_like: str | None = None
    team_id: int | None = None
    authority_id: int | None = None
    issuer: str | None = None  # issuer common name, substring
    status: Status | None = None
    expiring_within_days: int | None = None
    key_type: str | None = None
    key_size: int | None = None
    origin: Origin | None = None
    serial: str | None = None  # hex (with or without colons) or decimal
    fingerprint: str | None = None  # SHA-256 or SHA-1, hex
    include_expired: bool = False
    include_superseded: bool = False
    include_archived: bool = False
    include_ca: bool = True


@dataclass(frozen=True)
class CertificatePage:
    items: Sequence[CertificateRecord]
    next_cursor: str | None
    total: int | None


def normalize_serial(value: str) -> str:
    """A serial as lowercase hex without leading zeros. Decimal when all digits and no 0x."""
    text = value.strip().lower().replace(":", "").replace(" ", "")
    try:
        if text.startswith("0x"):
            number = int(text[2:], 16)
        elif text.isdigit() and ":" not in value and not value.strip().startswith("0"):
            number = int(text, 10)
        else:
            number = int(text, 16)
    except ValueError as exc:
        raise InvalidInput(
            "serial must be hexadecimal (optionally with colons or 0x) or decimal",
            code="invalid_serial",
            field="serial",
        ) from exc
    return format(number, "x")


def _serial_candidates(value: str) -> list[str]:
    """Both readings of an all-digit serial: it may be decimal or hex."""
    text = value.strip().lower().replace(":", "").replace(" ", "")
    out = [normalize_serial(value)]
    if text.isdigit():
        out.append(format(int(text, 16), "x"))
        out.append(format(int(text, 10), "x"))
    return sorted(set(out))


def _encode_cursor(value: object, row_id: int) -> str:
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    raw = json.dumps([value, row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# Primary keys are INTEGER: a larger number in a query makes PostgreSQL fail the statement
# ("integer out of range"), so ids from requests are bounded before they reach SQL.


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID


def _decode_cursor(cursor: str, key: SortKey) -> tuple[object, int]:
    """Raises InvalidInput(invalid_cursor) for anything this API did not hand out for the
    sort key, rather than letting a malformed value reach the database."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(decoded, list) or len(decoded) != 2:
            raise ValueError
        value, row_id = decoded
        if not _is_id(row_id):
            raise ValueError
        if key in (SortKey.NOT_AFTER, SortKey.NOT_BEFORE, SortKey.CREATED_AT):
            if not isinstance(value, str):
                raise ValueError
            value = dt.datetime.fromisoformat(value)
            if value.tzinfo is None:
                raise ValueError
        elif key is SortKey.ID:
            if not _is_id(value):
                raise ValueError
        elif not isinstance(value, str):
            raise ValueError
    except (ValueError, TypeError, json.JSONDecodeError) as exc:
        raise InvalidInput(
            "cursor is not one this API returned", code="invalid_cursor", field="cursor"
        ) from exc
    return value, row_id


def _search_name(value: str) -> str:
    """The form the name index stores: IP addresses compressed, DNS names in A-labels,
    lowercase, without the trailing dot. Anything else is searched as typed (lowercased)."""
    text = value.strip()
    try:
        return str(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        pass
    try:
        return normalize_dns_name(text)
    except InvalidInput:
        return text.lower().removesuffix(".")


_SQLITE_TRIGRAMS = table(SQLITE_SEARCH_TABLE, column("rowid"), column("name"))


def _names_containing(needle: str, dialect: str) -> Select[int]:
    """The ids of certificates with a name containing ``needle`` (lowercase)."""
    if dialect == "sqlite" and len(needle) >= 3 and not set(needle) & set("%_\\"):
        # The FTS5 trigram index (migration 0004) serves LIKE only without ESCAPE, so it
        # takes needles without wildcard characters (DNS names never contain them).
        matching = select(_SQLITE_TRIGRAMS.c.rowid).where(
            _SQLITE_TRIGRAMS.c.name.like(f"%{needle}%")
        )
        return select(CertificateName.certificate_id).where(CertificateName.id.in_(matching))
    return select(CertificateName.certificate_id).where(
        CertificateName.name.contains(needle, autoescape=True)
    )


def _filters(
    flt: CertificateFilter, principal: Principal, now: dt.datetime, *, dialect: str
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if principal.role is Role.MEMBER:
        where.append(Certificate.team_id.in_(sorted(principal.team_ids)))
    if flt.name:
        name = _search_name(flt.name)
        candidates = [name, *covering_wildcards(name)] if not name.startswith("*") else [name]
        where.append(
            Certificate.id.in_(
                select(CertificateName.certificate_id).where(CertificateName.name.in_(candidates))
            )
        )
    if flt.name_contains:
        where.append(
            Certificate.id.in_(_names_containing(flt.name_contains.strip().lower(), dialect))
        )
    if flt.name_like:
        needle = _search_name(flt.name_like)
        containing = _names_containing(needle, dialect)
        wildcards = covering_wildcards(needle) if "." in needle else []
        if wildcards:
            covering = select(CertificateName.certificate_id).where(
                CertificateName.name.in_(wildcards)
            )
            where.append(Certificate.id.in_(union(containing, covering)))
        else:
            where.append(Certificate.id.in_(containing))
    if flt.team_id is not None:
        where.append(Certificate.team_id == flt.team_id)
    if flt.authority_id is not None:
        where.append(Certificate.authority_id == flt.authority_id)
    if flt.issuer:
        where.append(
            func.lower(Certificate.issuer_common_name).contains(flt.issuer.lower(), autoescape=True)
        )
    if flt.key_type:
        where.append(func.lower(Certificate.key_type) == flt.key_type.lower())
    if flt.key_size is not None:
        where.append(Certificate.key_size == flt.key_size)
    if flt.origin is not None:
        where.append(Certificate.origin == flt.origin.value)
    if flt.serial:
        where.append(Certificate.serial_hex.in_(_serial_candidates(flt.serial)))
    if flt.fingerprint:
        fp = flt.fingerprint.strip().lower().replace(":", "")
        where.append(
            Certificate.fingerprint_sha256 == fp
            if len(fp) == 64
            else Certificate.fingerprint_sha1 == fp
        )
    if not flt.include_ca:
        where.append(Certificate.is_ca.is_(False))
    days = EXPIRING_DEFAULT_DAYS if flt.expiring_within_days is None else flt.expiring_within_days
    horizon = now + dt.timedelta(days=days)
    if flt.status is Status.VALID:
        where += [
            Certificate.revoked_at.is_(None),
            Certificate.not_before <= now,
            Certificate.not_after > now,
        ]
    elif flt.status is Status.EXPIRING and flt.expiring_within_days is not None:
        where += [
            Certificate.revoked_at.is_(None),
            Certificate.not_after > now,
            Certificate.not_after <= horizon,
        ]
    elif flt.status is Status.EXPIRING:
        # In the renewal window (lemur.certificates.renewal), as the status shown says.
        # The window is at most MAX_RENEWAL_WINDOW, so the bound on not_after is implied;
        # it is stated so that the (not_after, id) index serves the range and the order.
        where += [
            Certificate.revoked_at.is_(None),
            Certificate.not_after > now,
            Certificate.not_after <= now + MAX_RENEWAL_WINDOW,
            Certificate.renew_after <= now,
        ]
    elif flt.status is Status.EXPIRED:
        where.append(Certificate.not_after <= now)
    elif flt.status is Status.REVOKED:
        where.append(Certificate.revoked_at.is_not(None))
    if flt.expiring_within_days is not None and flt.status is not Status.EXPIRING:
        where += [Certificate.not_after > now, Certificate.not_after <= horizon]
    # Expired certificates and superseded lineage members are noise in day-to-day lists.
    hide_expired = not flt.include_expired and flt.status not in (Status.EXPIRED, Status.REVOKED)
    identifies = flt.serial or flt.fingerprint
    if hide_expired and not identifies:
        where.append(Certificate.not_after > now)
    if not flt.include_archived:
        # Almost every row qualifies; no index on archived_at, so the plans stay those of
        # the other filters (docs/decisions/0015).
        where.append(Certificate.archived_at.is_(None))
    if not flt.include_superseded and not identifies:
        if dialect == "sqlite":
            # Written so that no index serves it: almost every row qualifies, and SQLite
            # would otherwise pick the replaced_by_id index and sort the whole table for the
            # page instead of walking the (not_after, id) index in order. PostgreSQL's
            # planner has statistics for the plain form and misjudges the expression.
            where.append(func.coalesce(Certificate.replaced_by_id, 0) == 0)
        else:
            where.append(Certificate.replaced_by_id.is_(None))
    return where


def _sort_value(row: Certificate, sort: SortKey) -> object:
    if sort is SortKey.COMMON_NAME:
        return row.common_name or ""
    return getattr(row, sort.value)


def search(
    session: Session,
    principal: Principal,
    flt: CertificateFilter,
    *,
    now: dt.datetime,
    sort: SortKey = SortKey.NOT_AFTER,
    descending: bool = False,
    limit: int = 50,
    cursor: str | None = None,
    with_total: bool = False,
) -> CertificatePage:
    """One page of certificates the principal may see. Two statements (three with total)."""
    where = _filters(flt, principal, now, dialect=session.get_bind().dialect.name)
    expr = SORT_COLUMNS[sort]
    stmt = (
        select(Certificate, Team.name, Authority.name)
        .outerjoin(Team, Team.id == Certificate.team_id)
        .outerjoin(Authority, Authority.id == Certificate.authority_id)
        .where(*where)
    )
    if cursor:
        value, row_id = _decode_cursor(cursor, sort)
        if descending:
            stmt = stmt.where(or_(expr < value, and_(expr == value, Certificate.id < row_id)))
        else:
            stmt = stmt.where(or_(expr > value, and_(expr == value, Certificate.id > row_id)))
    order = (
        [expr.desc(), Certificate.id.desc()] if descending else [expr.asc(), Certificate.id.asc()]
    )
    result = session.execute(
        stmt.order_by(*order).limit(limit + 1).options(selectinload(Certificate.names))
    ).all()
    more = len(result) > limit
    result = result[:limit]
    rows = [r[0] for r in result]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = _encode_cursor(_sort_value(last, sort), last.id)
    total = None
    if with_total:
        total = session.scalar(select(func.count()).select_from(Certificate).where(*where))
    return CertificatePage(
        items=[
            CertificateStore.record_of(row, team_name=team, authority_name=authority)
            for row, team, authority in result
        ],
        next_cursor=next_cursor,
        total=total,
    )


@dataclass(frozen=True)
class FilterChoices:
    """What the inventory can be narrowed to for a principal: (id, name) pairs by name."""

    teams: Sequence[tuple[int, str]]
    authorities: Sequence[tuple[int, str]]


def filter_choices(session: Session, principal: Principal) -> FilterChoices:
    """The teams whose certificates the principal sees (a member: their own teams) and
    every authority. Two statements, of ids and names only."""
    teams = select(Team.id, Team.name).order_by(Team.name)
    if principal.role is Role.MEMBER:
        teams = teams.where(Team.id.in_(sorted(principal.team_ids)))
    return FilterChoices(
        teams=[(i, n) for i, n in session.execute(teams)],
        authorities=[
            (i, n)
            for i, n in session.execute(
                select(Authority.id, Authority.name).order_by(Authority.name)
            )
        ],
    )


@dataclass(frozen=True)
class Holder:
    """A live certificate that carries a name: who owns it, until when."""

    name: str
    certificate_id: int
    team_id: int | None
    team_name: str | None
    not_after: dt.datetime


# More certificates for one set of names than a form can show is never useful to read.
MAX_HOLDERS = 500


def live_holders(session: Session, names: Sequence[str], *, now: dt.datetime) -> list[Holder]:
    """The live (not revoked, not expired, not replaced) leaf certificates carrying any of
    ``names`` (index forms: lowercase, A-labels) as a SAN, newest expiry first, at most
    MAX_HOLDERS. One statement through the name index, however many names."""
    if not names:
        return []
    rows = session.execute(
        select(
            CertificateName.name,
            Certificate.id,
            Certificate.team_id,
            Team.name,
            Certificate.not_after,
        )
        .join(Certificate, Certificate.id == CertificateName.certificate_id)
        .outerjoin(Team, Team.id == Certificate.team_id)
        .where(
            CertificateName.name.in_(sorted(set(names))),
            CertificateName.kind != "cn",
            Certificate.revoked_at.is_(None),
            Certificate.not_after > now,
            Certificate.replaced_by_id.is_(None),
            Certificate.is_ca.is_(False),
        )
        .order_by(Certificate.not_after.desc(), Certificate.id.desc())
        .limit(MAX_HOLDERS)
    ).all()
    return [Holder(*row) for row in rows]
