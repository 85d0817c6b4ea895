"""/api/v1/destinations (destinations and their endpoints) and a certificate's deployments:
/api/v1/certificates/{id}/deployments, .../deploy, .../rotate, .../blast-radius, and
/api/v1/authorities/{id}/blast-radius."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from lemur.authz import Action
from lemur.deployments.schemas import (
    BlastRadiusOut,
    CheckOut,
    DeployIn,
    DeploymentOut,
    DestinationCreate,
    DestinationOut,
    DestinationUpdate,
    EndpointIn,
    RotateIn,
    RotationOut,
)
from lemur.ids import PathId
from lemur.services import Services
from lemur.web.api import services_for
from lemur.web.openapi import errors

router = APIRouter(tags=["destinations"])
PREFIX = "/api/v1/destinations"
READ = Depends(services_for(Action.DESTINATION_READ))
MANAGE = Depends(services_for(Action.DESTINATION_MANAGE))
CERT_READ = Depends(services_for(Action.CERTIFICATE_READ))
DEPLOY = Depends(services_for(Action.CERTIFICATE_DEPLOY))
AUTHORITY_READ = Depends(services_for(Action.AUTHORITY_READ))


@router.get(PREFIX, response_model=list[DestinationOut])
def list_destinations(services: Services = READ) -> list[DestinationOut]:
    """Every destination, with its public options and endpoints (secrets never shown)."""
    return [DestinationOut.of(d) for d in services.destinations().list()]


@router.post(
    PREFIX, response_model=DestinationOut, status_code=201, responses=errors(409, 502, 503)
)
def create_destination(body: DestinationCreate, services: Services = MANAGE) -> DestinationOut:
    """Connects with the options first: options that cannot reach the target answer the
    plugin's error naming the option, and nothing is written."""
    return DestinationOut.of(
        services.destinations().create(
            body.name,
            body.plugin,
            body.options,
            description=body.description,
            team_id=body.team_id,
            endpoints=[e.spec() for e in body.endpoints],
        )
    )


@router.get(f"{PREFIX}/{{destination_id}}", response_model=DestinationOut, responses=errors(404))
def get_destination(destination_id: PathId, services: Services = READ) -> DestinationOut:
    return DestinationOut.of(services.destinations().get(destination_id))


@router.patch(
    f"{PREFIX}/{{destination_id}}",
    response_model=DestinationOut,
    responses=errors(404, 409, 502, 503),
)
def update_destination(
    destination_id: PathId, body: DestinationUpdate, services: Services = MANAGE
) -> DestinationOut:
    return DestinationOut.of(
        services.destinations().update(
            destination_id,
            name=body.name,
            options=body.options,
            description=body.description,
            team_id=body.team_id,
            clear_team=body.any_team,
        )
    )


@router.delete(f"{PREFIX}/{{destination_id}}", status_code=204, responses=errors(404, 409))
def delete_destination(destination_id: PathId, services: Services = MANAGE) -> Response:
    services.destinations().delete(destination_id)
    return Response(status_code=204)


@router.post(f"{PREFIX}/{{destination_id}}/check", response_model=CheckOut, responses=errors(404))
def check_destination(destination_id: PathId, services: Services = MANAGE) -> CheckOut:
    """ "Check connection": a failure is an answer (``ok: false`` with the plugin's words)."""
    return CheckOut.of(services.destinations().check(destination_id))


@router.post(
    f"{PREFIX}/{{destination_id}}/endpoints",
    response_model=DestinationOut,
    status_code=201,
    responses=errors(404, 409),
)
def add_endpoint(
    destination_id: PathId, body: EndpointIn, services: Services = MANAGE
) -> DestinationOut:
    return DestinationOut.of(services.destinations().add_endpoint(destination_id, body.spec()))


@router.delete(
    f"{PREFIX}/{{destination_id}}/endpoints/{{endpoint_id}}",
    response_model=DestinationOut,
    responses=errors(404),
)
def remove_endpoint(
    destination_id: PathId, endpoint_id: PathId, services: Services = MANAGE
) -> DestinationOut:
    return DestinationOut.of(services.destinations().remove_endpoint(destination_id, endpoint_id))


# -- a certificate's deployments ----------------------------------------------------------

CERTS = "/api/v1/certificates/{certificate_id}"


@router.get(f"{CERTS}/deployments", response_model=list[DeploymentOut], responses=errors(404))
def list_deployments(certificate_id: PathId, services: Services = CERT_READ) -> list[DeploymentOut]:
    return [DeploymentOut.of(d) for d in services.deployments().deployments(certificate_id)]


@router.post(
    f"{CERTS}/deploy",
    response_model=list[DeploymentOut],
    status_code=202,
    responses=errors(404),
)
def deploy(
    certificate_id: PathId, body: DeployIn, services: Services = DEPLOY
) -> list[DeploymentOut]:
    """Deploy to the destinations named (they are added to the certificate's), or again to
    all of its destinations. Jobs do the work; the answer lists the deployments queued."""
    service = services.deployments()
    if body.destinations:
        views = service.add(certificate_id, body.destinations)
    else:
        views = service.redeploy(certificate_id)
    return [DeploymentOut.of(d) for d in views]


@router.delete(
    f"{CERTS}/destinations/{{destination_id}}",
    response_model=list[DeploymentOut],
    responses=errors(404),
)
def remove_destination(
    certificate_id: PathId, destination_id: PathId, services: Services = DEPLOY
) -> list[DeploymentOut]:
    """Take the certificate off a destination (removed at the target where the plugin can)."""
    views = services.deployments().remove(certificate_id, destination_id)
    return [DeploymentOut.of(d) for d in views]


@router.post(f"{CERTS}/rotate", response_model=RotationOut, responses=errors(404))
def rotate(certificate_id: PathId, body: RotateIn, services: Services = DEPLOY) -> RotationOut:
    """Put certificate ``to`` everywhere this one is deployed; ``dry_run`` shows the steps."""
    return RotationOut.of(
        services.deployments().rotate(certificate_id, body.to, dry_run=body.dry_run)
    )


@router.get(f"{CERTS}/blast-radius", response_model=BlastRadiusOut, responses=errors(404))
def certificate_blast_radius(
    certificate_id: PathId, services: Services = CERT_READ
) -> BlastRadiusOut:
    """Every destination and endpoint that depends on this certificate."""
    return BlastRadiusOut.of(services.deployments().blast_radius_of_certificate(certificate_id))


@router.get(
    "/api/v1/authorities/{authority_id}/blast-radius",
    response_model=BlastRadiusOut,
    responses=errors(404),
)
def authority_blast_radius(
    authority_id: PathId, services: Services = AUTHORITY_READ
) -> BlastRadiusOut:
    """Every destination and endpoint serving a certificate this authority issued."""
    return BlastRadiusOut.of(services.deployments().blast_radius_of_authority(authority_id))
