"""Key-ring checks at start-up, and rotation with re-encryption in resumable batches.

Encrypted columns declare themselves with ``info={"encrypted": True}`` (the column is one
ciphertext) or ``info={"encrypted_json": True}`` (JSON with ciphertexts inside, as plugin
options are stored); rotation finds them in the metadata, so a new table with secrets is
rotated without touching this code. JSON columns are read whole (they hold a few rows:
channels, authorities) and their pending count is computed in Python.
Each batch is its own transaction, so the server keeps serving, and an interrupted
rotation resumes where it stopped: the rows left are exactly those not under the primary.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Column, ColumnElement, Table, func, not_, select, tuple_, update
from sqlalchemy.orm import Session

from lemur.audit.service import Actor, AuditLog
from lemur.clock import Clock
from lemur.crypto.keyring import FOLLOW_SECONDS, KeyRing, generate_key
from lemur.db import Base, Database
from lemur.errors import ConfigurationError
from lemur.keys.models import KeyringKey
from lemur.plugins.options import ENCRYPTED, map_secrets, secret_tokens

Progress = Callable[[str, int, int], None]  # (table.column, done, total)


def encrypted_columns() -> list[tuple[Table, Column[str]]]:
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if column.info.get("encrypted"):
                found.append((table, column))
    return found


def encrypted_json_columns() -> list[tuple[Table, Column[str]]]:
    return [
        (table, column)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.info.get("encrypted_json")
    ]


def _json_rows(
    session: Session,
    table: Table,
    column: Column[str],
    after: tuple[object, ...] | None,
    limit: int,
) -> list[tuple[tuple[object, ...], str]]:
    """Rows of a JSON column that hold a secret, in primary-key order after ``after``."""
    pk = list(table.primary_key.columns)
    query = select(*pk, column).where(column.contains(ENCRYPTED, autoescape=True))
    if after is not None:
        query = query.where(tuple_(*pk) > tuple_(*after))
    rows = session.execute(query.order_by(*pk).limit(limit)).all()
    return [(tuple(row[: len(pk)]), row[-1]) for row in rows]


def _json_pending(value: str, ring: KeyRing) -> bool:
    return any(not t.startswith(ring.primary_kid + ":") for t in secret_tokens(json.loads(value)))


def register_primary(session: Session, ring: KeyRing, clock: Clock) -> None:
    if session.get(KeyringKey, ring.primary_kid) is None:
        session.add(KeyringKey(kid=ring.primary_kid, added_at=clock.now()))


def check_keyring(session: Session, ring: KeyRing) -> None:
    """Refuse to run with a ring that lacks a key the stored data needs."""
    needed = set(session.scalars(select(KeyringKey.kid).where(KeyringKey.retired_at.is_(None))))
    missing = sorted(needed - set(ring.kids))
    if missing:
        raise ConfigurationError(
            f"the database holds secrets encrypted under key(s) {', '.join(missing)}, which "
            f"{ring.source} does not contain. Restore the key file from your backup or put the "
            "key(s) back into LEMUR_ENCRYPTION_KEYS; Lemur will not start with the wrong keys.",
            code="keyring_missing_key",
        )


def count_pending(session: Session, ring: KeyRing) -> dict[str, int]:
    """Rows per encrypted column that are not yet under the primary key."""
    out = {}
    for table, column in encrypted_columns():
        out[f"{table.name}.{column.name}"] = (
            session.scalar(
                select(func.count()).select_from(table).where(_not_primary(column, ring))
            )
            or 0
        )
    for table, column in encrypted_json_columns():
        count, after = 0, None
        while rows := _json_rows(session, table, column, after, 1000):
            count += sum(_json_pending(value, ring) for _, value in rows)
            after = rows[-1][0]
        out[f"{table.name}.{column.name}"] = count
    return out


def _not_primary(column: Column[str], ring: KeyRing) -> ColumnElement[bool]:
    return not_(column.startswith(ring.primary_kid + ":", autoescape=True))


@dataclass
class RotationReport:
    new_kid: str
    resumed: bool
    reencrypted: dict[str, int] = field(default_factory=dict)
    retired: list[str] = field(default_factory=list)


class KeyRotation:
    """``settle_seconds``: how long to wait, after re-encrypting, for running servers to pick
    up a rewritten key file before the last sweep (a server re-reads it within
    FOLLOW_SECONDS); tests that run no other process pass 0."""

    def __init__(
        self,
        db: Database,
        ring: KeyRing,
        *,
        clock: Clock,
        actor: Actor,
        settle_seconds: float = FOLLOW_SECONDS + 0.5,
    ) -> None:
        self._db = db
        self._ring = ring
        self._clock = clock
        self._actor = actor
        self._settle = settle_seconds

    @property
    def ring(self) -> KeyRing:
        return self._ring

    def rotate(self, *, batch_size: int = 500, progress: Progress | None = None) -> RotationReport:
        """Add a new primary key (unless an earlier rotation is unfinished) and re-encrypt."""
        if self._ring.path is not None:
            # The file may have changed since this ring was read (an interrupted rotation by
            # another process added its key): start from what is on disk, never from a stale
            # ring whose old primary would re-encrypt rows backwards.
            self._ring = KeyRing.from_file(self._ring.path)
        with self._db.read() as session:
            pending = sum(count_pending(session, self._ring).values())
        resumed = pending > 0
        if not resumed:
            if self._ring.path is None:
                raise ConfigurationError(
                    "keys come from LEMUR_ENCRYPTION_KEYS, which Lemur cannot change: put a new "
                    "key (from `lemur keys generate`) at its front on every Lemur process, "
                    "restart them, then run `lemur keys rotate` to re-encrypt",
                    code="keyring_env_rotation",
                )
            self._ring = self._ring.with_new_primary(generate_key())
        with self._db.write() as session:
            register_primary(session, self._ring, self._clock)
            AuditLog(session, self._clock).record(
                self._actor,
                "keys.rotate_start",
                target_type="key",
                target_id=self._ring.primary_kid,
                details={"resumed": resumed},
            )
            session.commit()
        report = RotationReport(new_kid=self._ring.primary_kid, resumed=resumed)
        self._reencrypt_all(report, batch_size, progress)
        # A server process may still encrypt with the old primary until it notices the new
        # key file (FOLLOW_SECONDS); wait that out and sweep once more.
        if self._ring.path is not None:
            time.sleep(self._settle)
            self._reencrypt_all(report, batch_size, progress)
        with self._db.write() as session:
            still = sum(count_pending(session, self._ring).values())
            if still == 0:
                for key in session.scalars(
                    select(KeyringKey).where(
                        KeyringKey.retired_at.is_(None), KeyringKey.kid != self._ring.primary_kid
                    )
                ):
                    key.retired_at = self._clock.now()
                    report.retired.append(key.kid)
            AuditLog(session, self._clock).record(
                self._actor,
                "keys.rotate",
                target_type="key",
                target_id=self._ring.primary_kid,
                outcome="success" if still == 0 else "partial",
                details={
                    "reencrypted": sum(report.reencrypted.values()),
                    "retired": report.retired,
                    "resumed": resumed,
                },
            )
            session.commit()
        return report

    def _reencrypt_all(
        self, report: RotationReport, batch_size: int, progress: Progress | None
    ) -> None:
        self._reencrypt_columns(report, batch_size, progress)
        self._reencrypt_json(report, batch_size, progress)

    def _reencrypt_json(
        self, report: RotationReport, batch_size: int, progress: Progress | None
    ) -> None:
        def fresh(token: str) -> str:
            if token.startswith(self._ring.primary_kid + ":"):
                return token
            return self._ring.encrypt(self._ring.decrypt(token))

        for table, column in encrypted_json_columns():
            name = f"{table.name}.{column.name}"
            pk = list(table.primary_key.columns)
            done, after = 0, None
            while True:
                with self._db.write() as session:
                    rows = _json_rows(session, table, column, after, batch_size)
                    if not rows:
                        break
                    for keys, value in rows:
                        if not _json_pending(value, self._ring):
                            continue
                        new = json.dumps(map_secrets(json.loads(value), fresh))
                        cond = [c == k for c, k in zip(pk, keys, strict=True)]
                        # Compare-and-set, as for plain columns.
                        session.execute(
                            update(table).where(*cond, column == value).values({column.name: new})
                        )
                        done += 1
                    session.commit()
                after = rows[-1][0]
            if done:
                report.reencrypted[name] = report.reencrypted.get(name, 0) + done
            if progress:
                progress(name, done, done)

    def _reencrypt_columns(
        self, report: RotationReport, batch_size: int, progress: Progress | None
    ) -> None:
        for table, column in encrypted_columns():
            name = f"{table.name}.{column.name}"
            with self._db.read() as session:
                total = (
                    session.scalar(
                        select(func.count())
                        .select_from(table)
                        .where(_not_primary(column, self._ring))
                    )
                    or 0
                )
            done = 0
            if progress:
                progress(name, done, total)
            pk = list(table.primary_key.columns)
            while True:
                with self._db.write() as session:
                    rows = session.execute(
                        select(*pk, column)
                        .where(_not_primary(column, self._ring))
                        .order_by(*pk)
                        .limit(batch_size)
                    ).all()
                    if not rows:
                        break
                    for row in rows:
                        *keys, value = row
                        fresh = self._ring.encrypt(self._ring.decrypt(value))
                        cond = [c == k for c, k in zip(pk, keys, strict=True)]
                        # Compare-and-set: a row changed meanwhile by the server is left for
                        # the next pass rather than overwritten with stale plaintext.
                        session.execute(
                            update(table).where(*cond, column == value).values({column.name: fresh})
                        )
                    session.commit()
                done += len(rows)
                report.reencrypted[name] = report.reencrypted.get(name, 0) + len(rows)
                if progress:
                    progress(name, min(done, max(total, done)), max(total, done))
