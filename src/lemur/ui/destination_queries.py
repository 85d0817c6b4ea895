"""What the destination pages read in one statement each, where the service would read
one destination at a time (its list builds each destination's full view: options,
endpoints, counts). The pages stay a constant number of statements whatever the number of
destinations or deployments (tests/ui/test_destination_pages.py runs them on SQLite and
PostgreSQL, docs/decisions/0022)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from lemur.accounts.models import Team
from lemur.certificates.models import Certificate
from lemur.deployments.models import CertificateDestination, Deployment, Destination, Endpoint


@dataclass(frozen=True)
class DestinationRow:
    id: int
    name: str
    plugin: str
    description: str
    team_id: int | None
    team_name: str | None
    endpoints: int
    certificates: int


def destination_rows(session: Session) -> list[DestinationRow]:
    """Every destination with its team's name and its counts, by name (one statement)."""
    endpoints = (
        select(func.count(Endpoint.id))
        .where(Endpoint.destination_id == Destination.id)
        .correlate(Destination)
        .scalar_subquery()
    )
    certificates = (
        select(func.count(CertificateDestination.certificate_id))
        .where(CertificateDestination.destination_id == Destination.id)
        .correlate(Destination)
        .scalar_subquery()
    )
    rows = session.execute(
        select(Destination, Team.name, endpoints, certificates)
        .outerjoin(Team, Team.id == Destination.team_id)
        .order_by(Destination.name)
    ).all()
    return [
        DestinationRow(
            id=d.id,
            name=d.name,
            plugin=d.plugin,
            description=d.description,
            team_id=d.team_id,
            team_name=team,
            endpoints=int(n_endpoints or 0),
            certificates=int(n_certs or 0),
        )
        for d, team, n_endpoints, n_certs in rows
    ]


@dataclass(frozen=True)
class OpenDestination:
    id: int
    name: str
    plugin: str
    team_id: int | None
    team_name: str | None

    @property
    def label(self) -> str:
        reserved = f", {self.team_name} only" if self.team_name else ""
        return f"{self.name} ({self.plugin}{reserved})"


def open_destinations(session: Session, team_ids: Collection[int] | None) -> list[OpenDestination]:
    """The destinations open to any of ``team_ids`` (those of no team, and those reserved
    for one of them); ``None``: every destination. One statement."""
    query = (
        select(Destination.id, Destination.name, Destination.plugin, Destination.team_id, Team.name)
        .outerjoin(Team, Team.id == Destination.team_id)
        .order_by(Destination.name)
    )
    if team_ids is not None:
        query = query.where(
            or_(Destination.team_id.is_(None), Destination.team_id.in_(list(team_ids)))
        )
    return [
        OpenDestination(id=i, name=name, plugin=plugin, team_id=team_id, team_name=team)
        for i, name, plugin, team_id, team in session.execute(query).all()
    ]


@dataclass(frozen=True)
class DeployedHere:
    certificate_id: int
    common_name: str | None
    not_after: dt.datetime
    team_id: int | None
    state: str
    ref: str | None
    attempts: int
    last_error: str | None
    deployed_at: dt.datetime | None
    verified_at: dt.datetime | None


def deployed_here(session: Session, destination_id: int, *, limit: int = 500) -> list[DeployedHere]:
    """The certificates with a deployment at the destination, newest first (one
    statement; at most ``limit``)."""
    rows = session.execute(
        select(
            Deployment.certificate_id,
            Certificate.common_name,
            Certificate.not_after,
            Certificate.team_id,
            Deployment.state,
            Deployment.ref,
            Deployment.attempts,
            Deployment.last_error,
            Deployment.deployed_at,
            Deployment.verified_at,
        )
        .join(Certificate, Certificate.id == Deployment.certificate_id)
        .where(Deployment.destination_id == destination_id)
        .order_by(Deployment.updated_at.desc(), Deployment.id.desc())
        .limit(limit)
    ).all()
    return [DeployedHere(**row._asdict()) for row in rows]
