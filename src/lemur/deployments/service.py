"""A certificate's destinations: add, deploy again, remove, rotate, and what depends on it.

Deploying needs ``certificate.deploy`` on the certificate's team and a destination open to
that team. The work itself happens in ``deployment.deploy`` jobs (lemur.deployments.runner):
the API answers with the deployments queued, their state follows in
``GET /api/v1/certificates/{id}/deployments``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from lemur.audit.service import AuditLog, DetailValue
from lemur.authorities.models import Authority
from lemur.authz import Action, Principal, allowed, authorize
from lemur.certificates.models import Certificate, CertificateRecord
from lemur.certificates.service import CertificateService
from lemur.clock import Clock
from lemur.db import UnitOfWork
from lemur.deployments.models import (
    CertificateDestination,
    Deployment,
    DeploymentState,
    Destination,
    Endpoint,
)
from lemur.deployments.planning import REMOVE, destinations_for, plan
from lemur.deployments.views import (
    DeploymentView,
    EndpointView,
    deployment_view,
    endpoint_view,
)
from lemur.errors import InvalidInput, NotFound
from lemur.jobs.outbox import enqueue

MAX_BLAST_CERTIFICATES = 1000


@dataclass(frozen=True)
class RotationStep:
    destination_id: int
    destination_name: str
    plugin: str
    old_state: str | None
    endpoints: list[EndpointView]
    action: str  # "deploy" | "already deployed"


@dataclass(frozen=True)
class Rotation:
    old_id: int
    new_id: int
    dry_run: bool
    steps: list[RotationStep]
    deployment_ids: list[int]


@dataclass(frozen=True)
class DependentDestination:
    destination_id: int
    destination_name: str
    plugin: str
    certificate_ids: list[int]
    states: list[str]
    endpoints: list[EndpointView]


@dataclass(frozen=True)
class BlastRadius:
    subject: str  # "certificate:42" | "authority:3"
    certificates: int
    destinations: list[DependentDestination]
    truncated: bool

    @property
    def endpoints(self) -> int:
        return sum(len(d.endpoints) for d in self.destinations)


class DeploymentService:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        certificates: CertificateService,
        clock: Clock,
        actor: Principal,
    ) -> None:
        self._uow = uow
        self._certs = certificates
        self._clock = clock
        self._actor = actor

    def _audit(self, session: Session, action: str, cert_id: int, **details: DetailValue) -> None:
        AuditLog(session, self._clock).record(
            self._actor.audit_actor,
            action,
            target_type="certificate",
            target_id=cert_id,
            details=details,
        )

    def _deployable(self, certificate_id: int) -> CertificateRecord:
        record = self._certs.get(certificate_id, Action.CERTIFICATE_DEPLOY)
        if not record.has_private_key:
            raise InvalidInput(
                f"certificate {certificate_id} has no private key in Lemur (issued from a CSR "
                "or imported without one): it cannot be deployed",
                code="no_private_key",
                field="certificate_id",
            )
        if record.revoked_at is not None:
            raise InvalidInput(
                f"certificate {certificate_id} is revoked: deploy its replacement instead",
                code="certificate_revoked",
                field="certificate_id",
            )
        return record

    def deployments(self, certificate_id: int) -> list[DeploymentView]:
        """The certificate's deployments, one per destination (one statement)."""
        self._certs.get(certificate_id)
        rows = self._uow.read.execute(
            select(Deployment, Destination)
            .join(Destination, Destination.id == Deployment.destination_id)
            .where(Deployment.certificate_id == certificate_id)
            .order_by(Destination.name)
        ).all()
        return [deployment_view(d, dest) for d, dest in rows]

    def add(self, certificate_id: int, destination_ids: Sequence[int]) -> list[DeploymentView]:
        """Attach the certificate to destinations and deploy it there."""
        record = self._deployable(certificate_id)
        if not destination_ids:
            raise InvalidInput(
                "name at least one destination", code="destinations_required", field="destinations"
            )
        with self._uow.write() as tx:
            chosen = destinations_for(
                tx.session, destination_ids, team_id=record.team_id, field="destinations"
            )
            plan(
                tx.session,
                record.id,
                [d.id for d in chosen],
                by=self._actor.actor_name,
                now=self._clock.now(),
            )
            self._audit(
                tx.session,
                "certificate.deploy_request",
                record.id,
                destinations=[d.name for d in chosen],
            )
        return self.deployments(certificate_id)

    def redeploy(
        self, certificate_id: int, destination_ids: Collection[int] | None = None
    ) -> list[DeploymentView]:
        """Deploy again to every destination of the certificate (or the ones named)."""
        record = self._deployable(certificate_id)
        attached = list(
            self._uow.read.scalars(
                select(CertificateDestination.destination_id).where(
                    CertificateDestination.certificate_id == certificate_id
                )
            )
        )
        wanted = list(destination_ids) if destination_ids else attached
        if not wanted:
            raise InvalidInput(
                f"certificate {certificate_id} has no destinations: add one first",
                code="no_destinations",
                field="destinations",
            )
        return self.add(record.id, wanted)

    def remove(self, certificate_id: int, destination_id: int) -> list[DeploymentView]:
        """Detach the certificate from a destination and remove it there (where the plugin
        can; a removal job does it)."""
        record = self._certs.get(certificate_id, Action.CERTIFICATE_DEPLOY)
        now = self._clock.now()
        with self._uow.write() as tx:
            link = tx.session.get(CertificateDestination, (record.id, destination_id))
            if link is None:
                raise NotFound(
                    f"certificate {certificate_id} is not at destination {destination_id}",
                    code="destination_not_attached",
                    field="destination_id",
                )
            tx.session.delete(link)
            row = tx.session.scalar(
                select(Deployment).where(
                    Deployment.certificate_id == record.id,
                    Deployment.destination_id == destination_id,
                )
            )
            destination = tx.session.get(Destination, destination_id)
            if row is not None:
                placed = row.ref is not None and row.state != DeploymentState.REMOVED.value
                row.state = (DeploymentState.REMOVING if placed else DeploymentState.REMOVED).value
                row.round += 1
                row.updated_at = now
                if placed:
                    enqueue(
                        tx.session,
                        REMOVE,
                        {"deployment_id": row.id},
                        now=now,
                        key=f"{REMOVE}:{row.id}:{row.round}",
                    )
            self._audit(
                tx.session,
                "certificate.remove_destination",
                record.id,
                destination=destination.name if destination else str(destination_id),
            )
        return self.deployments(certificate_id)

    def rotate(self, old_id: int, new_id: int, *, dry_run: bool) -> Rotation:
        """Put ``new_id`` everywhere ``old_id`` is deployed (its destinations and their
        endpoints and listeners). The old one leaves each destination once the new one is
        verified there. ``dry_run`` shows the steps and changes nothing."""
        if old_id == new_id:
            raise InvalidInput(
                "a certificate cannot replace itself", code="same_certificate", field="to"
            )
        old = self._certs.get(old_id, Action.CERTIFICATE_DEPLOY)
        new = self._deployable(new_id)
        read = self._uow.read
        rows = read.execute(
            select(CertificateDestination.destination_id, Destination, Deployment.state)
            .join(Destination, Destination.id == CertificateDestination.destination_id)
            .outerjoin(
                Deployment,
                (Deployment.certificate_id == CertificateDestination.certificate_id)
                & (Deployment.destination_id == CertificateDestination.destination_id),
            )
            .where(CertificateDestination.certificate_id == old.id)
            .order_by(Destination.name)
        ).all()
        endpoints = _endpoints_by_destination(read, [r[0] for r in rows])
        new_state = dict(
            read.execute(
                select(Deployment.destination_id, Deployment.state).where(
                    Deployment.certificate_id == new.id
                )
            ).all()
        )
        steps = [
            RotationStep(
                destination_id=dest.id,
                destination_name=dest.name,
                plugin=dest.plugin,
                old_state=state,
                endpoints=endpoints.get(dest.id, []),
                action="already deployed"
                if new_state.get(dest.id) == DeploymentState.DEPLOYED.value
                else "deploy",
            )
            for _, dest, state in rows
        ]
        if dry_run:
            return Rotation(old.id, new.id, True, steps, [])
        todo = [s.destination_id for s in steps if s.action == "deploy"]
        ids: list[int] = []
        with self._uow.write() as tx:
            destinations_for(tx.session, todo, team_id=new.team_id, field="destinations")
            ids = plan(
                tx.session,
                new.id,
                todo,
                by=self._actor.actor_name,
                now=self._clock.now(),
                replaces={d: old.id for d in todo},
            )
            self._audit(
                tx.session,
                "certificate.rotate",
                new.id,
                replaces=old.id,
                destinations=[s.destination_name for s in steps],
            )
        return Rotation(old.id, new.id, False, steps, ids)

    def blast_radius_of_certificate(self, certificate_id: int) -> BlastRadius:
        record = self._certs.get(certificate_id)
        return self._blast(f"certificate:{record.id}", [record.id], truncated=False)

    def blast_radius_of_authority(self, authority_id: int) -> BlastRadius:
        """Every destination and endpoint serving a certificate the authority issued (that
        the caller may see)."""
        authorize(self._actor, Action.AUTHORITY_READ)
        read = self._uow.read
        if read.get(Authority, authority_id) is None:
            raise NotFound(
                f"no authority with id {authority_id}",
                code="authority_not_found",
                field="authority_id",
            )
        rows = read.execute(
            select(Certificate.id, Certificate.team_id)
            .join(CertificateDestination, CertificateDestination.certificate_id == Certificate.id)
            .where(Certificate.authority_id == authority_id)
            .distinct()
            .limit(MAX_BLAST_CERTIFICATES + 1)
        ).all()
        visible = [
            cid
            for cid, team in rows
            if allowed(self._actor, Action.CERTIFICATE_READ, team_id=team if team else -1)
        ]
        truncated = len(rows) > MAX_BLAST_CERTIFICATES
        return self._blast(
            f"authority:{authority_id}", visible[:MAX_BLAST_CERTIFICATES], truncated=truncated
        )

    def _blast(self, subject: str, certificate_ids: list[int], *, truncated: bool) -> BlastRadius:
        read = self._uow.read
        rows = (
            read.execute(
                select(CertificateDestination.certificate_id, Destination, Deployment.state)
                .join(Destination, Destination.id == CertificateDestination.destination_id)
                .outerjoin(
                    Deployment,
                    (Deployment.certificate_id == CertificateDestination.certificate_id)
                    & (Deployment.destination_id == CertificateDestination.destination_id),
                )
                .where(CertificateDestination.certificate_id.in_(certificate_ids))
                .order_by(Destination.name, CertificateDestination.certificate_id)
            ).all()
            if certificate_ids
            else []
        )
        grouped: dict[int, tuple[Destination, list[int], list[str]]] = {}
        for cert_id, dest, state in rows:
            entry = grouped.setdefault(dest.id, (dest, [], []))
            entry[1].append(cert_id)
            entry[2].append(state or DeploymentState.PENDING.value)
        endpoints = _endpoints_by_destination(read, list(grouped))
        return BlastRadius(
            subject=subject,
            certificates=len({cid for cid, _, _ in rows}),
            destinations=[
                DependentDestination(
                    destination_id=dest.id,
                    destination_name=dest.name,
                    plugin=dest.plugin,
                    certificate_ids=ids,
                    states=states,
                    endpoints=endpoints.get(dest.id, []),
                )
                for dest, ids, states in grouped.values()
            ],
            truncated=truncated,
        )


def _endpoints_by_destination(
    session: Session, destination_ids: Sequence[int]
) -> dict[int, list[EndpointView]]:
    out: dict[int, list[EndpointView]] = {}
    if not destination_ids:
        return out
    for endpoint in session.scalars(
        select(Endpoint)
        .where(Endpoint.destination_id.in_(list(destination_ids)))
        .order_by(Endpoint.id)
    ):
        out.setdefault(endpoint.destination_id, []).append(endpoint_view(endpoint))
    return out
