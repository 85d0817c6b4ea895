from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import BaseModel

from lemur.audit.chain import VerifyResult
from lemur.audit.service import AuditRecord


class AuditEventOut(BaseModel):
    seq: int
    occurred_at: dt.datetime
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    outcome: str
    client_address: str | None
    details: dict[str, Any]
    hash: str

    @classmethod
    def of(cls, event: AuditRecord) -> AuditEventOut:
        return cls(
            seq=event.seq,
            occurred_at=event.occurred_at,
            actor=event.actor,
            action=event.action,
            target_type=event.target_type,
            target_id=event.target_id,
            outcome=event.outcome,
            client_address=event.client_address,
            details=json.loads(event.details),
            hash=event.hash,
        )


class AuditPageOut(BaseModel):
    items: list[AuditEventOut]
    next_cursor: str | None


class ChainProblemOut(BaseModel):
    seq: int
    kind: str
    message: str


class VerifyOut(BaseModel):
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    problems: list[ChainProblemOut]

    @classmethod
    def of(cls, result: VerifyResult) -> VerifyOut:
        return cls(
            ok=result.ok,
            checked=result.checked,
            head_seq=result.head_seq,
            head_hash=result.head_hash,
            problems=[
                ChainProblemOut(seq=p.seq, kind=p.kind, message=p.message) for p in result.problems
            ],
        )
