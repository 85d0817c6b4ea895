"""``deployment.deploy`` (one certificate to one destination: place, switch, verify, roll
back) and ``deployment.remove`` (take it off a destination)."""

from __future__ import annotations

from sqlalchemy import select

from lemur.audit.service import Actor, AuditLog
from lemur.deployments.destinations import destination_plugin, stored_options
from lemur.deployments.models import Deployment, DeploymentState, Destination
from lemur.deployments.planning import DEPLOY, REMOVE
from lemur.deployments.runner import DeploymentRunner
from lemur.jobs.registry import JobContext, JobKind, PermanentJobError
from lemur.plugins.errors import PluginError, PluginTransientError
from lemur.plugins.values import DeploymentRef


def _deployment_id(ctx: JobContext) -> int:
    value = ctx.args.get("deployment_id")
    if not isinstance(value, int) or isinstance(value, bool):
        raise PermanentJobError(f"{ctx.kind}: deployment_id must be an integer")
    return value


def deploy(ctx: JobContext) -> None:
    DeploymentRunner(ctx.container).run(ctx)


def remove(ctx: JobContext) -> None:
    """Remove what a deployment placed, where the plugin can. A deployment deployed again
    since the removal was asked (state no longer ``removing``) is left alone."""
    deployment_id = _deployment_id(ctx)
    container = ctx.container
    with container.db.read() as session:
        row = session.get(Deployment, deployment_id)
        if row is None or row.state != DeploymentState.REMOVING.value or not row.ref:
            return
        destination = session.scalar(
            select(Destination).where(Destination.id == row.destination_id)
        )
        if destination is None:
            return
        session.expunge_all()
    try:
        with destination_plugin(
            container, destination.plugin, stored_options(container, destination)
        ) as plugin:
            plugin.remove(DeploymentRef(row.ref))
    except PluginTransientError:
        raise
    except PluginError as exc:
        raise PermanentJobError(f"destination '{destination.name}': {exc.message}") from None
    with container.db.write() as session:
        fresh = session.get(Deployment, deployment_id)
        if fresh is None or fresh.state != DeploymentState.REMOVING.value:
            return
        fresh.state = DeploymentState.REMOVED.value
        fresh.updated_at = container.clock.now()
        AuditLog(session, container.clock).record(
            Actor("job:deployment.remove"),
            "certificate.undeploy",
            target_type="certificate",
            target_id=fresh.certificate_id,
            details={"destination": destination.name, "ref": fresh.ref},
        )
        session.commit()


KINDS = (
    JobKind(
        DEPLOY,
        deploy,
        "deploys a certificate to a destination, verifies it is served, rolls back if not",
        max_attempts=5,
        backoff_base=30.0,
        lease_seconds=600,
    ),
    JobKind(
        REMOVE,
        remove,
        "removes a certificate from a destination",
        max_attempts=5,
        backoff_base=30.0,
        lease_seconds=300,
    ),
)
