"""Use cases for certificates: issue (server-side key or CSR), import, export, revoke and
renew. Each public method is one transaction with its audit event."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from lemur.accounts.models import Team
from lemur.audit.service import AppendedEvent, AuditLog, DetailValue
from lemur.authorities.models import Authority
from lemur.authorities.service import (
    AuthorityService,
    AuthorityURLs,
    SigningKeyCache,
    authority_chain,
    check_public_base_url,
)
from lemur.authz import Action, Principal, allowed, authorize
from lemur.certificates.crl import mark_crl_stale, regenerate_crl
from lemur.certificates.material import leaf_of, looks_like_pkcs12, passphrase_errors
from lemur.certificates.models import Certificate, WrittenCertificate
from lemur.certificates.requests import (
    NewCertificate,
    in_request_terms,
    name_fields,
    normalize_names,
    validity_window,
)
from lemur.certificates.store import (
    add_certificate,
    chain_of,
    insert_certificate_row,
    insert_dependents,
    prepare_certificate,
    private_key_of,
    x509_of,
)
from lemur.clock import Clock
from lemur.crypto.chain import order_chain
from lemur.crypto.inspection import CertificateDetails, describe_certificate
from lemur.crypto.keyring import KeyRing
from lemur.crypto.keys import (
    KeySpec,
    PrivateKey,
    PublicKey,
    check_key_matches_certificate,
    generate_private_key,
    load_private_key,
)
from lemur.crypto.name_constraints import check_name_constraints
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.parsing import load_certificates, load_csr, load_pkcs12
from lemur.crypto.profiles import Profile
from lemur.crypto.revocation import RevocationReason
from lemur.db import Database, pipelined
from lemur.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lemur.plugins.base import Exporter, Issuer
from lemur.plugins.registry import Registry
from lemur.plugins.values import Bundle, Exported, IssuanceRequest, Issued, PluginContext


@dataclass(frozen=True)
class ImportedCertificate:
    team_id: int
    certificate: bytes
    chain: bytes | None = None
    private_key: bytes | None = None
    passphrase: bytes | None = None


_TEAM_AND_AUTHORITY = (
    select(Team.id, Team.name, Authority)
    .where(Team.id == bindparam("team_id"))
    .join(Authority, Authority.id == bindparam("authority_id"))
)


@dataclass(frozen=True)
class StoredCertificate:
    """A certificate as a use case has just written it, held in memory so that the answer
    can be rendered without reading it back. ``row`` holds the column values and names
    exactly as inserted."""

    row: WrittenCertificate
    details: CertificateDetails
    team_name: str
    authority_name: str
    event: AppendedEvent

    @property
    def id(self) -> int:
        return self.row.id


@dataclass(frozen=True)
class _Order:
    """A checked request, ready to be signed: the common ground of issue and renew."""

    team_id: int
    team_name: str
    authority: Authority
    common_name: str | None
    sans: SubjectAltNames
    profile: Profile
    key_spec: KeySpec
    public_key: PublicKey
    private_key: PrivateKey | None
    validity_days: int | None
    field_of: Callable[[str, str], str]
    from_csr: bool = False
    replaces: Certificate | None = None


class CertificateService:
    def __init__(
        self,
        session: Session,
        *,
        clock: Clock,
        keyring: KeyRing,
        plugins: Registry,
        urls: AuthorityURLs,
        actor: Principal,
        db: Database,
        signing_keys: SigningKeyCache | None = None,
    ) -> None:
        self._session = session
        self._db = db
        self._clock = clock
        self._keyring = keyring
        self._plugins = plugins
        self._urls = urls
        self._actor = actor
        self._authorities = AuthorityService(
            session,
            clock=clock,
            keyring=keyring,
            plugins=plugins,
            urls=urls,
            actor=actor,
            signing_keys=signing_keys,
        )

    def _record(self, action: str, cert: Certificate, **details: DetailValue) -> None:
        AuditLog(self._session, self._clock).record(
            self._actor.audit_actor,
            action,
            target_type="certificate",
            target_id=cert.id,
            details=details,
        )

    def _context(self, name: str) -> PluginContext:
        return PluginContext(clock=self._clock, logger=logging.getLogger(f"lemur.plugins.{name}"))

    def _team(self, team_id: int, action: Action) -> Team:
        team = self._session.get(Team, team_id)
        if team is None:
            raise NotFound(f"no team with id {team_id}", code="team_not_found", field="team_id")
        authorize(self._actor, action, team_id=team.id)
        return team

    def _team_and_authority(self, team_id: int, authority_id: int) -> tuple[int, str, Authority]:
        """Both rows of a request in one statement; the separate lookups run only to say
        which one is missing."""
        row = self._session.execute(
            _TEAM_AND_AUTHORITY, {"team_id": team_id, "authority_id": authority_id}
        ).one_or_none()
        if row is None:
            self._team(team_id, Action.CERTIFICATE_ISSUE)
            self._authorities.get(authority_id)
            raise AssertionError("unreachable: one of the lookups above raised NotFound")
        found_id, team_name, authority = row
        authorize(self._actor, Action.CERTIFICATE_ISSUE, team_id=found_id)
        return found_id, team_name, authority

    def get(self, certificate_id: int, action: Action = Action.CERTIFICATE_READ) -> Certificate:
        """The certificate, if the caller may perform ``action`` on it. Raises NotFound also
        for a certificate the caller may not read (another team's): a 403 would confirm
        that it exists. PermissionDenied when they may read it but not do ``action``."""
        cert = self._session.get(Certificate, certificate_id)
        team_id = cert.team_id if cert is not None and cert.team_id is not None else -1
        if cert is None or not allowed(self._actor, Action.CERTIFICATE_READ, team_id=team_id):
            raise NotFound(
                f"no certificate with id {certificate_id}",
                code="certificate_not_found",
                field="certificate_id",
            )
        authorize(self._actor, action, team_id=team_id)
        return cert

    # issuance ---------------------------------------------------------------------------

    def issue(self, req: NewCertificate) -> StoredCertificate:
        """Issue a certificate and return it as stored. The private key (when generated here) is
        stored encrypted and never returned. Raises InvalidInput, NotFound, PermissionDenied.

        ``session`` may be a read session: the result is written in its own transaction."""
        # Names, CSR and key generation need no database: doing them first keeps the
        # write transaction (and SQLite's write lock) short, even for RSA key generation.
        if req.csr is not None:
            if req.common_name or req.dns_names or req.ip_addresses or req.emails or req.uris:
                raise InvalidInput(
                    "give the names either in the CSR or in the request, not both",
                    code="names_with_csr",
                    field="csr",
                )
            info = load_csr(req.csr, field="csr")
            common_name, sans = normalize_names(
                replace(
                    req,
                    common_name=info.common_name,
                    dns_names=info.sans.dns_names,
                    ip_addresses=tuple(str(ip) for ip in info.sans.ip_addresses),
                    emails=info.sans.emails,
                    uris=info.sans.uris,
                )
            )
            public_key, key_spec, private_key = info.public_key, info.key_spec, None
        else:
            common_name, sans = normalize_names(req)
            private_key = generate_private_key(req.key_spec)
            public_key, key_spec = private_key.public_key(), req.key_spec
        team_id, team_name, authority = self._team_and_authority(req.team_id, req.authority_id)
        if authority.cab_forum and authority.has_key:
            check_public_base_url(self._urls, field="authority_id")
        order = _Order(
            team_id=team_id,
            team_name=team_name,
            authority=authority,
            common_name=common_name,
            sans=sans,
            profile=req.profile,
            key_spec=key_spec,
            public_key=public_key,
            private_key=private_key,
            validity_days=req.validity_days,
            field_of=name_fields(req, common_name),
            from_csr=req.csr is not None,
        )
        return self._sign_and_store(order, "certificate.issue", csr=req.csr is not None)

    def renew(
        self, certificate_id: int, *, validity_days: int | None = None, csr: bytes | None = None
    ) -> StoredCertificate:
        """A new certificate with the same names, profile, team and authority, linked into
        the lineage (replaces / replaced by). Its key: the public key of ``csr`` when given
        (Lemur then stores no key), else a new key of the same type generated here. A
        certificate issued from a CSR (Lemur never held its key) needs ``csr``: raises
        InvalidInput(csr_required) without, InvalidInput(csr_names_differ) when the CSR
        names other names than the certificate."""
        old = self.get(certificate_id, Action.CERTIFICATE_ISSUE)
        authority = self._authorities.get(old.authority_id) if old.authority_id else None
        team = self._session.get(Team, old.team_id) if old.team_id is not None else None
        if authority is None or team is None or old.is_ca or not authority.has_key:
            raise InvalidInput(
                "only certificates issued here for a team, by an authority whose key Lemur "
                "holds, can be renewed; request a new certificate instead",
                code="not_renewable",
                field="certificate_id",
            )
        if old.replaced_by_id is not None:
            raise InvalidInput(
                f"certificate {old.id} was already replaced by certificate {old.replaced_by_id}; renew that one",
                code="already_replaced",
                field="certificate_id",
            )
        details = describe_certificate(x509_of(old))
        profile = Profile(old.profile) if old.profile in set(Profile) else Profile.SERVER
        private_key: PrivateKey | None
        if csr is not None:
            public_key, key_spec = self._renewal_csr_key(old, details, csr)
            private_key = None
        elif not old.has_private_key:
            # Issued from a CSR (or imported without its key): the key is the requester's.
            # A key generated here would be one they never asked for, held by Lemur.
            raise InvalidInput(
                f"Lemur does not hold the private key of certificate {old.id} (it was issued "
                "from a CSR, or imported without its key), and a key you do not have would not "
                "renew it: send a new CSR (csr) with the key the new certificate should certify",
                code="csr_required",
                field="csr",
            )
        else:
            key_spec = KeySpec(old.key_spec) if old.key_spec else KeySpec.EC_P256
            private_key = generate_private_key(key_spec)
            public_key = private_key.public_key()
        order = _Order(
            team_id=team.id,
            team_name=team.name,
            authority=authority,
            common_name=details.common_name,
            sans=details.sans,
            profile=profile,
            key_spec=key_spec,
            public_key=public_key,
            private_key=private_key,
            validity_days=validity_days,
            field_of=lambda _kind, _name: "certificate_id",
            from_csr=csr is not None,
            replaces=old,
        )
        return self._sign_and_store(
            order, "certificate.renew", replaces=old.id, csr=csr is not None
        )

    @staticmethod
    def _renewal_csr_key(
        old: Certificate, details: CertificateDetails, csr: bytes
    ) -> tuple[PublicKey, KeySpec]:
        """The public key of a renewal's CSR (signature checked). The names are the old
        certificate's; a CSR that names anything must name exactly those."""
        info = load_csr(csr, field="csr")
        requested = {n.lower() for n in info.sans.all_names()}
        if info.common_name:
            requested.add(info.common_name.strip().lower().removesuffix("."))
        current = {n.lower() for n in details.sans.all_names()}
        if details.common_name:
            current.add(details.common_name.lower().removesuffix("."))
        if requested and requested != current:
            raise InvalidInput(
                f"a renewal keeps the names of certificate {old.id} ({', '.join(sorted(current))})"
                f" and the CSR asks for {', '.join(sorted(requested))}: send a CSR with the "
                "same names (or none), or request a new certificate for other names",
                code="csr_names_differ",
                field="csr",
            )
        return info.public_key, info.key_spec

    def _sign_and_store(
        self, order: _Order, action: str, **details: DetailValue
    ) -> StoredCertificate:
        """Check validity and name constraints, sign with the authority's issuer plugin, then
        store the certificate (and key) with its audit event in one short write transaction.

        Everything before the write (reads, signing, parsing, key encryption) happens in the
        caller's read session, outside the write transaction, so concurrent issuance queues
        only for the few statements that store the result."""
        authority = order.authority
        signer = self._authorities.signing_authority(authority)
        not_before, not_after = validity_window(
            authority,
            order.profile,
            order.validity_days,
            now=self._clock.now(),
            issuer_not_after=signer.certificate.not_valid_after_utc,
        )
        check_name_constraints(
            authority.name, (signer.certificate, *signer.chain), order.sans, field_of=order.field_of
        )
        issuer = self._plugins.instantiate(
            "issuer", authority.plugin_slug, {}, self._context("issuer")
        )
        assert isinstance(issuer, Issuer)
        try:
            result = issuer.issue(
                IssuanceRequest(
                    public_key=order.public_key,
                    key_spec=order.key_spec,
                    common_name=order.common_name,
                    sans=order.sans,
                    profile=order.profile,
                    not_before=not_before,
                    not_after=not_after,
                    authority=signer,
                )
            )
        except InvalidInput as exc:
            raise in_request_terms(exc, csr=order.from_csr) from exc
        if not isinstance(result, Issued):
            raise InvalidInput(
                "this authority answers asynchronously, which is not supported yet",
                code="issuance_pending_unsupported",
                field="authority_id",
            )
        prepared = prepare_certificate(
            result.certificate,
            chain=result.chain,
            origin="issued",
            team_id=order.team_id,
            authority_id=authority.id,
            profile=order.profile.value,
            created_by=self._actor.actor_name,
            now=self._clock.now(),
            keyring=self._keyring,
            private_key=order.private_key,
        )
        prepared.values["external_id"] = result.external_id
        audit_details: dict[str, DetailValue] = {
            "authority": authority.name,
            "team": order.team_name,
            "names": list(order.sans.all_names()),
            "key_spec": order.key_spec.value,
            **details,
        }
        # End the caller's session before writing: a read session (autocommit) has nothing
        # to end, but a write session given instead would otherwise make the write below
        # queue for its own lock on SQLite. The rollback expires the rows read so far: what
        # is needed of them is copied first.
        authority_name = authority.name
        replaces_id = order.replaces.id if order.replaces else None
        self._session.rollback()
        with self._db.write_held() as session:
            # A fresh random serial makes a duplicate fingerprint impossible short of a
            # collision, which the unique index would still refuse.
            written, head = insert_certificate_row(
                session, prepared, replaces_id=replaces_id, check_duplicate=False
            )
            audit = AuditLog(session, self._clock)
            # The rest reads no results: on PostgreSQL it goes in one round trip with the
            # commit (3 round trips for the whole write instead of 9).
            with pipelined(session):
                insert_dependents(session, prepared, written)
                event = audit.append(
                    head,
                    self._actor.audit_actor,
                    action,
                    target_type="certificate",
                    target_id=written["id"],
                    details=audit_details,
                )
                session.commit()
        return StoredCertificate(
            row=WrittenCertificate(**written, names=tuple(prepared.names)),
            details=prepared.details,
            team_name=order.team_name,
            authority_name=authority_name,
            event=event,
        )

    # import -----------------------------------------------------------------------------

    def import_(self, req: ImportedCertificate) -> Certificate:
        """Import a certificate (PEM, DER or PKCS#12) with optional chain and key."""
        team = self._team(req.team_id, Action.CERTIFICATE_IMPORT)
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
        authority = self._authorities.issuing_authority_of(cert)
        if not chain and authority is not None and authority.certificate is not None:
            # Signed by an authority Lemur knows (local, or an imported external CA): its
            # certificate and chain are this certificate's chain.
            chain = authority_chain(self._session, authority)
        row = add_certificate(
            self._session,
            cert,
            chain=chain,
            origin="imported",
            team_id=team.id,
            authority_id=authority.id if authority else None,
            profile=None,
            created_by=self._actor.actor_name,
            now=self._clock.now(),
            keyring=self._keyring,
            private_key=key,
        )
        self._record(
            "certificate.import",
            row,
            team=team.name,
            with_key=key is not None,
            chain_length=len(chain),
        )
        self._session.commit()
        return row

    def _check_not_held(self, cert: x509.Certificate) -> None:
        """Raise Conflict if the inventory holds ``cert`` already, naming the holder's
        certificate id only to a caller who may read it."""
        fingerprint = cert.fingerprint(hashes.SHA256()).hex()
        existing = self._session.execute(
            select(Certificate.id, Certificate.team_id).where(
                Certificate.fingerprint_sha256 == fingerprint
            )
        ).one_or_none()
        if existing is None:
            return
        existing_id, team_id = existing
        if allowed(
            self._actor, Action.CERTIFICATE_READ, team_id=-1 if team_id is None else team_id
        ):
            message = f"this certificate is already in the inventory as certificate {existing_id}"
        else:
            message = "this certificate is already in the inventory, held where you cannot see it"
        raise Conflict(message, code="certificate_exists", field="certificate")

    # export -----------------------------------------------------------------------------

    def export(
        self, certificate_id: int, *, fmt: str, passphrase: bytes | None, public_only: bool = False
    ) -> Exported:
        """Serialise a certificate; formats with the private key are authorised and audited.
        With ``public_only`` (GET requests, which must not carry a passphrase), key formats
        are refused."""
        try:
            exporter_cls = self._plugins.get("exporter", fmt)
        except NotFound as exc:
            raise NotFound(exc.message, code=exc.code, field="format") from exc
        if public_only and exporter_cls.includes_private_key:
            raise InvalidInput(
                f"'{fmt}' contains the private key: use POST with the passphrase in the body",
                code="key_export_needs_post",
                field="format",
            )
        exporter = self._plugins.instantiate("exporter", fmt, {}, self._context("exporter"))
        assert isinstance(exporter, Exporter)
        if not exporter_cls.includes_private_key:
            cert = self.get(certificate_id)
            key = None
        else:
            cert, authority = self._key_export_allowed(certificate_id, fmt)
            key = private_key_of(self._session, cert, self._keyring)
            if key is None:
                raise InvalidInput(
                    f"certificate {cert.id} has no private key in Lemur (it was issued from a CSR or imported without one)",
                    code="no_private_key",
                    field="format",
                )
        name = (cert.common_name or f"certificate-{cert.id}").replace("*", "wildcard")
        exported = exporter.export(
            Bundle(certificate=x509_of(cert), chain=chain_of(cert), private_key=key, name=name),
            passphrase=passphrase,
        )
        if key is not None and authority is not None:
            AuditLog(self._session, self._clock).record(
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
            self._session.commit()
        elif key is not None:
            self._record(
                "certificate.export_key", cert, format=fmt, encrypted=passphrase is not None
            )
            self._session.commit()
        return exported

    def _key_export_allowed(
        self, certificate_id: int, fmt: str
    ) -> tuple[Certificate, Authority | None]:
        """The certificate whose key is asked for, and the authority whose CA certificate it
        is (if it is one). A CA key is exportable only if the authority was created with
        ``exportable``. A refusal is audited as denied, in its own transaction so that it
        outlives the refused request, then raised (404 for what the caller may not read,
        403 otherwise)."""
        authority = None
        try:
            cert = self.get(certificate_id)
            team_id = cert.team_id if cert.team_id is not None else -1
            authorize(self._actor, Action.CERTIFICATE_EXPORT_KEY, team_id=team_id)
            if cert.is_ca:
                authority = self._session.scalar(
                    select(Authority).where(Authority.certificate_id == cert.id)
                )
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
            target = self._session.get(Certificate, certificate_id)
            if target is not None:
                self._record_denied(target, authority, fmt=fmt, reason=exc.code)
            raise
        return cert, authority

    def _record_denied(
        self, cert: Certificate, authority: Authority | None, *, fmt: str, reason: str
    ) -> None:
        """Audit a refused key export. The request's own transaction is ended first (it
        rolls back with the refusal; on SQLite it would also hold the write lock this
        event needs)."""
        target_type, target_id = ("certificate", cert.id)
        action = "certificate.export_key"
        if authority is not None:
            target_type, target_id, action = "authority", authority.id, "authority.export_key"
        certificate_id = cert.id
        self._session.rollback()
        with self._db.write() as session:
            AuditLog(session, self._clock).record(
                self._actor.audit_actor,
                action,
                target_type=target_type,
                target_id=target_id,
                outcome="denied",
                details={"certificate_id": certificate_id, "format": fmt, "reason": reason},
            )
            session.commit()

    # revocation -------------------------------------------------------------------------

    def revoke(self, certificate_id: int, *, reason: RevocationReason) -> Certificate:
        if reason is RevocationReason.REMOVE_FROM_CRL:
            # RFC 5280 §5.3.1: removeFromCRL only appears in delta CRLs, to undo a hold.
            raise InvalidInput(
                "remove_from_crl is not a reason to revoke a certificate",
                code="invalid_revocation_reason",
                field="reason",
            )
        cert = self.get(certificate_id, Action.CERTIFICATE_REVOKE)
        if cert.revoked_at is not None:
            raise InvalidInput(
                f"certificate {cert.id} was already revoked on {cert.revoked_at:%Y-%m-%d %H:%M} UTC",
                code="already_revoked",
                field="certificate_id",
            )
        cert.revoked_at = self._clock.now()
        cert.revocation_reason = reason.value
        self._record("certificate.revoke", cert, reason=reason.value, serial=cert.serial_hex)
        if cert.authority_id is not None:
            authority = self._authorities.get(cert.authority_id)
            if authority.has_key and not (cert.is_ca and authority.certificate_id == cert.id):
                mark_crl_stale(authority)
                self._session.flush()
                regenerate_crl(
                    self._session,
                    authority,
                    signer=self._authorities.signing_authority(authority),
                    now=self._clock.now(),
                )
        self._session.commit()
        return cert
