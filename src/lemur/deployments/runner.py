"""Running one deployment (the ``deployment.deploy`` job): place, switch, verify, and roll
back when the target does not serve the new certificate.

1. The bundle (certificate, chain, key decrypted only here) goes to the destination
   plugin, with the reference of the certificate it replaces there.
2. Every listener endpoint of the destination is switched to it (load balancers).
3. Verification: every TLS endpoint must present it (by fingerprint) with a chain that
   verifies to its root; every listener must serve it.
4. Verified: ``deployed``; the replaced certificate's deployment becomes ``replaced`` and
   it leaves the destination. Not verified: the replaced certificate is deployed again
   (``rolled_back``); the owners hear of it (``certificate.deploy_failed``).

Transient faults (unreachable, throttled, a reload that hangs) are retried by the job with
backoff; the row says ``pending`` with the last error until the last attempt, then
``failed``. The key's deployment is audited (``certificate.deploy``, ``key: true``); the
outcomes are recorded by lemur.deployments.outcomes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from cryptography import x509
from sqlalchemy import select

from lemur.certificates.models import Certificate
from lemur.certificates.store import CertificateStore, chain_of, x509_of
from lemur.deployments.destinations import destination_plugin, stored_options
from lemur.deployments.models import (
    Deployment,
    DeploymentState,
    Destination,
    Endpoint,
    EndpointKind,
)
from lemur.deployments.outcomes import Outcomes, Target
from lemur.deployments.verify import check_endpoint, fingerprint
from lemur.errors import LemurError
from lemur.plugins.base import Destination as DestinationPlugin
from lemur.plugins.base import ListenerRotator
from lemur.plugins.errors import PluginError, PluginTransientError
from lemur.plugins.values import Bundle, DeploymentRef

if TYPE_CHECKING:
    from lemur.container import Container
    from lemur.jobs.registry import JobContext


class DeploymentFailed(Exception):
    """Placing failed; ``transient`` says whether a retry may help."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def bundle_of(store: CertificateStore, session: Any, certificate_id: int) -> Bundle:
    record = store.get(session, certificate_id)
    if record is None:
        raise DeploymentFailed(f"certificate {certificate_id} is gone", transient=False)
    key = store.private_key(session, certificate_id)
    if key is None:
        raise DeploymentFailed(
            f"certificate {certificate_id} has no private key in Lemur (issued from a CSR or "
            "imported without one): there is nothing to serve it with",
            transient=False,
        )
    name = (record.common_name or f"certificate-{record.id}").replace("*", "wildcard")
    return Bundle(certificate=x509_of(record), chain=chain_of(record), private_key=key, name=name)


def anchors_of(bundle: Bundle) -> tuple[x509.Certificate, ...]:
    """The root the served chain must lead to: the last certificate of the stored chain."""
    return (bundle.chain[-1],) if bundle.chain else ()


class DeploymentRunner:
    def __init__(self, container: Container) -> None:
        self._c = container
        self._store = CertificateStore(container.keyring)
        self._patience = container.settings.deployment_verify_seconds
        self._outcomes = Outcomes(container)

    def _target(self, deployment_id: int, round_: int | None) -> Target | None:
        with self._c.db.read() as session:
            row = session.get(Deployment, deployment_id)
            if row is None or row.state != DeploymentState.PENDING.value:
                return None
            if round_ is not None and row.round != round_:
                return None  # a later request queued its own job
            destination = session.get(Destination, row.destination_id)
            certificate = session.get(Certificate, row.certificate_id)
            if destination is None or certificate is None:
                return None
            endpoints = tuple(
                session.scalars(
                    select(Endpoint)
                    .where(Endpoint.destination_id == destination.id)
                    .order_by(Endpoint.id)
                )
            )
            previous_ref = None
            if row.previous_id is not None:
                previous_ref = session.scalar(
                    select(Deployment.ref).where(
                        Deployment.certificate_id == row.previous_id,
                        Deployment.destination_id == destination.id,
                        Deployment.state == DeploymentState.DEPLOYED.value,
                    )
                )
            session.expunge_all()
            return Target(
                deployment_id=row.id,
                certificate_id=row.certificate_id,
                team_id=certificate.team_id,
                destination=destination,
                endpoints=endpoints,
                previous_id=row.previous_id if previous_ref is not None else None,
                previous_ref=previous_ref,
            )

    def run(self, ctx: JobContext) -> None:
        deployment_id = ctx.args.get("deployment_id")
        round_ = ctx.args.get("round")
        if not isinstance(deployment_id, int) or isinstance(deployment_id, bool):
            from lemur.jobs.registry import PermanentJobError

            raise PermanentJobError("deployment.deploy: deployment_id must be an integer")
        target = self._target(deployment_id, round_ if isinstance(round_, int) else None)
        if target is None:
            ctx.logger.info("deployment %d: nothing to do", deployment_id)
            return
        try:
            self.deploy(target, final=ctx.last_attempt)
        except DeploymentFailed as exc:
            self._outcomes.failed(target, str(exc), final=not exc.transient)
            if exc.transient:
                raise  # the job retries with backoff
        except Exception as exc:
            # A plugin's own bug (an exception that is not a PluginError): the row says so,
            # by the exception's type only (its text may hold anything); the job retries.
            ctx.logger.exception("deployment %d failed unexpectedly", deployment_id)
            self._outcomes.failed(
                target, f"unexpected {type(exc).__name__}", final=ctx.last_attempt
            )
            raise

    def deploy(self, target: Target, *, final: bool = True) -> None:
        """Place, switch, verify; roll back what did not work. Raises DeploymentFailed
        (transient) only when not ``final`` and nothing needs rolling back."""
        with self._c.db.read() as session:
            bundle = bundle_of(self._store, session, target.certificate_id)
            previous = (
                bundle_of(self._store, session, target.previous_id)
                if target.previous_id is not None
                else None
            )
        destination = target.destination
        try:
            model = stored_options(self._c, destination)
        except LemurError as exc:
            self._outcomes.failed(
                target, f"destination '{destination.name}': {exc.message}", final=True
            )
            return
        previous_ref = DeploymentRef(target.previous_ref) if target.previous_ref else None
        with destination_plugin(self._c, destination.plugin, model) as plugin:
            try:
                ref = _placed(plugin, destination.name, bundle, previous_ref)
                self._switch_listeners(plugin, target.endpoints, ref, previous_ref)
            except DeploymentFailed as exc:
                if exc.transient and not final:
                    raise
                # The target may hold part of the new bundle (files written, then the
                # reload failed): put the previous one back where there is one.
                problems = [str(exc)]
                rolled_back = False
                if previous is not None and previous_ref is not None:
                    rolled_back = self._rollback(plugin, target, previous, previous_ref, problems)
                self._outcomes.not_served(
                    target, previous_ref, problems, {}, rolled_back=rolled_back
                )
                return
            problems, seen = self._verify(plugin, target, ref, bundle)
            if not problems:
                self._outcomes.deployed(target, ref, seen)
                return
            rolled_back = False
            if previous is not None and previous_ref is not None:
                rolled_back = self._rollback(plugin, target, previous, ref, problems)
        self._outcomes.not_served(target, ref, problems, seen, rolled_back=rolled_back)

    def _rollback(
        self,
        plugin: DestinationPlugin[Any],
        target: Target,
        previous: Bundle,
        failed: DeploymentRef,
        problems: list[str],
    ) -> bool:
        """Deploy the previous bundle again and check it is what the endpoints serve.
        Where endpoints served it before, they decide (a reload that fails during the
        rollback leaves the server serving what it had loaded: the previous certificate)."""
        placed_error = None
        back = failed
        try:
            back = _placed(plugin, target.destination.name, previous, failed)
            self._switch_listeners(plugin, target.endpoints, back, failed)
        except DeploymentFailed as exc:
            placed_error = str(exc)
        # The endpoints that served the previous certificate before must serve it again
        # (a listener is switched back above; an endpoint added since never served it).
        served_before = fingerprint(previous.certificate)
        again = tuple(
            e
            for e in target.endpoints
            if e.kind == EndpointKind.LISTENER.value or e.last_fingerprint == served_before
        )
        if again:
            checked = replace(target, endpoints=again)
            after, _ = self._verify(plugin, checked, back, previous)
            if after:
                problems.append(
                    "the previous certificate is not served either: " + "; ".join(after)
                )
                return False
            return True
        if placed_error is not None:
            problems.append(f"restoring the previous certificate failed: {placed_error}")
            return False
        return True

    def _switch_listeners(
        self,
        plugin: DestinationPlugin[Any],
        endpoints: Sequence[Endpoint],
        ref: DeploymentRef,
        replacing: DeploymentRef | None,
    ) -> None:
        listeners = [e for e in endpoints if e.kind == EndpointKind.LISTENER.value]
        if not listeners:
            return
        if not isinstance(plugin, ListenerRotator):
            raise DeploymentFailed(
                "this destination's plugin cannot switch load balancer listeners",
                transient=False,
            )
        for endpoint in listeners:
            try:
                plugin.attach(ref, endpoint.listener, replacing=replacing)
            except PluginError as exc:
                raise DeploymentFailed(
                    f"listener {endpoint.listener}: {exc.message}",
                    transient=isinstance(exc, PluginTransientError),
                ) from None

    def _verify(
        self,
        plugin: DestinationPlugin[Any],
        target: Target,
        ref: DeploymentRef,
        bundle: Bundle,
    ) -> tuple[list[str], dict[int, str | None]]:
        """Problems found (empty: verified) and the fingerprint seen per endpoint. The
        plugin is not asked again whether it holds the bundle (``Verifier``): its deploy
        returned only once the bundle was in place, and asking again cost an SFTP
        destination a second SSH session per deployment (bench/deploy_fanout.py)."""
        problems: list[str] = []
        seen: dict[int, str | None] = {}
        want = fingerprint(bundle.certificate)
        now = self._c.clock.now()
        for endpoint in target.endpoints:
            if endpoint.kind == EndpointKind.LISTENER.value:
                assert isinstance(plugin, ListenerRotator)
                try:
                    served = plugin.attached(endpoint.listener)
                except PluginError as exc:
                    problems.append(f"listener {endpoint.listener}: {exc.message}")
                    seen[endpoint.id] = None
                    continue
                seen[endpoint.id] = want if ref.value in served else None
                if ref.value not in served:
                    problems.append(f"listener {endpoint.listener} does not serve {ref.value}")
                continue
            check = check_endpoint(
                self._c.outbound_policy,
                endpoint.host,
                endpoint.port,
                endpoint.sni or None,
                expected=bundle.certificate,
                anchors=anchors_of(bundle),
                now=now,
                patience=self._patience,
            )
            seen[endpoint.id] = check.seen
            if check.problem:
                problems.append(check.problem)
        return problems, seen

    # -- recording -------------------------------------------------------------------------


def _placed(
    plugin: DestinationPlugin[Any], name: str, bundle: Bundle, previous: DeploymentRef | None
) -> DeploymentRef:
    try:
        return plugin.deploy(bundle, previous=previous)
    except PluginError as exc:
        raise DeploymentFailed(
            f"destination '{name}': {exc.message}",
            transient=isinstance(exc, PluginTransientError),
        ) from None
