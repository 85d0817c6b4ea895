"""Managing destinations and their endpoints.

Staff configure destinations (their credentials never leave Lemur: the API shows
:func:`lemur.plugins.options.public_options`); everyone may list them to choose one.
Creating or editing one connects first ("check connection"): options that cannot reach the
target are refused and nothing is written. A plugin that pins what it found on first use
(an SSH host key, with ``trust_on_first_use``) returns it from ``connect``; Lemur stores it
and audits ``destination.host_key_pinned``. Every change is audited in its transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lemur.accounts.models import Team
from lemur.accounts.service import check_name
from lemur.audit.service import AuditLog, DetailValue
from lemur.authz import Action, Principal, authorize
from lemur.db import UnitOfWork
from lemur.deployments.models import (
    CertificateDestination,
    Destination,
    Endpoint,
    EndpointKind,
)
from lemur.deployments.views import DestinationView, EndpointSpec, destination_view
from lemur.errors import Conflict, InvalidInput, NotFound
from lemur.plugins.base import Connector
from lemur.plugins.base import Destination as DestinationPlugin
from lemur.plugins.options import (
    dump_options,
    load_options,
    merge_secrets,
    secret_paths,
    validate_options,
)

if TYPE_CHECKING:
    from lemur.container import Container


def stored_options(container: Container, destination: Destination) -> Any:
    """The destination's options model, secrets decrypted (only here, never logged)."""
    cls = container.plugins.get("destination", destination.plugin)
    return load_options(cls.Options, json.loads(destination.options), container.keyring.decrypt)


@contextmanager
def destination_plugin(
    container: Container, plugin: str, options: Any
) -> Iterator[DestinationPlugin[Any]]:
    """The plugin with ``options``, its network access under the outbound address policy."""
    from lemur.outbound import plugin_context

    with plugin_context(
        container.outbound_policy, container.clock, f"lemur.destinations.{plugin}"
    ) as context:
        yield container.plugins.instantiate("destination", plugin, options, context)


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    summary: str
    error_code: str | None = None
    error: str | None = None
    field: str | None = None


def not_found(destination_id: int) -> NotFound:
    return NotFound(
        f"no destination with id {destination_id}",
        code="destination_not_found",
        field="destination_id",
    )


class DestinationService:
    def __init__(self, uow: UnitOfWork, *, container: Container, actor: Principal) -> None:
        self._uow = uow
        self._c = container
        self._actor = actor

    def _record(
        self, session: Session, action: str, destination_id: int, **details: DetailValue
    ) -> None:
        AuditLog(session, self._c.clock).record(
            self._actor.audit_actor,
            action,
            target_type="destination",
            target_id=destination_id,
            details=details,
        )

    def _plugin_class(self, slug: str) -> Any:
        return self._c.plugins.chosen("destination", slug)

    def _get(self, session: Session, destination_id: int) -> Destination:
        row = session.get(Destination, destination_id)
        if row is None:
            raise not_found(destination_id)
        return row

    def _view(self, session: Session, row: Destination) -> DestinationView:
        endpoints = session.scalars(
            select(Endpoint).where(Endpoint.destination_id == row.id).order_by(Endpoint.id)
        ).all()
        attached = session.scalar(
            select(func.count())
            .select_from(CertificateDestination)
            .where(CertificateDestination.destination_id == row.id)
        )
        team = session.get(Team, row.team_id) if row.team_id is not None else None
        return destination_view(self._c, row, endpoints, certificates=int(attached or 0), team=team)

    def _check_team(self, session: Session, team_id: int | None) -> None:
        if team_id is not None and session.get(Team, team_id) is None:
            raise InvalidInput(f"no team with id {team_id}", code="team_not_found", field="team_id")

    def _connect(self, plugin: str, model: Any) -> Any:
        """Connect with ``model``; return the options to store (the plugin's, when it set
        something up on first use). Raises the plugin's error, which names the option."""
        with destination_plugin(self._c, plugin, model) as instance:
            if not isinstance(instance, Connector):
                return model
            connection = instance.connect()
        return connection.options if connection.options is not None else model

    # -- reading ---------------------------------------------------------------------------

    def list(self) -> list[DestinationView]:
        """Every destination, in four statements however many there are."""
        authorize(self._actor, Action.DESTINATION_READ)
        session = self._uow.read
        rows = session.scalars(select(Destination).order_by(Destination.name)).all()
        endpoints: dict[int, list[Endpoint]] = {}
        for endpoint in session.scalars(select(Endpoint).order_by(Endpoint.id)):
            endpoints.setdefault(endpoint.destination_id, []).append(endpoint)
        attached = dict(
            session.execute(
                select(CertificateDestination.destination_id, func.count()).group_by(
                    CertificateDestination.destination_id
                )
            ).all()
        )
        teams = {t.id: t for t in session.scalars(select(Team))} if rows else {}
        return [
            destination_view(
                self._c,
                r,
                endpoints.get(r.id, []),
                certificates=int(attached.get(r.id, 0)),
                team=teams.get(r.team_id) if r.team_id is not None else None,
            )
            for r in rows
        ]

    def get(self, destination_id: int) -> DestinationView:
        authorize(self._actor, Action.DESTINATION_READ)
        session = self._uow.read
        return self._view(session, self._get(session, destination_id))

    # -- changing --------------------------------------------------------------------------

    def create(
        self,
        name: str,
        plugin: str,
        options: Mapping[str, Any],
        *,
        description: str = "",
        team_id: int | None = None,
        endpoints: Sequence[EndpointSpec] = (),
    ) -> DestinationView:
        authorize(self._actor, Action.DESTINATION_MANAGE)
        check_name(name, field="name", what="destination name", example="web-1")
        cls = self._plugin_class(plugin)
        model = validate_options(cls.Options, dict(options))
        self._check_team(self._uow.read, team_id)
        for index, spec in enumerate(endpoints):
            spec.check(field=f"endpoints[{index}]")
        _refuse_taken(self._uow.read, name)
        stored_model = self._connect(plugin, model)
        pinned = stored_model is not model
        now = self._c.clock.now()
        with self._uow.write() as tx:
            _refuse_taken(tx.session, name)
            row = Destination(
                name=name,
                plugin=plugin,
                options=self._dump(stored_model),
                description=description,
                team_id=team_id,
                created_at=now,
                created_by=self._actor.actor_name,
                updated_at=now,
            )
            tx.session.add(row)
            tx.session.flush()
            for spec in endpoints:
                tx.session.add(spec.row(row.id, now))
            self._record(tx.session, "destination.create", row.id, name=name, plugin=plugin)
            if pinned:
                self._record(tx.session, "destination.host_key_pinned", row.id, name=name)
            tx.session.flush()
            view = self._view(tx.session, row)
        return view

    def _dump(self, model: Any) -> str:
        return json.dumps(dump_options(model, self._c.keyring.encrypt), sort_keys=True)

    def update(
        self,
        destination_id: int,
        *,
        name: str | None = None,
        options: Mapping[str, Any] | None = None,
        description: str | None = None,
        team_id: int | None = None,
        clear_team: bool = False,
    ) -> DestinationView:
        """Options are merged: a secret left out (or null) keeps its stored value. New
        options are checked by connecting before they are stored."""
        authorize(self._actor, Action.DESTINATION_MANAGE)
        if name is not None:
            check_name(name, field="name", what="destination name", example="web-1")
        current = self._get(self._uow.read, destination_id)
        self._check_team(self._uow.read, team_id)
        stored: str | None = None
        if options is not None:
            cls = self._plugin_class(current.plugin)
            kept = stored_options(self._c, current)
            given = {k: v for k, v in kept.model_dump().items()} | dict(options)
            merged = merge_secrets(given, dict(kept), secret_paths(cls.Options))
            model = validate_options(cls.Options, merged)
            stored = self._dump(self._connect(current.plugin, model))
        with self._uow.write() as tx:
            row = self._get(tx.session, destination_id)
            changed: list[str] = []
            if name is not None and name != row.name:
                _refuse_taken(tx.session, name)
                row.name = name
                changed.append("name")
            if stored is not None:
                row.options = stored
                changed.append("options")
            if description is not None and description != row.description:
                row.description = description
                changed.append("description")
            if clear_team or (team_id is not None and team_id != row.team_id):
                row.team_id = None if clear_team else team_id
                changed.append("team_id")
            if changed:
                row.updated_at = self._c.clock.now()
                self._record(tx.session, "destination.update", row.id, changed=changed)
            tx.session.flush()
            view = self._view(tx.session, row)
        return view

    def delete(self, destination_id: int) -> None:
        """Refused while certificates are deployed there (remove them first: that takes
        them off the target too)."""
        authorize(self._actor, Action.DESTINATION_MANAGE)
        with self._uow.write() as tx:
            row = self._get(tx.session, destination_id)
            attached = tx.session.scalar(
                select(func.count())
                .select_from(CertificateDestination)
                .where(CertificateDestination.destination_id == row.id)
            )
            if attached:
                raise Conflict(
                    f"destination '{row.name}' still has {attached} certificate(s); remove "
                    "them from it first",
                    code="destination_in_use",
                    field="destination_id",
                )
            self._record(tx.session, "destination.delete", row.id, name=row.name)
            tx.session.delete(row)

    def check(self, destination_id: int) -> CheckResult:
        """Connect with the stored options. A failure is an answer (ok false, the plugin's
        words), not an error; a key pinned on first use is stored and audited."""
        authorize(self._actor, Action.DESTINATION_MANAGE)
        row = self._get(self._uow.read, destination_id)
        from lemur.plugins.errors import PluginError

        try:
            model = stored_options(self._c, row)
            with destination_plugin(self._c, row.plugin, model) as instance:
                if not isinstance(instance, Connector):
                    return CheckResult(ok=True, summary="nothing to check for this plugin")
                connection = instance.connect()
        except PluginError as exc:
            return CheckResult(
                ok=False, summary="", error_code=exc.code, error=exc.message, field=exc.field
            )
        with self._uow.write() as tx:
            fresh = self._get(tx.session, destination_id)
            details: dict[str, DetailValue] = {"ok": True}
            if connection.options is not None:
                fresh.options = self._dump(connection.options)
                fresh.updated_at = self._c.clock.now()
                self._record(tx.session, "destination.host_key_pinned", fresh.id, name=fresh.name)
            self._record(tx.session, "destination.check", fresh.id, **details)
        return CheckResult(ok=True, summary=connection.summary)

    def add_endpoint(self, destination_id: int, spec: EndpointSpec) -> DestinationView:
        authorize(self._actor, Action.DESTINATION_MANAGE)
        spec.check(field="endpoint")
        with self._uow.write() as tx:
            row = self._get(tx.session, destination_id)
            same = select(Endpoint.id).where(
                Endpoint.destination_id == row.id,
                Endpoint.kind == spec.kind.value,
                Endpoint.host == spec.host,
                Endpoint.port == spec.port,
                Endpoint.sni == spec.sni,
                Endpoint.listener == spec.listener,
            )
            if tx.session.scalar(same) is not None:
                raise Conflict(
                    f"destination '{row.name}' already has the endpoint {spec.label}",
                    code="endpoint_exists",
                    field="endpoint",
                )
            endpoint = spec.row(row.id, self._c.clock.now())
            tx.session.add(endpoint)
            tx.session.flush()
            self._record(tx.session, "destination.endpoint_add", row.id, endpoint=spec.label)
            view = self._view(tx.session, row)
        return view

    def remove_endpoint(self, destination_id: int, endpoint_id: int) -> DestinationView:
        authorize(self._actor, Action.DESTINATION_MANAGE)
        with self._uow.write() as tx:
            row = self._get(tx.session, destination_id)
            endpoint = tx.session.get(Endpoint, endpoint_id)
            if endpoint is None or endpoint.destination_id != row.id:
                raise NotFound(
                    f"destination '{row.name}' has no endpoint with id {endpoint_id}",
                    code="endpoint_not_found",
                    field="endpoint_id",
                )
            label = EndpointSpec.of(endpoint).label
            tx.session.delete(endpoint)
            self._record(tx.session, "destination.endpoint_remove", row.id, endpoint=label)
            tx.session.flush()
            view = self._view(tx.session, row)
        return view


def _refuse_taken(session: Session, name: str) -> None:
    if session.scalar(select(Destination.id).where(Destination.name == name)) is not None:
        raise Conflict(
            f"a destination named '{name}' already exists", code="name_taken", field="name"
        )


__all__ = ["CheckResult", "DestinationService", "EndpointKind", "stored_options"]
