"""Importing a certificate someone else issued (PEM, DER or PKCS#12), with its chain and,
optionally, its key."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from lemur.accounts.models import Team
from lemur.authz import Action, allowed, authorize
from lemur.certificates.material import leaf_of, looks_like_pkcs12, passphrase_errors
from lemur.certificates.service import CertificateService, CertificateView
from lemur.crypto.chain import order_chain
from lemur.crypto.keys import check_key_matches_certificate, load_private_key
from lemur.crypto.parsing import load_certificates, load_pkcs12
from lemur.errors import Conflict, InvalidInput, NotFound


class CertificateHeld(Conflict):
    """The inventory holds the certificate already (code ``certificate_exists``).
    ``existing_id`` names it only when the caller may read it, else it is None."""

    def __init__(self, message: str, *, existing_id: int | None) -> None:
        super().__init__(message, code="certificate_exists", field="certificate")
        self.existing_id = existing_id


@dataclass(frozen=True)
class ImportedCertificate:
    team_id: int
    certificate: bytes
    chain: bytes | None = None
    private_key: bytes | None = None
    passphrase: bytes | None = None


class ImportService(CertificateService):
    def import_(self, req: ImportedCertificate) -> CertificateView:
        """Import a certificate (PEM, DER or PKCS#12) with optional chain and key. Raises
        InvalidInput, NotFound(team_not_found), PermissionDenied, CertificateHeld (a
        Conflict, certificate_exists)."""
        team = self._uow.read.get(Team, req.team_id)
        if team is None:
            raise NotFound(f"no team with id {req.team_id}", code="team_not_found", field="team_id")
        authorize(self._actor, Action.CERTIFICATE_IMPORT, team_id=team.id)
        team_id, team_name = team.id, team.name
        key = None
        extra: list[x509.Certificate] = []
        data = req.certificate
        if looks_like_pkcs12(data):
            contents = passphrase_errors(
                lambda: load_pkcs12(data, req.passphrase, field="certificate")
            )
            cert, key, extra = (
                contents.certificate,
                contents.key,
                list(contents.additional_certificates),
            )
        else:
            certs = load_certificates(data, field="certificate")
            cert = leaf_of(certs)
            extra = [c for c in certs if c is not cert]
        if req.chain:
            extra += load_certificates(req.chain, field="chain")
        if req.private_key:
            if key is not None:
                raise InvalidInput(
                    "the PKCS#12 file already holds a key; do not send private_key too",
                    code="duplicate_private_key",
                    field="private_key",
                )
            private_key = req.private_key
            key = passphrase_errors(
                lambda: load_private_key(private_key, req.passphrase, field="private_key")
            )
        if key is not None:
            check_key_matches_certificate(key, cert, field="private_key")
        self._check_not_held(cert)
        ordered = order_chain(cert, extra, field="chain") if extra else [cert]
        chain = tuple(ordered[1:])
        authority_id = self._authorities.issuer_of(self._uow.read, cert)
        if not chain and authority_id is not None:
            # Signed by an authority Lemur knows (local, or an imported external CA): its
            # certificate and chain are this certificate's chain.
            chain = self._authorities.chain(self._uow.read, authority_id)
        prepared = self._store.prepare(
            cert,
            chain=chain,
            origin="imported",
            team_id=team_id,
            authority_id=authority_id,
            profile=None,
            created_by=self._actor.actor_name,
            now=self._clock.now(),
            private_key=key,
        )
        with self._uow.write() as tx:
            record = self._store.add(tx.session, prepared)
            self._record(
                tx,
                "certificate.import",
                record.id,
                team=team_name,
                with_key=key is not None,
                chain_length=len(chain),
            )
        return self.view(record.id)

    def _check_not_held(self, cert: x509.Certificate) -> None:
        """Raise CertificateHeld if the inventory holds ``cert`` already, naming the
        holder's certificate id only to a caller who may read it."""
        existing = self._store.by_fingerprint(
            self._uow.read, cert.fingerprint(hashes.SHA256()).hex()
        )
        if existing is None:
            return
        team_id = -1 if existing.team_id is None else existing.team_id
        if allowed(self._actor, Action.CERTIFICATE_READ, team_id=team_id):
            raise CertificateHeld(
                f"this certificate is already in the inventory as certificate {existing.id}",
                existing_id=existing.id,
            )
        raise CertificateHeld(
            "this certificate is already in the inventory, held where you cannot see it",
            existing_id=None,
        )
