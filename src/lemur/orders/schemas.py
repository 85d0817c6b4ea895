"""The pending request as the API shows it."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from lemur.orders.models import RequestState
from lemur.orders.records import RequestRecord


class RequestOut(BaseModel):
    id: int
    state: RequestState = Field(
        description="pending (at the CA, polled by Lemur), issued (certificate_id is the "
        "certificate), failed (last_error says why), cancelled"
    )
    authority_id: int
    authority: str
    team_id: int
    team: str
    requested_by: str
    common_name: str | None
    names: list[str]
    external_id: str = Field(description="the CA's reference (an ACME order URL, an ARN)")
    note: str = Field(description="what the CA is doing, in plain words")
    last_error: str | None = Field(
        description="why it failed, or the last error while polling (the CA unreachable)"
    )
    polls: int = Field(description="answers received from the CA so far")
    failures: int = Field(description="polls in a row that could not reach the CA")
    next_poll_at: dt.datetime | None
    replaces_id: int | None = Field(description="the certificate this request renews")
    certificate_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    location: str = Field(description="where to poll this request")

    @classmethod
    def of(cls, r: RequestRecord) -> RequestOut:
        return cls(
            id=r.id,
            state=r.state,
            authority_id=r.authority_id,
            authority=r.authority_name,
            team_id=r.team_id,
            team=r.team_name,
            requested_by=r.requested_by,
            common_name=r.common_name,
            names=list(r.names),
            external_id=r.external_id,
            note=r.note,
            last_error=r.last_error,
            polls=r.polls,
            failures=r.failures,
            next_poll_at=r.next_poll_at,
            replaces_id=r.replaces_id,
            certificate_id=r.certificate_id,
            created_at=r.created_at,
            updated_at=r.updated_at,
            finished_at=r.finished_at,
            location=f"/api/v1/requests/{r.id}",
        )


class RequestPageOut(BaseModel):
    items: list[RequestOut]
    next_cursor: str | None
