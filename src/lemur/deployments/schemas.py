"""API bodies and answers of destinations, endpoints, deployments, rotation, blast radius."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from lemur.deployments.destinations import CheckResult
from lemur.deployments.models import EndpointKind
from lemur.deployments.service import BlastRadius, Rotation
from lemur.deployments.views import DeploymentView, DestinationView, EndpointSpec, EndpointView
from lemur.ids import BodyId
from lemur.text import Line, Text

MAX_DESCRIPTION = 1000


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EndpointIn(Strict):
    kind: EndpointKind = Field(
        EndpointKind.TLS,
        description="tls: a TLS server checked by handshake; listener: a load balancer "
        "listener the destination's plugin switches",
    )
    host: Line = Field("", max_length=255, description="tls: host name or IP address")
    port: int = Field(0, ge=0, le=65535, description="tls: port (443 usually)")
    sni: Line = Field("", max_length=255, description="tls: the SNI name to ask for")
    listener: Line = Field(
        "",
        max_length=2048,
        description="listener: an ELBv2 listener ARN, or elb:NAME:PORT (classic ELB)",
    )

    @model_validator(mode="after")
    def _default_port(self) -> EndpointIn:
        if self.kind is EndpointKind.TLS and self.port == 0:
            self.port = 443
        return self

    def spec(self) -> EndpointSpec:
        return EndpointSpec(
            kind=self.kind, host=self.host, port=self.port, sni=self.sni, listener=self.listener
        )


class DestinationCreate(Strict):
    name: Line = Field(max_length=64, description="lowercase letters, digits, '.', '_', '-'")
    plugin: Line = Field(
        max_length=64, description="a destination plugin: directory, sftp, aws-iam, aws-acm"
    )
    options: dict[Line, Any] = Field(
        default_factory=dict,
        description="the plugin's options (GET /api/v1/plugins?kind=destination has their "
        "schema); secrets are stored encrypted and never returned",
    )
    description: Text = Field("", max_length=MAX_DESCRIPTION)
    team_id: BodyId | None = Field(
        None, description="only this team's certificates may go there; null: any team"
    )
    endpoints: list[EndpointIn] = Field(default_factory=list, max_length=1000)


class DestinationUpdate(Strict):
    name: Line | None = Field(None, max_length=64)
    options: dict[Line, Any] | None = Field(
        None,
        description="merged key by key into the stored options: a key left out (a secret in "
        "particular) keeps its value; checked by connecting before they are stored",
    )
    description: Text | None = Field(None, max_length=MAX_DESCRIPTION)
    team_id: BodyId | None = None
    any_team: bool = Field(False, description="true: open the destination to every team")


class EndpointOut(BaseModel):
    id: int
    kind: str
    host: str
    port: int
    sni: str
    listener: str
    label: str
    last_fingerprint: str | None = Field(description="SHA-256 of the leaf last seen there")
    last_seen_at: dt.datetime | None
    last_error: str | None

    @classmethod
    def of(cls, v: EndpointView) -> EndpointOut:
        return cls(**v.__dict__)


class DestinationOut(BaseModel):
    id: int
    name: str
    plugin: str
    options: dict[str, Any] = Field(
        description="secrets are null; options.secrets_set names the secrets that have a value"
    )
    description: str
    team_id: int | None
    team_name: str | None
    endpoints: list[EndpointOut]
    certificates: int = Field(description="certificates attached to this destination")
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime

    @classmethod
    def of(cls, v: DestinationView) -> DestinationOut:
        data = dict(v.__dict__)
        data["endpoints"] = [EndpointOut.of(e) for e in v.endpoints]
        return cls(**data)


class CheckOut(BaseModel):
    ok: bool
    summary: str
    error_code: str | None = None
    error: str | None = None
    field: str | None = None

    @classmethod
    def of(cls, v: CheckResult) -> CheckOut:
        return cls(**v.__dict__)


class DeploymentOut(BaseModel):
    id: int
    certificate_id: int
    destination_id: int
    destination_name: str
    plugin: str
    state: str = Field(
        description="pending, deployed, failed, rolled_back, replaced, removing, removed"
    )
    ref: str | None = Field(description="where the plugin put it: a path, an ARN")
    previous_id: int | None = Field(description="the certificate it replaces there")
    attempts: int
    last_error: str | None
    requested_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    deployed_at: dt.datetime | None
    verified_at: dt.datetime | None

    @classmethod
    def of(cls, v: DeploymentView) -> DeploymentOut:
        return cls(**v.__dict__)


class DeployIn(Strict):
    destinations: list[BodyId] = Field(
        default_factory=list,
        max_length=50,
        description="destinations to deploy to; empty: again to all of the certificate's",
    )


class RotateIn(Strict):
    to: BodyId = Field(description="the certificate that takes the place of this one")
    dry_run: bool = Field(False, description="show what would change; change nothing")


class RotationStepOut(BaseModel):
    destination_id: int
    destination_name: str
    plugin: str
    old_state: str | None
    endpoints: list[EndpointOut]
    action: str


class RotationOut(BaseModel):
    old_id: int
    new_id: int
    dry_run: bool
    steps: list[RotationStepOut]
    deployment_ids: list[int]

    @classmethod
    def of(cls, v: Rotation) -> RotationOut:
        return cls(
            old_id=v.old_id,
            new_id=v.new_id,
            dry_run=v.dry_run,
            steps=[
                RotationStepOut(
                    destination_id=s.destination_id,
                    destination_name=s.destination_name,
                    plugin=s.plugin,
                    old_state=s.old_state,
                    endpoints=[EndpointOut.of(e) for e in s.endpoints],
                    action=s.action,
                )
                for s in v.steps
            ],
            deployment_ids=v.deployment_ids,
        )


class DependentOut(BaseModel):
    destination_id: int
    destination_name: str
    plugin: str
    certificate_ids: list[int]
    states: list[str]
    endpoints: list[EndpointOut]


class BlastRadiusOut(BaseModel):
    subject: str
    certificates: int
    endpoints: int
    destinations: list[DependentOut]
    truncated: bool = Field(description="true: more than 1000 certificates; the first shown")

    @classmethod
    def of(cls, v: BlastRadius) -> BlastRadiusOut:
        return cls(
            subject=v.subject,
            certificates=v.certificates,
            endpoints=v.endpoints,
            destinations=[
                DependentOut(
                    destination_id=d.destination_id,
                    destination_name=d.destination_name,
                    plugin=d.plugin,
                    certificate_ids=d.certificate_ids,
                    states=d.states,
                    endpoints=[EndpointOut.of(e) for e in d.endpoints],
                )
                for d in v.destinations
            ],
            truncated=v.truncated,
        )
