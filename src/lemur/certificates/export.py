"""Exporting a certificate through an exporter plugin; formats that carry the private key
are authorised separately and audited."""

from __future__ import annotations

from lemur.authz import Action, authorize
from lemur.certificates.service import CertificateService
from lemur.certificates.store import chain_of, x509_of
from lemur.errors import InvalidInput, NotFound
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
        cert = self.get(certificate_id)
        exporter = self._plugins.instantiate("exporter", fmt, {}, self._context("exporter"))
        key = None
        if exporter_cls.includes_private_key:
            authorize(
                self._actor,
                Action.CERTIFICATE_EXPORT_KEY,
                team_id=cert.team_id if cert.team_id is not None else -1,
            )
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
                self._record(
                    tx,
                    "certificate.export_key",
                    cert.id,
                    format=fmt,
                    encrypted=passphrase is not None,
                )
        return exported
