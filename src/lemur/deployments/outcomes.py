"""Recording a deployment's outcome: the row's state, the endpoints' last seen
certificate, the replaced certificate retired from the destination, and the audit event
(``certificate.deploy`` with ``key: true``, or ``certificate.deploy_failed``, which the
events pass turns into ``deployment_failed`` notices). Each outcome is one transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from lemur.audit.service import Actor, AuditLog, DetailValue
from lemur.deployments.models import (
    CertificateDestination,
    Deployment,
    DeploymentState,
    Destination,
    Endpoint,
)
from lemur.plugins.values import DeploymentRef

if TYPE_CHECKING:
    from lemur.container import Container

ACTOR = Actor("job:deployment.deploy")
MAX_ERROR = 1000


@dataclass(frozen=True)
class Target:
    deployment_id: int
    certificate_id: int
    team_id: int | None
    destination: Destination
    endpoints: tuple[Endpoint, ...]
    previous_id: int | None
    previous_ref: str | None


class Outcomes:
    def __init__(self, container: Container) -> None:
        self._c = container

    def _audit(self, session: Any, action: str, cert_id: int, **details: DetailValue) -> None:
        AuditLog(session, self._c.clock).record(
            ACTOR, action, target_type="certificate", target_id=cert_id, details=details
        )

    def _record_endpoints(
        self, session: Any, seen: dict[int, str | None], now: dt.datetime
    ) -> None:
        for endpoint_id, fp in seen.items():
            endpoint = session.get(Endpoint, endpoint_id)
            if endpoint is not None:
                endpoint.last_fingerprint = fp
                endpoint.last_seen_at = now
                endpoint.last_error = None if fp else "not serving the deployed certificate"

    def deployed(self, target: Target, ref: DeploymentRef, seen: dict[int, str | None]) -> None:
        now = self._c.clock.now()
        with self._c.db.write() as session:
            row = session.get(Deployment, target.deployment_id)
            if row is None:
                return
            row.state = DeploymentState.DEPLOYED.value
            row.ref = ref.value
            row.attempts += 1
            row.last_error = None
            row.deployed_at = row.verified_at = row.updated_at = now
            if target.previous_id is not None:
                self._retire(session, target.previous_id, target.destination.id, now)
            self._record_endpoints(session, seen, now)
            self._audit(
                session,
                "certificate.deploy",
                target.certificate_id,
                destination=target.destination.name,
                destination_id=target.destination.id,
                ref=ref.value,
                key=True,
                endpoints=len(seen),
                replaces=target.previous_id,
            )
            session.commit()

    def _retire(
        self, session: Any, certificate_id: int, destination_id: int, now: dt.datetime
    ) -> None:
        old = session.scalar(
            select(Deployment).where(
                Deployment.certificate_id == certificate_id,
                Deployment.destination_id == destination_id,
            )
        )
        if old is not None:
            old.state = DeploymentState.REPLACED.value
            old.updated_at = now
        session.execute(
            delete(CertificateDestination).where(
                CertificateDestination.certificate_id == certificate_id,
                CertificateDestination.destination_id == destination_id,
            )
        )

    def not_served(
        self,
        target: Target,
        ref: DeploymentRef | None,
        problems: list[str],
        seen: dict[int, str | None],
        *,
        rolled_back: bool,
    ) -> None:
        now = self._c.clock.now()
        error = "; ".join(problems)[:MAX_ERROR]
        if rolled_back:
            error = f"{error} (certificate {target.previous_id} restored)"[:MAX_ERROR]
        with self._c.db.write() as session:
            row = session.get(Deployment, target.deployment_id)
            if row is None:
                return
            row.state = (
                DeploymentState.ROLLED_BACK if rolled_back else DeploymentState.FAILED
            ).value
            row.ref = ref.value if ref is not None else row.ref
            row.attempts += 1
            row.last_error = error
            row.updated_at = now
            self._record_endpoints(session, seen, now)
            self._audit(
                session,
                "certificate.deploy_failed",
                target.certificate_id,
                destination=target.destination.name,
                destination_id=target.destination.id,
                error=error,
                rolled_back=rolled_back,
                team_id=target.team_id,
            )
            session.commit()

    def failed(self, target: Target, error: str, *, final: bool) -> None:
        """A placement that failed: for good (``final``: as a deployment that was not
        served, without a rollback), or to be retried (the row says so, nothing audited)."""
        if final:
            self.not_served(target, None, [error], {}, rolled_back=False)
            return
        with self._c.db.write() as session:
            row = session.get(Deployment, target.deployment_id)
            if row is None:
                return
            row.attempts += 1
            row.last_error = f"will retry: {error}"[:MAX_ERROR]
            row.updated_at = self._c.clock.now()
            session.commit()
