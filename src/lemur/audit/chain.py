"""Verifying the audit log: walking the hash chain, and checking that a head recorded
elsewhere is still in it (the log only grew)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from lemur.audit.models import AuditEvent, AuditHead
from lemur.audit.service import (
    GENESIS_HASH,
    MAX_SEQ,
    SELECT_EVENTS,
    AuditRecord,
    event_hash,
    fetch_records,
)
from lemur.errors import InvalidInput


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    kind: str  # changed | deleted | inserted | truncated
    message: str


@dataclass
class VerifyResult:
    checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    problems: list[ChainProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _iterate(session: Session, batch: int) -> Iterator[AuditRecord]:
    last = 0
    while True:
        rows = fetch_records(
            session,
            SELECT_EVENTS.where(AuditEvent.seq > last).order_by(AuditEvent.seq).limit(batch),
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify_chain(session: Session, *, batch: int = 2000, max_problems: int = 50) -> VerifyResult:
    """Walk the whole chain and name every place where it is broken."""
    result = VerifyResult()
    expected_seq = 1
    prev_hash = GENESIS_HASH
    for event in _iterate(session, batch):
        result.checked += 1
        if event.seq > expected_seq:
            missing = (
                f"{expected_seq}"
                if event.seq == expected_seq + 1
                else (f"{expected_seq}-{event.seq - 1}")
            )
            # Named by the first missing seq, as "truncated" is.
            result.problems.append(
                ChainProblem(
                    expected_seq,
                    "deleted",
                    f"event(s) {missing} deleted before event {event.seq}",
                )
            )
        elif event.prev_hash != prev_hash:
            # The event whose link is broken is intact; the culprit is the one before it,
            # which does not carry the hash its successor was chained to.
            result.problems.append(
                ChainProblem(
                    event.seq - 1,
                    "inserted",
                    f"event {event.seq} does not follow event {event.seq - 1}: event "
                    f"{event.seq - 1} was inserted, or rewritten together with its hash",
                )
            )
        if event_hash(event) != event.hash:
            result.problems.append(
                ChainProblem(
                    event.seq, "changed", f"event {event.seq} was changed after it was written"
                )
            )
        expected_seq = event.seq + 1
        prev_hash = event.hash
        if len(result.problems) >= max_problems:
            return result
    head = session.get(AuditHead, 1)
    last = expected_seq - 1
    if head is None:
        result.head_seq, result.head_hash = last, prev_hash
        # Shown to the operator, never executed; an int and a hex digest only.
        repair = f"INSERT INTO audit_head (id, seq, hash) VALUES (1, {last}, '{prev_hash}')"  # noqa: S608
        result.problems.append(
            ChainProblem(
                last,
                "head_missing",
                "the audit_head row is missing, so every audited change fails. If no other "
                "problem is listed, restore it as the last event's seq and hash: "
                f"{repair}; "
                "then verify against a head recorded elsewhere (--expect-head) to make sure no "
                "event was deleted at the end",
            )
        )
    else:
        result.head_seq, result.head_hash = head.seq, head.hash
        if last > head.seq:
            result.problems.append(
                ChainProblem(
                    head.seq + 1,
                    "inserted",
                    f"event(s) {head.seq + 1}-{last} were inserted after the recorded head "
                    f"(event {head.seq})",
                )
            )
        elif last < head.seq:
            result.problems.append(
                ChainProblem(
                    last + 1,
                    "truncated",
                    f"the log ends at event {last} but its head records event {head.seq}: "
                    f"event(s) {last + 1}-{head.seq} were deleted",
                )
            )
        elif head.hash != prev_hash:
            result.problems.append(
                ChainProblem(
                    last,
                    "changed",
                    f"event {last} does not carry the hash recorded in the head: it was "
                    "rewritten together with its hash",
                )
            )
    return result


@dataclass(frozen=True)
class RecordedHead:
    """A head recorded elsewhere earlier: ``SEQ:HASH``, or a bare hash (the older form)."""

    seq: int | None
    hash: str

    @classmethod
    def parse(cls, value: str, *, field: str = "expect_head") -> RecordedHead:
        seq_text, sep, hash_ = value.strip().rpartition(":")
        hash_ = hash_.lower()
        valid_hash = len(hash_) == 64 and all(c in "0123456789abcdef" for c in hash_)
        valid_seq = not sep or (
            seq_text.isascii() and seq_text.isdigit() and 0 < int(seq_text) <= MAX_SEQ
        )
        if not (valid_hash and valid_seq):
            raise InvalidInput(
                "expected SEQ:HASH as printed by `lemur audit head` (or a bare 64-hex-digit hash)",
                code="invalid_audit_head",
                field=field,
            )
        return cls(int(seq_text) if sep else None, hash_)

    def __str__(self) -> str:
        return self.hash if self.seq is None else f"{self.seq}:{self.hash}"


def check_recorded_head(session: Session, recorded: RecordedHead) -> ChainProblem | None:
    """Whether the event recorded as the head earlier is still in the log, unchanged.

    Together with an intact chain (verify_chain) this proves the log only grew since: every
    later event links back to it. A log truncated or rewound to before it, or rewritten
    from it on with fresh hashes (all invisible from inside the database), fails here."""
    seq = recorded.seq
    if seq is None:
        seq = session.scalar(select(AuditEvent.seq).where(AuditEvent.hash == recorded.hash))
        if seq is None:
            return ChainProblem(
                0,
                "head_mismatch",
                f"no event carries the recorded head hash {recorded.hash}: the log was "
                "rewritten or truncated since it was recorded",
            )
    found = session.scalar(select(AuditEvent.hash).where(AuditEvent.seq == seq))
    if found is None:
        return ChainProblem(
            seq,
            "head_mismatch",
            f"event {seq}, recorded earlier as the head, is gone: the log was truncated or "
            "rewound since it was recorded",
        )
    if found != recorded.hash:
        return ChainProblem(
            seq,
            "head_mismatch",
            f"event {seq} carries hash {found}, not the {recorded.hash} recorded earlier: the "
            "log was rewritten from there on",
        )
    return None


def current_head(session: Session) -> tuple[int, str] | None:
    """The head row's (seq, hash), or None if the row is missing."""
    head = session.get(AuditHead, 1)
    return None if head is None else (head.seq, head.hash)
