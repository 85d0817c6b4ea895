"""What the certificate pages share (lemur.ui.routes.certificates, certificate_files,
certificate_actions, certificate_import): the detail page, the export formats, files."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi.responses import HTMLResponse, Response

from lemur.authz import Action
from lemur.certificates.schemas import CertificateDetailOut, CertificateOut, HistoryEntry
from lemur.plugins.registry import Registry
from lemur.plugins.values import Exported
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
}


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


def controls(visit: Visit, cert: CertificateDetailOut) -> Controls:
    team = team_of(cert)
    key_ok = cert.has_private_key and (not cert.is_ca or visit.may(Action.AUTHORITY_MANAGE))
    # Editing and archiving come with the fields they change (lemur.certificates' edit
    # feature): until a certificate's detail has them, the page does not offer them.
    edit_action = getattr(Action, "CERTIFICATE_EDIT", Action.CERTIFICATE_ISSUE)
    may_edit = cert.team is not None and visit.may(edit_action, team_id=team)
    archived_at = getattr(cert, "archived_at", None)
    archived = bool(archived_at) or bool(getattr(cert, "archived", False))
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
        edit=may_edit and hasattr(cert, "description"),
        archive=may_edit and (hasattr(cert, "archived_at") or hasattr(cert, "archived")),
        archived=archived,
    )


def detail_page(
    visit: Visit,
    certificate_id: int,
    *,
    status: int = 200,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    """The certificate's page (also shown again, with errors, by a refused key export)."""
    with visit.services() as services:
        view = services.certificates().view(certificate_id)
    now = visit.now
    cert = CertificateDetailOut.render(view, now=now)
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
        can=controls(visit, cert),
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
