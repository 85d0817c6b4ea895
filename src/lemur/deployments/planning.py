"""Planning deployments: the rows and jobs written in the caller's transaction.

Issuing with destinations, a renewal (the successor goes where its predecessor is), a
redeploy and a rotation all end here: the certificate is attached to each destination,
its deployment row is (re)set to pending with the certificate it replaces there, and one
``deployment.deploy`` job per destination is enqueued. The job exists exactly when the
change that asked for it is committed (the jobs table is the outbox).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from lemur.certificates.models import Certificate
from lemur.deployments.models import (
    CertificateDestination,
    Deployment,
    DeploymentState,
    Destination,
)
from lemur.errors import InvalidInput, NotFound
from lemur.jobs.outbox import enqueue

DEPLOY = "deployment.deploy"
REMOVE = "deployment.remove"


def open_to(destination: Destination, team_id: int | None) -> bool:
    """Whether certificates of ``team_id`` may be deployed to ``destination``."""
    return destination.team_id is None or destination.team_id == team_id


def destinations_for(
    session: Session, ids: Collection[int], *, team_id: int | None, field: str
) -> list[Destination]:
    """The destinations ``ids``, each open to the team. Raises InvalidInput naming the
    index of the one at fault (``destinations[1]``)."""
    wanted = list(dict.fromkeys(ids))
    rows = {d.id: d for d in session.scalars(select(Destination).where(Destination.id.in_(wanted)))}
    for index, destination_id in enumerate(wanted):
        row = rows.get(destination_id)
        if row is None:
            raise InvalidInput(
                f"no destination with id {destination_id}",
                code="destination_not_found",
                field=f"{field}[{index}]",
            )
        if not open_to(row, team_id):
            raise InvalidInput(
                f"destination '{row.name}' is reserved for another team",
                code="destination_not_allowed",
                field=f"{field}[{index}]",
            )
    return [rows[i] for i in wanted]


def _deployed(session: Session, certificate_id: int, destination_id: int) -> bool:
    return (
        session.scalar(
            select(Deployment.id).where(
                Deployment.certificate_id == certificate_id,
                Deployment.destination_id == destination_id,
                Deployment.state == DeploymentState.DEPLOYED.value,
            )
        )
        is not None
    )


def _same_lineage_deployed(
    session: Session, certificate: Certificate, destination_id: int
) -> int | None:
    if certificate.lineage_id is None:
        return None
    return session.scalar(
        select(Deployment.certificate_id)
        .join(Certificate, Certificate.id == Deployment.certificate_id)
        .where(
            Deployment.destination_id == destination_id,
            Deployment.state == DeploymentState.DEPLOYED.value,
            Deployment.certificate_id != certificate.id,
            Certificate.lineage_id == certificate.lineage_id,
        )
        .order_by(Deployment.deployed_at.desc())
        .limit(1)
    )


def plan(
    session: Session,
    certificate_id: int,
    destination_ids: Collection[int],
    *,
    by: str,
    now: dt.datetime,
    replaces: Mapping[int, int] | None = None,
) -> list[int]:
    """Attach ``certificate_id`` to each destination and queue its deployment there.
    ``replaces`` maps a destination to the certificate this one takes the place of (a
    rotation's old certificate, a renewal's predecessor) when that one is deployed there;
    otherwise it replaces the deployed one of its lineage (a predecessor whose own
    deployment was rolled back left its predecessor in place).
    Returns the deployment ids."""
    certificate = session.get(Certificate, certificate_id)
    if certificate is None:
        raise NotFound(
            f"no certificate with id {certificate_id}",
            code="certificate_not_found",
            field="certificate_id",
        )
    ids: list[int] = []
    for destination_id in dict.fromkeys(destination_ids):
        if session.get(CertificateDestination, (certificate_id, destination_id)) is None:
            session.add(
                CertificateDestination(
                    certificate_id=certificate_id,
                    destination_id=destination_id,
                    added_at=now,
                    added_by=by,
                )
            )
        explicit = (replaces or {}).get(destination_id)
        previous = (
            explicit
            if explicit is not None and _deployed(session, explicit, destination_id)
            else _same_lineage_deployed(session, certificate, destination_id)
        )
        row = session.scalar(
            select(Deployment).where(
                Deployment.certificate_id == certificate_id,
                Deployment.destination_id == destination_id,
            )
        )
        if row is None:
            row = Deployment(
                certificate_id=certificate_id,
                destination_id=destination_id,
                attempts=0,
                round=0,
                created_at=now,
            )
            session.add(row)
        row.state = DeploymentState.PENDING.value
        row.previous_id = previous if previous != certificate_id else None
        row.round = (row.round or 0) + 1
        row.attempts = 0
        row.last_error = None
        row.requested_by = by
        row.updated_at = now
        session.flush()
        enqueue(
            session,
            DEPLOY,
            {"deployment_id": row.id, "round": row.round},
            now=now,
            key=f"{DEPLOY}:{row.id}:{row.round}",
        )
        ids.append(row.id)
    return ids


def carry_to_successor(
    session: Session, predecessor_id: int, successor_id: int, *, by: str, now: dt.datetime
) -> list[int]:
    """A renewal's successor goes to every destination of the certificate it replaces."""
    destination_ids = session.scalars(
        select(CertificateDestination.destination_id).where(
            CertificateDestination.certificate_id == predecessor_id
        )
    ).all()
    if not destination_ids:
        return []
    return plan(
        session,
        successor_id,
        destination_ids,
        by=by,
        now=now,
        replaces={d: predecessor_id for d in destination_ids},
    )
