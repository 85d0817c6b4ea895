"""Editing a certificate's settings (owning team, description, notifications on or off) and
archiving it.

Moving a certificate to another team needs the right to edit it on both teams. ``notify`` is
the notification mute (lemur.certificates.mutes): turning it off mutes the certificate,
turning it on unmutes it. Every change is one audit event, ``certificate.update`` with the
old and new value of each setting that changed; an edit that changes nothing writes nothing.

An archived certificate is kept: readable by id, listed on its issuer's CRL, renewable by
hand; the inventory's default lists and searches leave it out (``include_archived``), and
the renewal pass and the expiry notices skip it. ``certificate.archive`` and
``certificate.unarchive`` record both directions.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from lemur.accounts.models import Team
from lemur.audit.service import AuditLog, DetailValue
from lemur.authz import Action, allowed, authorize
from lemur.certificates.models import CertificateRecord
from lemur.certificates.service import CertificateService, CertificateView
from lemur.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lemur.text import require_text

MAX_DESCRIPTION = 1000
# The reason a mute made by the notify setting carries (shown in the list of mutes).
NOTIFY_OFF_REASON = "notifications turned off in the certificate's settings"


@dataclass(frozen=True)
class CertificateChanges:
    """What an edit asks for; None leaves a setting as it is. An empty ``description``
    removes it."""

    team_id: int | None = None
    description: str | None = None
    notify: bool | None = None


class EditService(CertificateService):
    def update(self, certificate_id: int, changes: CertificateChanges) -> CertificateView:
        """Apply ``changes`` and return the certificate as it is now. Raises NotFound
        (certificate_not_found, team_not_found), PermissionDenied (the certificate's team or
        the target team), InvalidInput(description_too_long, ca_certificate_team)."""
        if changes.description is not None:
            require_text(changes.description, field="description")
            if len(changes.description) > MAX_DESCRIPTION:
                raise InvalidInput(
                    f"the description is longer than {MAX_DESCRIPTION} characters",
                    code="description_too_long",
                    field="description",
                )
        cert = self.get(certificate_id, Action.CERTIFICATE_UPDATE)
        target: Team | None = None
        if changes.team_id is not None and changes.team_id != cert.team_id:
            target = self._target_team(cert, changes.team_id)
        if changes.notify is not None:
            authorize(self._actor, Action.CERTIFICATE_MUTE, team_id=_team_of(cert))
        with self._uow.write() as tx:
            log = AuditLog(tx.session, self._clock)
            # Every audited writer takes the chain's head first: from here to the commit no
            # one else changes this certificate, so the old values recorded are the real ones.
            head = log.lock_head()
            current = self._store.get(tx.session, cert.id) or cert
            if current.team_id != cert.team_id:
                authorize(self._actor, Action.CERTIFICATE_UPDATE, team_id=_team_of(current))
            details = self._apply(tx.session, current, changes, target)
            if details:
                log.append(
                    head,
                    self._actor.audit_actor,
                    "certificate.update",
                    target_type="certificate",
                    target_id=cert.id,
                    details=details,
                )
        return self.view(cert.id)

    def _target_team(self, cert: CertificateRecord, team_id: int) -> Team:
        """The team a certificate moves to, if the actor may move it there."""
        if cert.team_id is None:
            # A CA certificate belongs to its authority, not to a team.
            raise InvalidInput(
                f"certificate {cert.id} is a CA certificate and belongs to no team",
                code="ca_certificate_team",
                field="team_id",
            )
        team = self._uow.read.get(Team, team_id)
        if team is None:
            raise NotFound(f"no team with id {team_id}", code="team_not_found", field="team_id")
        if not allowed(self._actor, Action.CERTIFICATE_UPDATE, team_id=team.id):
            raise PermissionDenied(
                f"you may not move certificates to team '{team.name}': you are not a member of it",
                field="team_id",
            )
        return team

    def _apply(
        self,
        session: Session,
        current: CertificateRecord,
        changes: CertificateChanges,
        target: Team | None,
    ) -> dict[str, DetailValue]:
        """Write what differs from ``current``; the audit details of the change (empty when
        nothing changed)."""
        details: dict[str, DetailValue] = {}
        changed: list[str] = []
        team_id, description = current.team_id, current.description
        if target is not None and target.id != current.team_id:
            changed.append("team")
            details |= {
                "team_old": current.team_name,
                "team_new": target.name,
                "team_id_old": current.team_id,
                "team_id_new": target.id,
            }
            team_id = target.id
        if changes.description is not None and (changes.description or None) != description:
            changed.append("description")
            description_new = changes.description or None
            details |= {"description_old": description, "description_new": description_new}
            description = description_new
        if changes.notify is not None:
            mute = self._mutes.state(session, current.id)
            if changes.notify != (mute is None):
                changed.append("notify")
                details |= {"notify_old": mute is None, "notify_new": changes.notify}
                if changes.notify:
                    self._mutes.unmute(session, current.id)
                else:
                    self._mutes.mute(
                        session,
                        current.id,
                        by=self._actor.actor_name,
                        at=self._clock.now(),
                        reason=NOTIFY_OFF_REASON,
                    )
        if not changed:
            return {}
        if "team" in changed or "description" in changed:
            self._store.update_settings(
                session, current.id, team_id=team_id, description=description
            )
        return {"changed": changed, **details}

    def archive(self, certificate_id: int) -> CertificateView:
        """Archive a certificate. Raises Conflict(already_archived), NotFound,
        PermissionDenied."""
        cert = self.get(certificate_id, Action.CERTIFICATE_ARCHIVE)
        if cert.archived_at is not None:
            raise _already_archived(cert)
        with self._uow.write() as tx:
            now = self._clock.now()
            by = self._actor.actor_name
            if not self._store.mark_archived(tx.session, cert.id, at=now, by=by):
                raise _already_archived(self._store.get(tx.session, cert.id) or cert)
            self._record(tx, "certificate.archive", cert.id, serial=cert.serial_hex)
        return self.view(cert.id)

    def unarchive(self, certificate_id: int) -> CertificateView:
        """Bring an archived certificate back into the lists. Raises Conflict(not_archived),
        NotFound, PermissionDenied."""
        cert = self.get(certificate_id, Action.CERTIFICATE_ARCHIVE)
        if cert.archived_at is None:
            raise _not_archived(cert)
        with self._uow.write() as tx:
            if not self._store.clear_archived(tx.session, cert.id):
                raise _not_archived(cert)
            self._record(
                tx,
                "certificate.unarchive",
                cert.id,
                serial=cert.serial_hex,
                archived_at=cert.archived_at.isoformat(),
                archived_by=cert.archived_by,
            )
        return self.view(cert.id)


def _team_of(cert: CertificateRecord) -> int:
    """The team to authorize against: a CA certificate's (None) matches no member's."""
    return -1 if cert.team_id is None else cert.team_id


def _already_archived(cert: CertificateRecord) -> Conflict:
    when = f" on {cert.archived_at:%Y-%m-%d %H:%M} UTC" if cert.archived_at else ""
    by = f" by {cert.archived_by}" if cert.archived_by else ""
    return Conflict(
        f"certificate {cert.id} was already archived{when}{by}",
        code="already_archived",
        field="certificate_id",
    )


def _not_archived(cert: CertificateRecord) -> Conflict:
    return Conflict(
        f"certificate {cert.id} is not archived", code="not_archived", field="certificate_id"
    )
