"""Exporting a certificate through an exporter plugin. Formats that carry the private key
are authorised separately and audited; a refused key export is audited too, as denied. A
CA's key is exportable only if its authority was created exportable."""

from __future__ import annotations

from lemur.audit.service import AuditLog
from lemur.authorities.signing import IssuingAuthority
from lemur.authz import Action, authorize
from lemur.certificates.models import CertificateRecord
from lemur.certificates.service import CertificateService
from lemur.certificates.store import chain_of, x509_of
from lemur.errors import InvalidInput, NotFound, PermissionDenied
from lemur.plugins.values import Bundle, Exported


class ExportService(CertificateService):
    def export(
        self, certificate_id: int, *, fmt: str, passphrase: bytes | None, public_only: bool = False
    ) -> Exported:
        """Serialise a certificate; formats with the private key are authorised and audited.
        With ``public_only`` (GET requests, which must not carry a passphrase), key formats
        are refused. Raises InvalidInput(unknown_format) naming ``format`` for a format no
        exporter provides."""
        try:
            exporter_cls = self._plugins.get("exporter", fmt)
        except NotFound as exc:
            known = ", ".join(self._plugins.slugs("exporter")) or "none"
            raise InvalidInput(
                f"unknown export format '{fmt[:64]}'; known formats: {known}",
                code="unknown_format",
                field="format",
            ) from exc
        if public_only and exporter_cls.includes_private_key:
            raise InvalidInput(
                f"'{fmt}' contains the private key: use POST with the passphrase in the body",
                code="key_export_needs_post",
                field="format",
            )
        exporter = self._plugins.instantiate("exporter", fmt, {}, self._context("exporter"))
        authority = None
        if not exporter_cls.includes_private_key:
            cert = self.get(certificate_id)
            key = None
        else:
            cert, authority = self._key_export_allowed(certificate_id, fmt)
            key = self._store.private_key(self._uow.read, cert.id)
            if key is None:
                raise InvalidInput(
                    f"certificate {cert.id} has no private key in Lemur (it was issued from a "
                    "CSR or imported without one)",
                    code="no_private_key",
                    field="format",
                )
        name = (cert.common_name or f"certificate-{cert.id}").replace("*", "wildcard")
        exported = exporter.export(
            Bundle(certificate=x509_of(cert), chain=chain_of(cert), private_key=key, name=name),
            passphrase=passphrase,
        )
        if key is not None:
            with self._uow.write() as tx:
                if authority is not None:
                    AuditLog(tx.session, self._clock).record(
                        self._actor.audit_actor,
                        "authority.export_key",
                        target_type="authority",
                        target_id=authority.id,
                        details={
                            "certificate_id": cert.id,
                            "format": fmt,
                            "encrypted": passphrase is not None,
                        },
                    )
                else:
                    self._record(
                        tx,
                        "certificate.export_key",
                        cert.id,
                        format=fmt,
                        encrypted=passphrase is not None,
                    )
        return exported

    def _key_export_allowed(
        self, certificate_id: int, fmt: str
    ) -> tuple[CertificateRecord, IssuingAuthority | None]:
        """The certificate whose key is asked for, and the authority whose CA certificate it
        is (if it is one). A refusal is audited as denied, in the unit of work's write
        transaction (nothing else was written), then raised (404 for what the caller may
        not read, 403 otherwise)."""
        authority = None
        try:
            cert = self.get(certificate_id)
            team_id = cert.team_id if cert.team_id is not None else -1
            authorize(self._actor, Action.CERTIFICATE_EXPORT_KEY, team_id=team_id)
            if cert.is_ca:
                authority = self._authorities.of_ca_certificate(self._uow.read, cert.id)
            if authority is not None:
                authorize(self._actor, Action.AUTHORITY_MANAGE)
                if not authority.exportable:
                    raise PermissionDenied(
                        f"the private key of authority '{authority.name}' is not exportable: "
                        "only authorities created with exportable=true allow it",
                        code="key_not_exportable",
                        field="format",
                    )
        except (NotFound, PermissionDenied) as exc:
            if self._store.get(self._uow.read, certificate_id) is not None:
                self._record_denied(certificate_id, authority, fmt=fmt, reason=exc.code)
            raise
        return cert, authority

    def _record_denied(
        self, certificate_id: int, authority: IssuingAuthority | None, *, fmt: str, reason: str
    ) -> None:
        target_type, target_id, action = "certificate", certificate_id, "certificate.export_key"
        if authority is not None:
            target_type, target_id, action = "authority", authority.id, "authority.export_key"
        with self._uow.write() as tx:
            AuditLog(tx.session, self._clock).record(
                self._actor.audit_actor,
                action,
                target_type=target_type,
                target_id=target_id,
                outcome="denied",
                details={"certificate_id": certificate_id, "format": fmt, "reason": reason},
            )
