"""What the certificate pages share (lemur.ui.routes.certificates, certificate_files,
certificate_actions, certificate_import): the detail page, the export formats, files."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi.responses import HTMLResponse, Response

from lemur.authz import Action
from lemur.certificates.schemas import CertificateDetailOut, CertificateOut, HistoryEntry
from lemur.deployments.models import DeploymentState
from lemur.plugins.registry import Registry
from lemur.plugins.values import Exported
from lemur.ui.destination_queries import open_destinations
from lemur.ui.forms import FormErrors
from lemur.ui.visit import FLASH_COOKIE, Visit

# A certificate created by the visitor this recently, shown with a notice (the page a
# request, an import or a renewal leads to), gets the "next steps" box.
FRESH = dt.timedelta(minutes=15)

# Audit actions about a certificate, in the history's words.
ACTIONS = {
    "certificate.issue": "Issued",
    "certificate.renew": "Issued as a renewal",
    "certificate.import": "Imported",
    "certificate.revoke": "Revoked",
    "certificate.export_key": "Private key exported",
    "certificate.update": "Edited",
    "certificate.archive": "Archived",
    "certificate.unarchive": "Restored from the archive",
    "certificate.mute": "Notifications muted",
    "certificate.unmute": "Notifications unmuted",
    "authority.export_key": "CA private key exported",
    "certificate.deploy_request": "Deployment requested",
    "certificate.remove_destination": "Removed from a destination",
    "certificate.rotate": "Rotated into place",
}
# A deployment in these states is no longer attached to its destination.
DETACHED = frozenset({DeploymentState.REMOVING.value, DeploymentState.REMOVED.value})


# The formats most people want, in this order, ahead of the rest.
USUAL = {"pem-bundle": 0, "pkcs12": 1}


@dataclass(frozen=True)
class HistoryItem:
    occurred_at: dt.datetime
    actor: str
    label: str
    outcome: str
    summary: str


def _detail_text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value).replace("_", " ")


def history_items(history: list[HistoryEntry]) -> list[HistoryItem]:
    """The history's events (newest first) in plain words."""
    return [
        HistoryItem(
            occurred_at=e.occurred_at,
            actor=e.actor,
            label=ACTIONS.get(e.action, e.action),
            outcome=e.outcome,
            summary="; ".join(
                f"{k.replace('_', ' ')}: {_detail_text(v)}"
                for k, v in e.details.items()
                if k not in ("names", "serial")
            ),
        )
        for e in history
    ]


@dataclass(frozen=True)
class ExportFormat:
    slug: str
    title: str
    description: str
    includes_private_key: bool
    needs_passphrase: bool


def export_formats(plugins: Registry) -> list[ExportFormat]:
    """Every exporter the registry offers: the usual first, then by slug."""
    out = []
    for slug in sorted(plugins.slugs("exporter"), key=lambda s: (USUAL.get(s, len(USUAL)), s)):
        cls = plugins.get("exporter", slug)
        out.append(
            ExportFormat(
                slug=slug,
                title=cls.title,
                description=cls.description,
                includes_private_key=cls.includes_private_key,
                needs_passphrase=cls.needs_passphrase,
            )
        )
    return out


def file_response(exported: Exported) -> Response:
    """An exported file as the API answers it (lemur.certificates.api): an attachment,
    never cached."""
    return Response(
        exported.content,
        media_type=exported.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{exported.filename}"',
            "Cache-Control": "no-store",
        },
    )


def team_of(cert: CertificateOut) -> int:
    """The team id to authorize against; -1 (no team's) for a CA certificate."""
    return cert.team.id if cert.team is not None else -1


def title_of(cert: CertificateOut) -> str:
    return cert.common_name or (cert.names[0] if cert.names else f"Certificate {cert.id}")


def with_colons(hex_digits: str) -> str:
    """``1a2b3`` -> ``01:a2:b3``, as OpenSSL prints serials and fingerprints."""
    padded = hex_digits if len(hex_digits) % 2 == 0 else "0" + hex_digits
    return ":".join(padded[i : i + 2] for i in range(0, len(padded), 2))


@dataclass(frozen=True)
class Controls:
    """Which actions the visitor is shown on a certificate (the services check again)."""

    revoke: bool
    renew: bool
    export_key: bool
    edit: bool
    archive: bool
    archived: bool
    deploy: bool  # add destinations, deploy again, remove


def controls(visit: Visit, cert: CertificateDetailOut) -> Controls:
    team = team_of(cert)
    key_ok = cert.has_private_key and (not cert.is_ca or visit.may(Action.AUTHORITY_MANAGE))
    may_edit = cert.team is not None and visit.may(Action.CERTIFICATE_UPDATE, team_id=team)
    may_archive = cert.team is not None and visit.may(Action.CERTIFICATE_ARCHIVE, team_id=team)
    return Controls(
        revoke=cert.revoked_at is None and visit.may(Action.CERTIFICATE_REVOKE, team_id=team),
        renew=(
            cert.origin == "issued"
            and not cert.is_ca
            and cert.team is not None
            and cert.replaced_by_id is None
            and visit.may(Action.CERTIFICATE_ISSUE, team_id=team)
        ),
        export_key=key_ok and visit.may(Action.CERTIFICATE_EXPORT_KEY, team_id=team),
        edit=may_edit,
        archive=may_archive,
        archived=cert.archived_at is not None,
        deploy=(
            cert.team is not None
            and cert.has_private_key
            and cert.revoked_at is None
            and visit.may(Action.CERTIFICATE_DEPLOY, team_id=team)
        ),
    )


def detail_page(
    visit: Visit,
    certificate_id: int,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
    deploy_error: str | None = None,
) -> HTMLResponse:
    """The certificate's page (also shown again, with errors, by a refused key export, or
    with ``deploy_error`` by a refused deployment). Its deployments are one statement, the
    destinations it may be added to another."""
    with visit.services() as services:
        view = services.certificates().view(certificate_id)
        deployments = services.deployments().deployments(certificate_id)
        now = visit.now
        cert = CertificateDetailOut.render(view, now=now)
        can = controls(visit, cert)
        attached = {d.destination_id for d in deployments if d.state not in DETACHED}
        addable = (
            [
                d
                for d in open_destinations(services.uow.read, [team_of(cert)])
                if d.id not in attached
            ]
            if can.deploy
            else []
        )
    formats = export_formats(visit.container.plugins)
    fresh = (
        cert.created_by == visit.principal.actor_name
        and now - cert.created_at < FRESH
        and visit.request.cookies.get(FLASH_COOKIE) is not None
    )
    return visit.render(
        "certificates/detail.html",
        status=status,
        cert=cert,
        title=title_of(cert),
        now=now,
        can=can,
        deployments=deployments,
        detached=DETACHED,
        addable=addable,
        deploy_error=deploy_error,
        public_formats=[f for f in formats if not f.includes_private_key],
        key_formats=[f for f in formats if f.includes_private_key],
        key_options=[(f.slug, f.title) for f in formats if f.includes_private_key],
        serial_colons=with_colons(cert.serial_number),
        sha256_colons=with_colons(cert.fingerprint_sha256),
        sha1_colons=with_colons(cert.fingerprint_sha1),
        fresh=fresh,
        history=history_items(cert.history),
        lineage=list(reversed(cert.lineage)),
        errors=errors or FormErrors(),
        values=values or {},
    )
