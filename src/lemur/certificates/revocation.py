"""Revoking a certificate: at its issuer when Lemur can reach one (an issuer plugin with
the revoke capability), and in the inventory in any case; then the issuer's CRL is signed
anew in the same transaction.

A certificate whose issuer Lemur cannot reach (imported from an external CA, or from a CA
Lemur does not know) is recorded as revoked in the inventory only, and the answer, the
detail view and the audit event say so: relying parties still see it as valid.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from lemur.authz import Action
from lemur.certificates.models import CertificateRecord
from lemur.certificates.service import CertificateService
from lemur.certificates.store import x509_of
from lemur.crypto.revocation import RevocationReason
from lemur.errors import Conflict, InvalidInput
from lemur.plugins.values import RevocationRequest


class RevocationScope(enum.StrEnum):
    ISSUER = "issuer"
    INVENTORY_ONLY = "inventory_only"

    def note(self, authority: str | None) -> str:
        """The plain sentence users read next to a revoked certificate."""
        if self is RevocationScope.ISSUER:
            return (
                f"Revoked at its issuing CA{f' ({authority})' if authority else ''}: the CA's "
                "CRL and OCSP answers list it as revoked."
            )
        return (
            "Recorded as revoked in Lemur's inventory only: Lemur cannot reach the CA that "
            "issued this certificate, so clients that check that CA's CRL or OCSP still "
            "accept it. Ask the issuing CA to revoke it."
        )


@dataclass(frozen=True)
class Revocation:
    certificate: CertificateRecord
    scope: RevocationScope


class RevocationService(CertificateService):
    def preview(self, certificate_id: int) -> Revocation:
        """What revoking would do, for a confirmation: the certificate (if the actor may
        revoke it) and where the revocation would take effect. Changes nothing. Raises
        NotFound, PermissionDenied."""
        cert = self.get(certificate_id, Action.CERTIFICATE_REVOKE)
        authority = (
            self._authorities.get(self._uow.read, cert.authority_id) if cert.authority_id else None
        )
        reaches = self._authorities.reaches_issuer(authority)
        return Revocation(
            cert, RevocationScope.ISSUER if reaches else RevocationScope.INVENTORY_ONLY
        )

    def revoke(self, certificate_id: int, *, reason: RevocationReason) -> Revocation:
        """Revoke at the issuer when it can be reached, record it in the inventory, and
        publish the issuer's new CRL. Raises InvalidInput(invalid_revocation_reason),
        Conflict(already_revoked), NotFound, PermissionDenied, and the issuer plugin's
        errors (nothing is recorded then)."""
        if reason is RevocationReason.REMOVE_FROM_CRL:
            # RFC 5280 §5.3.1: removeFromCRL only appears in delta CRLs, to undo a hold.
            raise InvalidInput(
                "remove_from_crl is not a reason to revoke a certificate",
                code="invalid_revocation_reason",
                field="reason",
            )
        cert = self.get(certificate_id, Action.CERTIFICATE_REVOKE)
        if cert.revoked_at is not None:
            raise _already_revoked(cert)
        read = self._uow.read
        authority = self._authorities.get(read, cert.authority_id) if cert.authority_id else None
        if (
            authority is not None
            and authority.remote
            and not self._authorities.reaches_issuer(authority)
        ):
            # Marking it here would tell users it is revoked while the CA says it is good.
            raise Conflict(
                f"the CA of '{authority.name}' ({authority.plugin_slug}) cannot revoke "
                "certificates through Lemur, so nothing was marked: ask the CA's operators to "
                "revoke it",
                code="issuer_cannot_revoke",
                field="certificate_id",
            )
        now = self._clock.now()
        # The issuer first, outside the transaction: if it refuses, nothing is recorded.
        at_issuer = self._authorities.revoke_at_issuer(
            authority,
            RevocationRequest(
                certificate=x509_of(cert),
                reason=reason,
                revoked_at=now,
                external_id=cert.external_id,
            ),
        )
        scope = RevocationScope.ISSUER if at_issuer else RevocationScope.INVENTORY_ONLY
        with self._uow.write() as tx:
            if not self._store.mark_revoked(tx.session, cert.id, at=now, reason=reason):
                current = self._store.get(tx.session, cert.id)
                raise _already_revoked(current or cert)
            self._record(
                tx,
                "certificate.revoke",
                cert.id,
                reason=reason.value,
                serial=cert.serial_hex,
                scope=scope.value,
            )
            if at_issuer and authority is not None and authority.holds_key:
                self._authorities.publish_crl_after_revocation(
                    tx.session, authority.id, revoked_certificate_id=cert.id
                )
        return Revocation(replace(cert, revoked_at=now, revocation_reason=reason.value), scope)


def _already_revoked(cert: CertificateRecord) -> Conflict:
    when = f" on {cert.revoked_at:%Y-%m-%d %H:%M} UTC" if cert.revoked_at else ""
    return Conflict(
        f"certificate {cert.id} was already revoked{when}",
        code="already_revoked",
        field="certificate_id",
    )
