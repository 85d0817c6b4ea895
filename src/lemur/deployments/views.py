"""What services return about destinations, endpoints and deployments (plain values)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import idna

from lemur.deployments.models import Deployment, Destination, Endpoint, EndpointKind
from lemur.errors import InvalidInput, NotFound
from lemur.plugins.errors import PluginError
from lemur.plugins.options import JSONValue, public_options, public_stored_options

if TYPE_CHECKING:
    from lemur.accounts.models import Team
    from lemur.container import Container

MAX_LISTENER = 2048


@dataclass(frozen=True)
class EndpointSpec:
    """An endpoint to add: ``tls`` (host, port, optional SNI name) or ``listener`` (the
    destination plugin's listener name: an ELBv2 listener ARN, ``elb:NAME:PORT``)."""

    kind: EndpointKind
    host: str = ""
    port: int = 0
    sni: str = ""
    listener: str = ""

    @property
    def label(self) -> str:
        if self.kind is EndpointKind.LISTENER:
            return self.listener
        where = f"[{self.host}]" if ":" in self.host else self.host
        return f"{where}:{self.port}" + (f" (SNI {self.sni})" if self.sni else "")

    def check(self, *, field: str) -> None:
        if self.kind is EndpointKind.LISTENER:
            if not self.listener or len(self.listener) > MAX_LISTENER or self.host or self.sni:
                raise InvalidInput(
                    "a listener endpoint names the listener only (an ELBv2 listener ARN, or "
                    "elb:NAME:PORT for a classic load balancer)",
                    code="invalid_endpoint",
                    field=f"{field}.listener",
                )
            if any(c.isspace() or not c.isprintable() for c in self.listener):
                raise InvalidInput(
                    "a listener name has no spaces or control characters",
                    code="invalid_endpoint",
                    field=f"{field}.listener",
                )
            return
        if self.listener:
            raise InvalidInput(
                "a tls endpoint has a host and port, not a listener",
                code="invalid_endpoint",
                field=f"{field}.listener",
            )
        _check_host(self.host, field=f"{field}.host")
        if not 1 <= self.port <= 65535:
            raise InvalidInput(
                f"port must be from 1 to 65535, not {self.port}",
                code="invalid_endpoint",
                field=f"{field}.port",
            )
        if self.sni:
            _check_host(self.sni, field=f"{field}.sni", address=False)

    def row(self, destination_id: int, now: dt.datetime) -> Endpoint:
        return Endpoint(
            destination_id=destination_id,
            kind=self.kind.value,
            host=self.host,
            port=self.port,
            sni=self.sni,
            listener=self.listener,
            created_at=now,
        )

    @classmethod
    def of(cls, row: Endpoint) -> EndpointSpec:
        return cls(
            kind=EndpointKind(row.kind),
            host=row.host,
            port=row.port,
            sni=row.sni,
            listener=row.listener,
        )


def _check_host(value: str, *, field: str, address: bool = True) -> None:
    if address:
        try:
            ipaddress.ip_address(value.strip("[]"))
            return
        except ValueError:
            pass
    try:
        if not value or len(value) > 253 or value != value.strip():
            raise idna.IDNAError("empty or too long")
        idna.encode(value.rstrip("."), uts46=False)
    except (idna.IDNAError, UnicodeError):
        what = "a host name or IP address" if address else "a DNS name"
        raise InvalidInput(
            f"{value[:64]!r} is not {what}", code="invalid_endpoint", field=field
        ) from None


@dataclass(frozen=True)
class EndpointView:
    id: int
    kind: str
    host: str
    port: int
    sni: str
    listener: str
    label: str
    last_fingerprint: str | None
    last_seen_at: dt.datetime | None
    last_error: str | None


def endpoint_view(row: Endpoint) -> EndpointView:
    return EndpointView(
        id=row.id,
        kind=row.kind,
        host=row.host,
        port=row.port,
        sni=row.sni,
        listener=row.listener,
        label=EndpointSpec.of(row).label,
        last_fingerprint=row.last_fingerprint,
        last_seen_at=row.last_seen_at,
        last_error=row.last_error,
    )


@dataclass(frozen=True)
class DestinationView:
    id: int
    name: str
    plugin: str
    options: dict[str, JSONValue]  # public: secrets are None, listed in secrets_set
    description: str
    team_id: int | None
    team_name: str | None
    endpoints: list[EndpointView]
    certificates: int
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime


def public_destination_options(container: Container, row: Destination) -> dict[str, JSONValue]:
    from lemur.deployments.destinations import stored_options

    try:
        return public_options(stored_options(container, row))
    except (NotFound, PluginError):
        # The plugin is gone or its options no longer fit: the non-secret values only.
        return public_stored_options(json.loads(row.options))


def destination_view(
    container: Container,
    row: Destination,
    endpoints: Any,
    *,
    certificates: int,
    team: Team | None,
) -> DestinationView:
    return DestinationView(
        id=row.id,
        name=row.name,
        plugin=row.plugin,
        options=public_destination_options(container, row),
        description=row.description,
        team_id=row.team_id,
        team_name=team.name if team is not None else None,
        endpoints=[endpoint_view(e) for e in endpoints],
        certificates=certificates,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
    )


@dataclass(frozen=True)
class DeploymentView:
    id: int
    certificate_id: int
    destination_id: int
    destination_name: str
    plugin: str
    state: str
    ref: str | None
    previous_id: int | None
    attempts: int
    last_error: str | None
    requested_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    deployed_at: dt.datetime | None
    verified_at: dt.datetime | None


def deployment_view(row: Deployment, destination: Destination) -> DeploymentView:
    return DeploymentView(
        id=row.id,
        certificate_id=row.certificate_id,
        destination_id=row.destination_id,
        destination_name=destination.name,
        plugin=destination.plugin,
        state=row.state,
        ref=row.ref,
        previous_id=row.previous_id,
        attempts=row.attempts,
        last_error=row.last_error,
        requested_by=row.requested_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deployed_at=row.deployed_at,
        verified_at=row.verified_at,
    )
