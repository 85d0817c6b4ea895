"""Reading certificates (one, or one with its lineage and history), and what every
certificate use case shares: its collaborators, the unit of work, authorization.

The use cases live beside it, one module each: issuance.py (issue, renew), imports.py,
export.py, revocation.py, editing.py (team, description, notifications; archive). Each reads in the unit of work's read phase and writes in its one
write transaction, with its audit event; none commits or rolls back a session itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from lemur.audit.service import AuditLog, AuditRecord, DetailValue, events_about
from lemur.authorities.signing import AuthorityGateway
from lemur.authz import Action, Principal, allowed, authorize
from lemur.certificates.models import CertificateRecord
from lemur.certificates.mutes import MuteRegister, MuteState
from lemur.certificates.store import CertificateStore, x509_of
from lemur.clock import Clock
from lemur.crypto.inspection import CertificateDetails, describe_certificate
from lemur.db import UnitOfWork, WriteTransaction
from lemur.errors import NotFound
from lemur.plugins.registry import Registry
from lemur.plugins.values import PluginContext


@dataclass(frozen=True)
class CertificateView:
    """Everything the detail shows: the certificate, its lineage, its history and its mute
    (notifications are off while it has one)."""

    certificate: CertificateRecord
    lineage: tuple[CertificateRecord, ...]
    history: tuple[AuditRecord, ...]
    details: CertificateDetails
    mute: MuteState | None = None


class CertificateService:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        store: CertificateStore,
        authorities: AuthorityGateway,
        plugins: Registry,
        mutes: MuteRegister,
        clock: Clock,
        actor: Principal,
    ) -> None:
        self._uow = uow
        self._store = store
        self._mutes = mutes
        self._authorities = authorities
        self._plugins = plugins
        self._clock = clock
        self._actor = actor

    def _context(self, name: str) -> PluginContext:
        return PluginContext(clock=self._clock, logger=logging.getLogger(f"lemur.plugins.{name}"))

    def _record(
        self, tx: WriteTransaction, action: str, certificate_id: int, **details: DetailValue
    ) -> AuditRecord:
        return AuditLog(tx.session, self._clock).record(
            self._actor.audit_actor,
            action,
            target_type="certificate",
            target_id=certificate_id,
            details=details,
        )

    def get(
        self, certificate_id: int, action: Action = Action.CERTIFICATE_READ
    ) -> CertificateRecord:
        """The certificate, if the actor may perform ``action`` on it. Raises NotFound also
        for a certificate the actor may not read (another team's): a 403 would confirm that
        it exists. PermissionDenied when they may read it but not do ``action``."""
        found = self._store.get(self._uow.read, certificate_id)
        team_id = found.team_id if found is not None and found.team_id is not None else -1
        if found is None or not allowed(self._actor, Action.CERTIFICATE_READ, team_id=team_id):
            raise NotFound(
                f"no certificate with id {certificate_id}",
                code="certificate_not_found",
                field="certificate_id",
            )
        authorize(self._actor, action, team_id=team_id)
        return found

    def view(self, certificate_id: int) -> CertificateView:
        """The certificate with its lineage (oldest first), its latest 100 events and its
        mute."""
        record = self.get(certificate_id)
        read = self._uow.read
        return CertificateView(
            certificate=record,
            lineage=tuple(self._store.lineage(read, record)),
            history=tuple(events_about(read, "certificate", record.id)),
            details=describe_certificate(x509_of(record)),
            mute=self._mutes.state(read, record.id),
        )
