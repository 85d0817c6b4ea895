"""A pending request as every read and write returns it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from lemur.orders.models import CertificateRequest, RequestState


@dataclass(frozen=True)
class RequestRecord:
    id: int
    state: RequestState
    authority_id: int
    authority_name: str
    team_id: int
    team_name: str
    requested_by: str
    external_id: str
    note: str
    last_error: str | None
    polls: int
    failures: int
    next_poll_at: dt.datetime | None
    common_name: str | None
    names: tuple[str, ...]
    replaces_id: int | None
    certificate_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None

    @classmethod
    def of(
        cls, row: CertificateRequest | Any, authority_name: str, team_name: str
    ) -> RequestRecord:
        return cls(
            id=row.id,
            state=RequestState(row.state),
            authority_id=row.authority_id,
            authority_name=authority_name,
            team_id=row.team_id,
            team_name=team_name,
            requested_by=row.requested_by,
            external_id=row.external_id,
            note=row.note or "",
            last_error=row.last_error,
            polls=row.polls,
            failures=row.failures,
            next_poll_at=row.next_poll_at,
            common_name=row.common_name,
            names=tuple(n for n in (row.names or "").split(",") if n),
            replaces_id=row.replaces_id,
            certificate_id=row.certificate_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
            finished_at=row.finished_at,
        )
