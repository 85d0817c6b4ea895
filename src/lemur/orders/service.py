"""Reading pending requests: one, or a page of them (newest first), as the caller may see
them (their teams' requests; staff and read-only users see all)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, select

from lemur.accounts.models import Team
from lemur.authorities.models import Authority
from lemur.authz import Action, Principal, allowed, authorize
from lemur.db import UnitOfWork
from lemur.errors import InvalidInput, NotFound
from lemur.orders.models import CertificateRequest, RequestState
from lemur.orders.records import RequestRecord


@dataclass(frozen=True)
class RequestPage:
    items: list[RequestRecord]
    next_cursor: str | None


def _cursor(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or len(value) > 18:
        raise InvalidInput("cursor is not one this API gave", code="invalid_cursor", field="cursor")
    return int(value)


class RequestService:
    def __init__(self, uow: UnitOfWork, *, actor: Principal) -> None:
        self._uow = uow
        self._actor = actor

    @staticmethod
    def _select() -> Select[CertificateRequest, str, str]:
        return (
            select(CertificateRequest, Authority.name, Team.name)
            .join(Authority, Authority.id == CertificateRequest.authority_id)
            .join(Team, Team.id == CertificateRequest.team_id)
        )

    def get(self, request_id: int) -> RequestRecord:
        """Raises NotFound also for a request of a team the caller may not see."""
        found = self._uow.read.execute(
            self._select().where(CertificateRequest.id == request_id)
        ).one_or_none()
        if found is None or not allowed(
            self._actor, Action.CERTIFICATE_READ, team_id=found[0].team_id
        ):
            raise NotFound(
                f"no request with id {request_id}", code="request_not_found", field="request_id"
            )
        row, authority_name, team_name = found
        return RequestRecord.of(row, authority_name, team_name)

    def page(self, *, state: RequestState | None, limit: int, cursor: str | None) -> RequestPage:
        """Newest first, ``limit`` per page, in one statement."""
        authorize(self._actor, Action.CERTIFICATE_READ)
        statement = self._select().order_by(CertificateRequest.id.desc()).limit(limit + 1)
        before = _cursor(cursor)
        if before is not None:
            statement = statement.where(CertificateRequest.id < before)
        if state is not None:
            statement = statement.where(CertificateRequest.state == state.value)
        # Allowed on a team nobody belongs to: the caller reads every team's (staff,
        # read-only users); else only their teams'.
        if not allowed(self._actor, Action.CERTIFICATE_READ, team_id=-1):
            statement = statement.where(
                CertificateRequest.team_id.in_(sorted(self._actor.team_ids))
            )
        rows = self._uow.read.execute(statement).all()
        items = [RequestRecord.of(r, a, t) for r, a, t in rows[:limit]]
        more = len(rows) > limit
        return RequestPage(items, str(items[-1].id) if more and items else None)
