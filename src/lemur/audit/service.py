"""Appending to and reading the audit log (verifying it: audit/chain.py).

Appends run inside the caller's transaction (the event commits or rolls back with the
change it records) and take a row lock on ``audit_head`` first, so concurrent appenders
queue instead of forking the chain. On SQLite the write transaction already holds the
database lock (BEGIN IMMEDIATE).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, Table, select
from sqlalchemy.orm import Session

from lemur.audit.models import AuditEvent, AuditHead
from lemur.clock import Clock
from lemur.errors import InvalidInput, LemurError

GENESIS_HASH = "0" * 64
MAX_SEQ = 2**63 - 1
DetailValue = str | int | bool | None | list[str]


@dataclass(frozen=True)
class Actor:
    """Who acted: ``user:<name>``, ``token:<public id>`` or ``cli``; and from where."""

    name: str
    client_address: str | None = None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit event, as every write and read of the log returns it: the columns of
    ``audit_events`` (read with Core, built field by field, so a column and a field that
    differ fail every read), without the cost of an ORM instance."""

    seq: int
    occurred_at: dt.datetime
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    client_address: str | None
    details: str
    prev_hash: str
    hash: str


_EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(AuditRecord))
# The chain's head as an appender locked it: (seq, hash).
ChainHead = tuple[int, str]


def event_hash(event: AuditRecord) -> str:
    payload = [
        event.seq,
        event.occurred_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        event.actor,
        event.action,
        event.target_type,
        event.target_id,
        event.outcome,
        event.client_address,
        event.details,
        event.prev_hash,
    ]
    encoded = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode()
    return hashlib.sha256(encoded).hexdigest()


_HEAD = cast(Table, AuditHead.__table__)
_LOCK_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()
# The same lock as a CTE, for a statement that has other work to do in the same round trip
# (see lemur.certificates.store.CertificateStore.insert).
LOCKED_HEAD = _LOCK_HEAD.cte("audit_head_locked")
_MOVE_HEAD = _HEAD.update().where(_HEAD.c.id == 1)
_EVENTS = cast(Table, AuditEvent.__table__)
_INSERT_EVENT = _EVENTS.insert()
SELECT_EVENTS = select(*(_EVENTS.c[name] for name in _EVENT_FIELDS))


def checked_head(seq: int | None, hash_: str | None) -> ChainHead:
    """The chain's head as read (NULLs when there is no row, as a scalar subquery gives);
    raises LemurError(audit_head_missing) when the row is gone, so a write fails saying why."""
    if seq is None or hash_ is None:
        raise LemurError(
            "the audit log's head row (audit_head) is missing, so no audited change can be "
            "made; run `lemur audit verify`, which says how to restore it",
            code="audit_head_missing",
        )
    return int(seq), str(hash_)


class AuditLog:
    def __init__(self, session: Session, clock: Clock) -> None:
        self._session = session
        self._clock = clock

    def record(
        self,
        actor: Actor,
        action: str,
        *,
        target_type: str | None = None,
        target_id: str | int | None = None,
        outcome: str = "success",
        details: Mapping[str, DetailValue] | None = None,
    ) -> AuditRecord:
        """Append one event to the current transaction; the caller commits."""
        return self.append(
            self.lock_head(),
            actor,
            action,
            target_type=target_type,
            target_id=target_id,
            outcome=outcome,
            details=details,
        )

    def lock_head(self) -> ChainHead:
        """Lock the chain's head for this transaction and return its (seq, hash). From here
        to the commit, every other appender waits: keep that stretch short."""
        row = self._session.connection().execute(_LOCK_HEAD).one_or_none()
        return checked_head(*row) if row is not None else checked_head(None, None)

    def append(
        self,
        head: ChainHead,
        actor: Actor,
        action: str,
        *,
        target_type: str | None = None,
        target_id: str | int | None = None,
        outcome: str = "success",
        details: Mapping[str, DetailValue] | None = None,
    ) -> AuditRecord:
        """Append one event after ``head`` (from lock_head, in this transaction).

        Plain statements rather than the unit of work, and none whose result is read, so on
        PostgreSQL they can share a pipeline with the commit."""
        conn = self._session.connection()
        head_seq, head_hash = head
        # Microseconds only: the hash must survive a round trip through either database.
        now = self._clock.now().astimezone(dt.UTC)
        unsealed = AuditRecord(
            seq=head_seq + 1,
            occurred_at=now,
            actor=actor.name,
            action=action,
            target_type=target_type,
            target_id=None if target_id is None else str(target_id),
            outcome=outcome,
            client_address=actor.client_address,
            details=json.dumps(dict(details or {}), sort_keys=True, separators=(",", ":")),
            prev_hash=head_hash,
            hash="",
        )
        event = dataclasses.replace(unsealed, hash=event_hash(unsealed))
        conn.execute(_INSERT_EVENT, {name: getattr(event, name) for name in _EVENT_FIELDS})
        conn.execute(_MOVE_HEAD, {"seq": event.seq, "hash": event.hash})
        return event

    def append_many(
        self,
        head: ChainHead,
        actor: Actor,
        action: str,
        events: Sequence[tuple[str | None, str | int | None, Mapping[str, DetailValue]]],
        *,
        outcome: str = "success",
    ) -> list[AuditRecord]:
        """Append one event per (target_type, target_id, details) after ``head``, chained in
        order, with two statements however many (a batch of the renewal pass)."""
        if not events:
            return []
        head_seq, head_hash = head
        now = self._clock.now().astimezone(dt.UTC)
        written: list[AuditRecord] = []
        for target_type, target_id, details in events:
            unsealed = AuditRecord(
                seq=head_seq + 1,
                occurred_at=now,
                actor=actor.name,
                action=action,
                target_type=target_type,
                target_id=None if target_id is None else str(target_id),
                outcome=outcome,
                client_address=actor.client_address,
                details=json.dumps(dict(details), sort_keys=True, separators=(",", ":")),
                prev_hash=head_hash,
                hash="",
            )
            event = dataclasses.replace(unsealed, hash=event_hash(unsealed))
            written.append(event)
            head_seq, head_hash = event.seq, event.hash
        conn = self._session.connection()
        conn.execute(
            _INSERT_EVENT, [{name: getattr(e, name) for name in _EVENT_FIELDS} for e in written]
        )
        conn.execute(_MOVE_HEAD, {"seq": head_seq, "hash": head_hash})
        return written


@dataclass(frozen=True)
class AuditFilter:
    actor: str | None = None
    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditRecord]
    next_cursor: str | None


def fetch_records(session: Session, stmt: Select[Any]) -> list[AuditRecord]:
    return [AuditRecord(*row) for row in session.execute(stmt)]


def events_about(
    session: Session, target_type: str, target_id: int | str, *, limit: int = 100
) -> list[AuditRecord]:
    """The newest events about one target, newest first (one statement)."""
    return fetch_records(
        session,
        SELECT_EVENTS.where(
            _EVENTS.c.target_type == target_type, _EVENTS.c.target_id == str(target_id)
        )
        .order_by(_EVENTS.c.seq.desc())
        .limit(limit),
    )


def parse_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    # isdigit() alone accepts "²" and other non-ASCII digits that int() refuses.
    # isdigit() alone accepts "²" and other non-ASCII digits that int() refuses; seq is a
    # BIGINT, so a larger number would fail in the database instead of here.
    if not (cursor.isascii() and cursor.isdigit()) or int(cursor) > MAX_SEQ:
        raise InvalidInput(
            "cursor is not one this API returned", code="invalid_cursor", field="cursor"
        )
    return int(cursor)


def list_events(session: Session, flt: AuditFilter, *, limit: int, cursor: str | None) -> AuditPage:
    """Newest first; one SELECT per page whatever the filters."""
    stmt = SELECT_EVENTS
    if flt.actor is not None:
        stmt = stmt.where(AuditEvent.actor == flt.actor)
    if flt.action is not None:
        if flt.action.endswith("."):
            stmt = stmt.where(AuditEvent.action.startswith(flt.action, autoescape=True))
        else:
            stmt = stmt.where(AuditEvent.action == flt.action)
    if flt.target_type is not None:
        stmt = stmt.where(AuditEvent.target_type == flt.target_type)
    if flt.target_id is not None:
        stmt = stmt.where(AuditEvent.target_id == flt.target_id)
    if flt.outcome is not None:
        stmt = stmt.where(AuditEvent.outcome == flt.outcome)
    if flt.since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= flt.since)
    if flt.until is not None:
        stmt = stmt.where(AuditEvent.occurred_at < flt.until)
    after = parse_cursor(cursor)
    if after is not None:
        stmt = stmt.where(AuditEvent.seq < after)
    rows = fetch_records(session, stmt.order_by(AuditEvent.seq.desc()).limit(limit + 1))
    more = len(rows) > limit
    rows = rows[:limit]
    return AuditPage(events=rows, next_cursor=str(rows[-1].seq) if more and rows else None)
