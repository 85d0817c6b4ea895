"""Issuing certificates: a new one (key generated here, or from a CSR) and a renewal.

Everything slow happens in the read phase, outside any transaction: names, key generation,
signing, parsing, key encryption (docs/decisions/0005). The write is one short transaction
of prebuilt statements: the row (its id, lineage and the audit head in one statement), then
the names, key and audit event in the commit's pipeline (docs/decisions/0008). The answer is
rendered from what was written, without reading it back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace

from cryptography import x509
from sqlalchemy.orm import Session

from lemur.audit.service import AuditLog, DetailValue
from lemur.authorities.signing import IssuingAuthority, IssuingTeam, check_can_sign
from lemur.authz import Action, authorize
from lemur.certificates.models import CertificateRecord
from lemur.certificates.requests import (
    NewCertificate,
    check_choices,
    chosen,
    normalize_names,
    validity_window,
)
from lemur.certificates.service import CertificateService, CertificateView
from lemur.certificates.store import x509_of
from lemur.crypto.inspection import CertificateDetails, describe_certificate
from lemur.crypto.keys import KeySpec, PrivateKey, PublicKey, generate_private_key
from lemur.crypto.name_constraints import check_name_constraints
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.parsing import load_csr
from lemur.crypto.profiles import Profile
from lemur.crypto.subjects import NO_SUBJECT, LeafSubject
from lemur.crypto.usages import ExtendedKeyUsageName, KeyUsageName
from lemur.deployments.planning import carry_to_successor, destinations_for, plan
from lemur.errors import Conflict, InvalidInput
from lemur.orders.records import RequestRecord
from lemur.orders.spec import make_csr
from lemur.orders.store import check_issued, new_request, pending_renewal
from lemur.plugins.values import IssuanceRequest, Issued, Pending, SigningAuthority


@dataclass(frozen=True)
class IssuanceOrder:
    """A checked request, ready to be signed: the common ground of issue and renew."""

    team: IssuingTeam
    authority: IssuingAuthority
    common_name: str | None
    sans: SubjectAltNames
    profile: Profile
    key_spec: KeySpec
    public_key: PublicKey
    private_key: PrivateKey | None
    validity_days: int | None
    replaces: CertificateRecord | None = None
    subject: LeafSubject = NO_SUBJECT
    key_usage: tuple[KeyUsageName, ...] | None = None
    extended_key_usage: tuple[ExtendedKeyUsageName, ...] | None = None
    # The requester's CSR (sent as it is to a remote CA); None when Lemur made the key.
    csr: x509.CertificateSigningRequest | None = None
    # Destinations to deploy to once issued (a renewal also goes where ``replaces`` is).
    destinations: tuple[int, ...] = ()


class IssuanceService(CertificateService):
    def issue(self, req: NewCertificate) -> CertificateView | RequestRecord:
        """Issue a certificate and return it as written, or the pending request when the
        authority's CA answers later (ACME, AWS Private CA). The private key (when generated
        here) is stored encrypted and never returned. Raises InvalidInput, NotFound,
        PermissionDenied; errors of the crypto layer name its parameters (``public_key``,
        ``subject_cn``, ``not_after``) and NameNotPermitted names the name at fault."""
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
            csr: x509.CertificateSigningRequest | None = info.csr
        else:
            csr = None
            common_name, sans = normalize_names(req)
            private_key = generate_private_key(req.key_spec)
            public_key, key_spec = private_key.public_key(), req.key_spec
        authority, team = self._authorities.for_issuance(
            self._uow.read, req.authority_id, team_id=req.team_id
        )
        authorize(self._actor, Action.CERTIFICATE_ISSUE, team_id=team.id)
        if req.destinations:
            self._check_destinations(req, team.id, has_key=private_key is not None)
        self._authorities.check_can_publish_urls(authority, field="authority_id")
        check_choices(
            authority,
            subject=req.subject,
            key_usage=req.key_usage,
            extended_key_usage=req.extended_key_usage,
            public_key=public_key,
        )
        order = IssuanceOrder(
            team=team,
            authority=authority,
            common_name=common_name,
            sans=sans,
            profile=req.profile,
            key_spec=key_spec,
            public_key=public_key,
            private_key=private_key,
            validity_days=req.validity_days,
            subject=req.subject,
            key_usage=req.key_usage,
            extended_key_usage=req.extended_key_usage,
            csr=csr,
            destinations=tuple(dict.fromkeys(req.destinations)),
        )
        return self._sign_and_store(order, "certificate.issue", csr=req.csr is not None)

    def _check_destinations(self, req: NewCertificate, team_id: int, *, has_key: bool) -> None:
        """Refuse, before anything is signed, destinations the request cannot use."""
        authorize(self._actor, Action.CERTIFICATE_DEPLOY, team_id=team_id)
        if not has_key:
            raise InvalidInput(
                "a certificate requested with a CSR has no key in Lemur and cannot be deployed "
                "by it: leave out destinations, or let Lemur generate the key",
                code="destinations_need_key",
                field="destinations",
            )
        destinations_for(self._uow.read, req.destinations, team_id=team_id, field="destinations")

    def renew(
        self, certificate_id: int, *, validity_days: int | None = None, csr: bytes | None = None
    ) -> CertificateView | RequestRecord:
        """A new certificate with the same names, profile, team and authority, linked into
        the lineage (replaces / replaced by). Its key: the public key of ``csr`` when given
        (Lemur then stores no key), else a new key of the same type generated here. A
        certificate whose key Lemur does not hold needs ``csr``: raises
        InvalidInput(csr_required) without, InvalidInput(csr_names_differ) when the CSR
        names other names than the certificate; Conflict(already_replaced) when it was
        renewed already."""
        old = self.get(certificate_id, Action.CERTIFICATE_ISSUE)
        read = self._uow.read
        authority = self._authorities.get(read, old.authority_id) if old.authority_id else None
        if (
            authority is None
            or old.team_id is None
            or old.team_name is None
            or old.is_ca
            or not (authority.holds_key or authority.remote)
        ):
            raise InvalidInput(
                "only certificates issued here for a team, by an authority that can still "
                "issue, can be renewed; request a new certificate instead",
                code="not_renewable",
                field="certificate_id",
            )
        if old.replaced_by_id is not None:
            raise Conflict(
                f"certificate {old.id} was already replaced by certificate "
                f"{old.replaced_by_id}; renew that one",
                code="already_replaced",
                field="certificate_id",
            )
        pending = pending_renewal(read, old.id)
        if pending is not None:
            raise Conflict(
                f"certificate {old.id} is being renewed already: request {pending} is pending "
                "at the CA",
                code="renewal_pending",
                field="certificate_id",
            )
        self._authorities.check_can_publish_urls(authority, field="certificate_id")
        details = describe_certificate(x509_of(old))
        private_key: PrivateKey | None
        renewal_csr: x509.CertificateSigningRequest | None = None
        if csr is not None:
            public_key, key_spec, renewal_csr = _renewal_csr_key(old, details, csr)
            private_key = None
            if authority.remote and not _has_sans(renewal_csr):
                # The CA takes the names from the CSR, which Lemur cannot change (it is
                # signed with the requester's key).
                raise InvalidInput(
                    f"the CA of '{authority.name}' issues for the names in the CSR: send a CSR "
                    f"that names {', '.join(details.sans.all_names())}",
                    code="csr_names_required",
                    field="csr",
                )
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
        profile = Profile(old.profile) if old.profile in set(Profile) else Profile.SERVER
        # The renewal keeps what was chosen; defaults stay defaults (for a CSR's new key too).
        subject, key_usage, extended_key_usage = chosen(x509_of(old), profile)
        if authority.remote:
            # A remote CA puts its own usages in (Pebble: keyEncipherment even for EC keys):
            # what it chose is not what the requester asked for, so ask for the defaults.
            key_usage = extended_key_usage = None
        check_choices(
            authority,
            subject=subject,
            key_usage=key_usage,
            extended_key_usage=extended_key_usage,
            public_key=public_key,
        )
        order = IssuanceOrder(
            team=IssuingTeam(old.team_id, old.team_name),
            authority=authority,
            common_name=details.common_name,
            sans=details.sans,
            profile=profile,
            key_spec=key_spec,
            public_key=public_key,
            private_key=private_key,
            validity_days=validity_days,
            replaces=old,
            subject=subject,
            key_usage=key_usage,
            extended_key_usage=extended_key_usage,
            csr=renewal_csr,
        )
        renewed = self._sign_and_store(
            order, "certificate.renew", replaces=old.id, csr=csr is not None
        )
        if isinstance(renewed, RequestRecord):
            return renewed
        # The answer shows the whole lineage: read it back (committed, autocommit reads).
        return self.view(renewed.certificate.id)

    def _sign_and_store(
        self, order: IssuanceOrder, action: str, **details: DetailValue
    ) -> CertificateView | RequestRecord:
        """Check validity and name constraints, have the authority's issuer plugin sign (or
        the remote CA issue), then store the certificate (and key) with its audit event in
        one short write transaction. A CA that answers later gets a pending request."""
        authority = order.authority
        now = self._clock.now()
        if authority.remote:
            check_can_sign(authority, field="authority_id")
            not_before, not_after = validity_window(
                authority, order.profile, order.validity_days, now=now, issuer_not_after=None
            )
            csr = order.csr
            if csr is None:
                assert order.private_key is not None, "a request without a CSR has a key"
                csr = make_csr(order.private_key, order.common_name, order.sans, order.subject)
            request = self._issuance_request(order, not_before, not_after, csr=csr)
            with self._authorities.connected(authority) as issuer:
                assert issuer is not None, "a remote authority has an issuer plugin"
                result = issuer.issue(request)
            if isinstance(result, Pending):
                return self._pending(order, request, result, action, details)
            check_issued(result, request)
            return self._write_issued(order, result, action, details)
        signer = self._authorities.signer(self._uow.read, authority)
        not_before, not_after = validity_window(
            authority,
            order.profile,
            order.validity_days,
            now=now,
            issuer_not_after=signer.certificate.not_valid_after_utc,
        )
        check_name_constraints(authority.name, (signer.certificate, *signer.chain), order.sans)
        issuer = self._authorities.issuer(authority)
        assert issuer is not None, "an authority that holds its key has an issuer plugin"
        issued = issuer.issue(self._issuance_request(order, not_before, not_after, signer=signer))
        if not isinstance(issued, Issued):
            raise InvalidInput(
                "an authority whose key Lemur holds must issue at once",
                code="issuance_pending_unsupported",
                field="authority_id",
            )
        return self._write_issued(order, issued, action, details)

    @staticmethod
    def _issuance_request(
        order: IssuanceOrder,
        not_before: dt.datetime,
        not_after: dt.datetime,
        *,
        signer: SigningAuthority | None = None,
        csr: x509.CertificateSigningRequest | None = None,
    ) -> IssuanceRequest:
        return IssuanceRequest(
            public_key=order.public_key,
            key_spec=order.key_spec,
            common_name=order.common_name,
            sans=order.sans,
            profile=order.profile,
            not_before=not_before,
            not_after=not_after,
            authority=signer,
            subject=order.subject,
            key_usage=order.key_usage,
            extended_key_usage=order.extended_key_usage,
            csr=csr,
        )

    def _pending(
        self,
        order: IssuanceOrder,
        request: IssuanceRequest,
        pending: Pending,
        action: str,
        details: dict[str, DetailValue],
    ) -> RequestRecord:
        """Keep the request the CA answers later and schedule its first poll."""
        assert request.csr is not None
        now = self._clock.now()
        key = None
        if order.private_key is not None:
            key = self._store.encrypt_private_key(order.private_key)
        with self._uow.write() as tx:
            row = new_request(
                tx.session,
                authority_id=order.authority.id,
                team_id=order.team.id,
                requested_by=self._actor.actor_name,
                pending=pending,
                request=request,
                private_key=key,
                replaces_id=order.replaces.id if order.replaces else None,
                destinations=order.destinations,
                now=now,
            )
            AuditLog(tx.session, self._clock).record(
                self._actor.audit_actor,
                "request.create",
                target_type="request",
                target_id=row.id,
                details={
                    "authority": order.authority.name,
                    "team": order.team.name,
                    "names": list(order.sans.all_names()),
                    "key_spec": order.key_spec.value,
                    "for": action,
                    "external_id": pending.external_id[:500],
                    **details,
                },
            )
        return RequestRecord.of(row, order.authority.name, order.team.name)

    def _write_issued(
        self,
        order: IssuanceOrder,
        result: Issued,
        action: str,
        details: dict[str, DetailValue],
        *,
        also: Callable[[Session, CertificateRecord], None] | None = None,
    ) -> CertificateView:
        """Write the issued certificate, its names, key and audit event (and ``also``, in
        the same transaction)."""
        authority = order.authority
        prepared = self._store.prepare(
            result.certificate,
            chain=result.chain,
            origin="issued",
            team_id=order.team.id,
            authority_id=authority.id,
            profile=order.profile.value,
            created_by=self._actor.actor_name,
            now=self._clock.now(),
            private_key=order.private_key,
            external_id=result.external_id,
        )
        audit_details: dict[str, DetailValue] = {
            "authority": authority.name,
            "team": order.team.name,
            "names": list(order.sans.all_names()),
            "key_spec": order.key_spec.value,
            **details,
        }
        with self._uow.write() as tx:
            # A fresh random serial makes a duplicate fingerprint impossible short of a
            # collision, which the unique index would still refuse.
            record, head = self._store.insert(
                tx.session,
                prepared,
                replaces_id=order.replaces.id if order.replaces else None,
                check_duplicate=also is not None,
            )
            if also is not None:
                also(tx.session, record)
            if order.destinations or order.replaces is not None:
                self._plan_deployments(tx.session, order, record.id)
            # The rest reads no results: on PostgreSQL it goes in one round trip with the
            # commit (3 round trips for the whole write instead of 9).
            with tx.commit_pipelined():
                self._store.insert_dependents(tx.session, prepared, record)
                event = AuditLog(tx.session, self._clock).append(
                    head,
                    self._actor.audit_actor,
                    action,
                    target_type="certificate",
                    target_id=record.id,
                    details=audit_details,
                )
        record = replace(record, team_name=order.team.name, authority_name=authority.name)
        # A new certificate's lineage is itself and its history the event just written.
        return CertificateView(record, (record,), (event,), prepared.details)

    def _plan_deployments(
        self, session: Session, order: IssuanceOrder, certificate_id: int
    ) -> None:
        """Deploy the new certificate where it was asked to go and, for a renewal, where
        the certificate it replaces is (in the transaction that writes it)."""
        now, by = self._clock.now(), self._actor.actor_name
        if order.replaces is not None and order.private_key is not None:
            carry_to_successor(session, order.replaces.id, certificate_id, by=by, now=now)
        if order.destinations:
            plan(session, certificate_id, order.destinations, by=by, now=now)


def _has_sans(csr: x509.CertificateSigningRequest) -> bool:
    try:
        csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return False
    return True


def _renewal_csr_key(
    old: CertificateRecord, details: CertificateDetails, csr: bytes
) -> tuple[PublicKey, KeySpec, x509.CertificateSigningRequest]:
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
    return info.public_key, info.key_spec, info.csr
