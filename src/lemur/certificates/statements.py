"""The certificate store's prebuilt statements (lemur.certificates.store uses them).

Built once at import: issuance runs them inside the write transaction, where building and
compiling statements each time would lengthen what every writer waits for
(docs/decisions/0005, 0008).
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Insert, Integer, Subquery, Table, bindparam, func, select

from lemur.accounts.models import Team
from lemur.audit.service import LOCKED_HEAD
from lemur.authorities.models import Authority
from lemur.certificates.models import Certificate, CertificateName, PrivateKey

CERTIFICATES = cast(Table, Certificate.__table__)


def _insert_certificate(new_id: Subquery) -> Insert:
    """INSERT ... SELECT that takes the new id from ``new_id`` and uses it as the lineage
    too unless a ``lineage_id`` is given: a certificate that starts its own lineage needs
    no second statement to point at itself. It also locks the audit chain's head and
    returns it, for the event the caller appends in the same transaction: on PostgreSQL
    one round trip instead of two (the head lock is the one every writer queues for)."""
    columns = [c for c in CERTIFICATES.c if c.key not in ("id", "lineage_id")]
    values = select(
        new_id.c.id,
        func.coalesce(bindparam("lineage_id", type_=Integer), new_id.c.id),
        *(bindparam(c.key, type_=c.type) for c in columns),
    )
    return (
        CERTIFICATES.insert()
        .from_select(["id", "lineage_id", *(c.key for c in columns)], values)
        .add_cte(LOCKED_HEAD)
        .returning(
            CERTIFICATES.c.id,
            CERTIFICATES.c.lineage_id,
            select(LOCKED_HEAD.c.seq).scalar_subquery(),
            select(LOCKED_HEAD.c.hash).scalar_subquery(),
        )
    )


# The next id, per dialect: PostgreSQL's sequence; on SQLite the rowid SQLite itself would
# choose (max + 1, the table has no AUTOINCREMENT), safe as writers hold the write lock.
INSERT_CERTIFICATE = {
    "postgresql": _insert_certificate(
        select(func.nextval("certificates_id_seq").label("id")).subquery("new")
    ),
    "sqlite": _insert_certificate(
        select((func.coalesce(func.max(CERTIFICATES.c.id), 0) + 1).label("id")).subquery("new")
    ),
}
LINEAGE_OF = select(func.coalesce(CERTIFICATES.c.lineage_id, CERTIFICATES.c.id)).where(
    CERTIFICATES.c.id == bindparam("certificate_id")
)
LINK_RENEWAL = (
    CERTIFICATES.update()
    .where(CERTIFICATES.c.id == bindparam("old_id"), CERTIFICATES.c.replaced_by_id.is_(None))
    .values(replaced_by_id=bindparam("new_id"))
)
# inline(): the id comes from the column's default in the statement itself. Otherwise a
# one-row insert (a certificate with a single name) pre-executes nextval() for the id on
# PostgreSQL, a round trip whose result is read, in the middle of the pipeline.
INSERT_NAME = cast(Table, CertificateName.__table__).insert().inline()
INSERT_KEY = cast(Table, PrivateKey.__table__).insert()


COLUMNS = tuple(c.key for c in CERTIFICATES.c)
TEAMS = cast(Table, Team.__table__)
AUTHORITIES = cast(Table, Authority.__table__)
NAMES = cast(Table, CertificateName.__table__)
SELECT_RECORDS = (
    select(
        *CERTIFICATES.c,
        TEAMS.c.name.label("team_name"),
        AUTHORITIES.c.name.label("authority_name"),
    )
    .select_from(CERTIFICATES)
    .outerjoin(TEAMS, TEAMS.c.id == CERTIFICATES.c.team_id)
    .outerjoin(AUTHORITIES, AUTHORITIES.c.id == CERTIFICATES.c.authority_id)
)
SELECT_NAMES = (
    select(NAMES.c.certificate_id, NAMES.c.kind, NAMES.c.name)
    .where(NAMES.c.certificate_id.in_(bindparam("ids", expanding=True)))
    .order_by(NAMES.c.id)
)
MARK_REVOKED = (
    CERTIFICATES.update()
    .where(CERTIFICATES.c.id == bindparam("certificate_id"), CERTIFICATES.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("at"), revocation_reason=bindparam("reason"))
)
# Archiving is compare-and-set, like revoking: of two concurrent calls, one changes the row.
MARK_ARCHIVED = (
    CERTIFICATES.update()
    .where(CERTIFICATES.c.id == bindparam("certificate_id"), CERTIFICATES.c.archived_at.is_(None))
    .values(archived_at=bindparam("at"), archived_by=bindparam("by"))
)
CLEAR_ARCHIVED = (
    CERTIFICATES.update()
    .where(
        CERTIFICATES.c.id == bindparam("certificate_id"), CERTIFICATES.c.archived_at.is_not(None)
    )
    .values(archived_at=None, archived_by=None)
)
UPDATE_SETTINGS = (
    CERTIFICATES.update()
    .where(CERTIFICATES.c.id == bindparam("certificate_id"))
    .values(team_id=bindparam("new_team_id"), description=bindparam("new_description"))
)
CA_COLUMNS = (
    CERTIFICATES.c.id,
    CERTIFICATES.c.der,
    CERTIFICATES.c.chain_pem,
    CERTIFICATES.c.subject,
    CERTIFICATES.c.not_before,
    CERTIFICATES.c.not_after,
    CERTIFICATES.c.key_type,
    CERTIFICATES.c.key_size,
    CERTIFICATES.c.fingerprint_sha256,
)
