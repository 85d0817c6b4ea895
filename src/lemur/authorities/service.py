"""Use cases for authorities: create local root and intermediate CAs, import external CAs,
read them with their certificates, and publish what relying parties fetch without logging
in (CA certificate, CRL, OCSP answers)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from sqlalchemy import func, select, update

from lemur.accounts.service import check_name
from lemur.audit.service import AuditLog
from lemur.authorities.allowances import stored
from lemur.authorities.crl import crl_needs_refresh, regenerate_crl
from lemur.authorities.inventory import CertificateInventory
from lemur.authorities.models import Authority
from lemur.authorities.ocsp import ocsp_response
from lemur.authorities.records import AuthorityRecord
from lemur.authorities.signing import (
    AuthorityGateway,
    IssuingAuthority,
    authority_not_found,
    backdated,
)
from lemur.authorities.specs import (
    DEFAULT_CA_VALIDITY_DAYS,
    EXTERNAL,
    LOCAL_CA,
    LocalAuthoritySpec,
)
from lemur.authorities.urls import check_public_base_url
from lemur.authz import Action, Principal, authorize
from lemur.clock import Clock
from lemur.crypto.chain import is_self_signed
from lemur.crypto.choices import check_authority_choices
from lemur.crypto.inspection import describe_certificate
from lemur.crypto.parsing import load_certificates
from lemur.crypto.revocation import (
    OCSPRequestInfo,
    malformed_request_response,
    ocsp_unauthorized_response,
    parse_ocsp_request,
)
from lemur.crypto.subjects import default_subject_fields
from lemur.crypto.usages import default_extended_key_usages
from lemur.db import UnitOfWork
from lemur.errors import Conflict, InvalidInput, NotFound
from lemur.ids import MAX_ID
from lemur.plugins.base import AuthorityCreator, CRLPublisher, Issuer
from lemur.plugins.options import JSONValue
from lemur.plugins.values import AuthoritySpec

__all__ = ["EXTERNAL", "LOCAL_CA", "AuthorityService"]

MAX_OCSP_REQUEST = 4096
_T = TypeVar("_T")


def _unique(values: Iterable[_T]) -> tuple[_T, ...]:
    """Order kept, repeats dropped: an allowance named twice is still one allowance."""
    return tuple(dict.fromkeys(values))


class AuthorityService:
    def __init__(
        self,
        uow: UnitOfWork,
        *,
        gateway: AuthorityGateway,
        inventory: CertificateInventory,
        clock: Clock,
        actor: Principal,
    ) -> None:
        self._uow = uow
        self._gateway = gateway
        self._inventory = inventory
        self._clock = clock
        self._actor = actor

    # reads ------------------------------------------------------------------------------

    def _records(self, rows: Sequence[Authority]) -> list[AuthorityRecord]:
        ids = [r.certificate_id for r in rows if r.certificate_id is not None]
        certs = self._inventory.ca_certificates(self._uow.read, ids) if ids else {}
        return [
            AuthorityRecord.of(r, certs.get(r.certificate_id) if r.certificate_id else None)
            for r in rows
        ]

    def _row(self, authority_id: int, *, field: str) -> Authority:
        row = self._uow.read.get(Authority, authority_id) if 0 < authority_id <= MAX_ID else None
        if row is None:
            raise authority_not_found(authority_id, field=field)
        return row

    def get(self, authority_id: int, *, field: str = "authority_id") -> AuthorityRecord:
        return self._records([self._row(authority_id, field=field)])[0]

    def find(self, name: str, *, field: str = "authority") -> AuthorityRecord:
        row = self._uow.read.scalar(select(Authority).where(Authority.name == name))
        if row is None:
            raise NotFound(f"no authority named '{name}'", code="authority_not_found", field=field)
        return self._records([row])[0]

    def list(self) -> list[AuthorityRecord]:
        return self._records(
            self._uow.read.scalars(select(Authority).order_by(Authority.name)).all()
        )

    def plugin_options(self, authority_id: int) -> dict[str, JSONValue]:
        """The authority's issuer plugin options as the API shows them: every secret as
        None, and the secrets that are set listed under ``secrets_set``."""
        row = self._row(authority_id, field="authority_id")
        return self._gateway.public_options(IssuingAuthority.of(row))

    def issued_counts(self) -> dict[int, int]:
        """How many certificates each authority issued (its own certificate aside), in one
        grouped statement."""
        session = self._uow.read
        own = session.scalars(
            select(Authority.certificate_id).where(Authority.certificate_id.is_not(None))
        ).all()
        return self._inventory.issued_counts(session, excluding=[i for i in own if i])

    def ca_certificate_der(self, authority_id: int) -> bytes:
        """The authority's certificate (DER), for the CA-issuers URL."""
        record = self.get(authority_id)
        if record.certificate is None:
            raise authority_not_found(authority_id, field="authority_id")
        return record.certificate.certificate.public_bytes(Encoding.DER)

    # CRL and OCSP -----------------------------------------------------------------------

    def current_crl(self, authority_id: int) -> bytes:
        """The authority's CRL (DER), signed anew first if a revocation made it stale or it
        is in the second half of its validity. Raises NotFound for an authority whose CRL
        Lemur does not publish."""
        now = self._clock.now()
        row = self._uow.read.get(Authority, authority_id) if 0 < authority_id <= MAX_ID else None
        if row is None or not row.has_key:
            raise NotFound(
                f"authority {authority_id} publishes no CRL here",
                code="authority_not_found",
                field="authority_id",
            )
        if not crl_needs_refresh(row, now) and row.crl_der is not None:
            return row.crl_der
        with self._uow.write() as tx:
            locked = tx.session.get(Authority, authority_id, with_for_update=True)
            assert locked is not None
            # Another request may have signed it while this one waited for the lock.
            if not crl_needs_refresh(locked, now) and locked.crl_der is not None:
                return locked.crl_der
            authority = IssuingAuthority.of(locked)
            publisher = self._gateway.issuer(authority)
            if not isinstance(publisher, CRLPublisher):
                raise NotFound(
                    f"authority {authority_id} publishes no CRL here",
                    code="authority_not_found",
                    field="authority_id",
                )
            # A deactivated authority issues nothing new, but its CRL stays current: the
            # certificates it issued are still checked by relying parties.
            return regenerate_crl(
                tx.session,
                locked,
                publisher=publisher,
                signer=self._gateway.revocation_signer(tx.session, authority),
                inventory=self._inventory,
                now=now,
            )

    def ocsp(self, authority_id: int, der: bytes) -> ocsp.OCSPResponse:
        """RFC 6960 §2.3: every answer is an OCSP response, errors included, because OCSP
        clients do not read JSON."""
        if len(der) > MAX_OCSP_REQUEST:
            return malformed_request_response()
        try:
            info: OCSPRequestInfo = parse_ocsp_request(der, field="request")
        except InvalidInput:
            return malformed_request_response()
        session = self._uow.read
        row = session.get(Authority, authority_id) if 0 < authority_id <= MAX_ID else None
        if row is None or not row.has_key:
            # Not a CA this responder signs for (unknown, imported without key). A
            # deactivated one still answers for the certificates it issued.
            return ocsp_unauthorized_response()
        authority = IssuingAuthority.of(row)
        return ocsp_response(
            session,
            authority.id,
            authority.certificate_id,
            info,
            signer=self._gateway.revocation_signer(session, authority),
            inventory=self._inventory,
            now=self._clock.now(),
        )

    # creation ---------------------------------------------------------------------------

    def _check_new_name(self, name: str) -> None:
        check_name(name, field="name", what="authority name")
        if self._uow.read.scalar(select(func.count()).where(Authority.name == name)):
            raise Conflict(
                f"an authority named '{name}' already exists", code="authority_exists", field="name"
            )

    @staticmethod
    def _check_parent_allows(
        parent: IssuingAuthority, parent_cert: x509.Certificate, path_length: int | None
    ) -> None:
        """RFC 5280 §4.2.1.9: the parent's pathLenConstraint limits the CAs below it."""
        try:
            limit = parent_cert.extensions.get_extension_for_class(
                x509.BasicConstraints
            ).value.path_length
        except x509.ExtensionNotFound:
            limit = None
        if limit is None:
            return
        if limit == 0:
            raise InvalidInput(
                f"'{parent.name}' has path length 0: it may issue leaf certificates only, "
                "no CA below it",
                code="path_length_exceeded",
                field="parent_id",
            )
        if path_length is not None and path_length >= limit:
            raise InvalidInput(
                f"'{parent.name}' allows {limit} CA level(s) below it, so path_length must be "
                f"at most {limit - 1}",
                code="path_length_exceeded",
                field="path_length",
            )

    def _creator(self, slug: str, options: object) -> Issuer[Any]:
        """The issuer plugin ``slug`` with ``options``, if it can create authorities.
        Raises NotFound(plugin_not_found), InvalidInput(plugin_cannot_create_authority,
        invalid_plugin_options naming ``options.<path>``)."""
        issuer = self._gateway.issuer_plugin(slug, options)
        if issuer is None:
            raise NotFound(
                f"no issuer plugin '{slug[:64]}' is installed (GET /api/v1/plugins lists them)",
                code="plugin_not_found",
                field="plugin",
            )
        if not isinstance(issuer, AuthorityCreator):
            raise InvalidInput(
                f"the issuer plugin '{slug}' cannot create authorities (it has no "
                "create_authority capability)",
                code="plugin_cannot_create_authority",
                field="plugin",
            )
        return issuer

    def create_local(self, spec: LocalAuthoritySpec) -> AuthorityRecord:
        """Create a root (no parent) or an intermediate CA; its key is kept encrypted.

        Errors of the issuer plugin name its own parameters (``not_after``,
        ``issuer_key``, ``permitted_dns_subtrees[0]``, ...): the API maps them to its
        fields."""
        authorize(self._actor, Action.AUTHORITY_MANAGE)
        self._check_new_name(spec.name)
        issuer = self._creator(spec.plugin, spec.options)
        if spec.validity_days is not None and spec.validity_days < 1:
            raise InvalidInput(
                "validity_days must be at least 1", code="invalid_validity", field="validity_days"
            )
        if not 1 <= spec.default_validity_days <= spec.max_validity_days:
            raise InvalidInput(
                "default_validity_days must be between 1 and max_validity_days",
                code="invalid_validity",
                field="default_validity_days",
            )
        if spec.cab_forum:
            check_public_base_url(self._gateway.urls, field="cab_forum")
        subject_fields = _unique(
            default_subject_fields(cab_forum=spec.cab_forum)
            if spec.allowed_subject_fields is None
            else spec.allowed_subject_fields
        )
        extended_key_usages = _unique(
            default_extended_key_usages(cab_forum=spec.cab_forum)
            if spec.allowed_extended_key_usages is None
            else spec.allowed_extended_key_usages
        )
        check_authority_choices(
            cab_forum=spec.cab_forum,
            subject_fields=subject_fields,
            extended_key_usages=extended_key_usages,
        )
        session = self._uow.read
        parent = None
        if spec.parent_id is not None:
            parent = IssuingAuthority.of(self._row(spec.parent_id, field="parent_id"))
        signer = self._gateway.signer(session, parent, field="parent_id") if parent else None
        now = self._clock.now()
        not_before = backdated(now)
        validity_days = spec.validity_days
        if signer is not None and parent is not None:
            self._check_parent_allows(parent, signer.certificate, spec.path_length)
            left = (signer.certificate.not_valid_after_utc - not_before).days
            if validity_days is None:
                validity_days = min(DEFAULT_CA_VALIDITY_DAYS, left)
            if validity_days > left or left < 1:
                raise InvalidInput(
                    f"a CA must not outlive its parent: '{parent.name}' expires on "
                    f"{signer.certificate.not_valid_after_utc:%Y-%m-%d}, so validity_days can be "
                    f"at most {max(left, 0)}",
                    code="validity_exceeds_issuer",
                    field="validity_days",
                )
        elif validity_days is None:
            validity_days = DEFAULT_CA_VALIDITY_DAYS
        assert isinstance(issuer, AuthorityCreator)
        # Key generation and signing happen before the write transaction opens.
        created = issuer.create_authority(
            AuthoritySpec(
                subject=spec.subject.to_name(),
                key_spec=spec.key_spec,
                not_before=not_before,
                not_after=not_before + dt.timedelta(days=validity_days),
                path_length=spec.path_length,
                permitted_dns_subtrees=spec.permitted_dns_subtrees,
                excluded_dns_subtrees=spec.excluded_dns_subtrees,
                cab_forum=spec.cab_forum,
                parent=signer,
            )
        )
        with self._uow.write() as tx:
            authority = Authority(
                name=spec.name,
                description=spec.description,
                plugin_slug=spec.plugin,
                options=self._gateway.dump_options(issuer),
                parent_id=parent.id if parent else None,
                has_key=True,
                cab_forum=spec.cab_forum,
                default_validity_days=spec.default_validity_days,
                max_validity_days=spec.max_validity_days,
                active=True,
                exportable=spec.exportable,
                renewal_policy=spec.renewal_policy,
                renew_before_days=spec.renew_before_days,
                allowed_subject_fields=stored(subject_fields),
                allowed_extended_key_usages=stored(extended_key_usages),
                created_at=now,
                crl_number=0,
                crl_stale=True,
            )
            tx.session.add(authority)
            tx.session.flush()
            authority.certificate_id = self._inventory.add_ca(
                tx.session,
                created.certificate,
                chain=created.chain,
                private_key=created.private_key,
                origin="issued",
                authority_id=parent.id if parent else authority.id,
                created_by=self._actor.actor_name,
                now=now,
            )
            AuditLog(tx.session, self._clock).record(
                self._actor.audit_actor,
                "authority.create",
                target_type="authority",
                target_id=authority.id,
                details={
                    "name": spec.name,
                    "plugin": spec.plugin,
                    "parent": parent.name if parent else None,
                    "key_spec": spec.key_spec.value,
                    "cab_forum": spec.cab_forum,
                    "exportable": spec.exportable,
                    "renewal_policy": spec.renewal_policy,
                    "allowed_subject_fields": list(subject_fields),
                    "allowed_extended_key_usages": list(extended_key_usages),
                },
            )
            new_id = authority.id
        return self.get(new_id)

    def import_external(self, name: str, pem: bytes, *, description: str = "") -> AuthorityRecord:
        """Register a CA certificate without its key, so imported certificates chain to it."""
        authorize(self._actor, Action.AUTHORITY_MANAGE)
        self._check_new_name(name)
        certs = load_certificates(pem, field="certificate")
        if len(certs) != 1:
            raise InvalidInput(
                f"expected exactly one CA certificate, got {len(certs)}",
                code="expected_one_certificate",
                field="certificate",
            )
        cert = certs[0]
        details = describe_certificate(cert)
        if not details.is_ca:
            raise InvalidInput(
                "this certificate is not a CA certificate (basicConstraints CA is not true)",
                code="not_a_ca",
                field="certificate",
            )
        now = self._clock.now()
        parent_id = self._gateway.issuer_of(self._uow.read, cert)
        # An intermediate below a known authority chains to it, as certificates do.
        chain = self._gateway.chain(self._uow.read, parent_id) if parent_id is not None else ()
        with self._uow.write() as tx:
            authority = Authority(
                name=name,
                description=description,
                plugin_slug=EXTERNAL,
                options=json.dumps({}),
                parent_id=parent_id,
                has_key=False,
                cab_forum=False,
                default_validity_days=90,
                max_validity_days=397,
                active=True,
                created_at=now,
                crl_number=0,
                crl_stale=False,
            )
            tx.session.add(authority)
            tx.session.flush()
            authority.certificate_id = self._inventory.add_ca(
                tx.session,
                cert,
                chain=chain,
                private_key=None,
                origin="imported",
                authority_id=parent_id or (authority.id if is_self_signed(cert) else None),
                created_by=self._actor.actor_name,
                now=now,
            )
            AuditLog(tx.session, self._clock).record(
                self._actor.audit_actor,
                "authority.import",
                target_type="authority",
                target_id=authority.id,
                details={"name": name, "fingerprint": details.sha256_fingerprint},
            )
            new_id = authority.id
        return self.get(new_id)

    # activation ---------------------------------------------------------------------------

    def deactivate(self, authority_id: int) -> AuthorityRecord:
        """Stop new issuance from the authority (certificates, renewals, CAs below it). The
        certificates it issued stay as they are, and its CRL and OCSP answers keep being
        served and refreshed. Raises NotFound, Conflict(authority_already_inactive)."""
        return self._set_active(authority_id, active=False)

    def activate(self, authority_id: int) -> AuthorityRecord:
        """Let a deactivated authority issue again. Raises NotFound,
        Conflict(authority_already_active)."""
        return self._set_active(authority_id, active=True)

    def _set_active(self, authority_id: int, *, active: bool) -> AuthorityRecord:
        authorize(self._actor, Action.AUTHORITY_MANAGE)
        row = self._row(authority_id, field="authority_id")
        name = row.name
        with self._uow.write() as tx:
            # Conditional: of two concurrent requests one changes it, the other is told.
            changed = tx.session.execute(
                update(Authority)
                .where(Authority.id == authority_id, Authority.active.is_(not active))
                .values(active=active)
                .returning(Authority.id)
            ).first()
            if changed is None:
                state = "active" if active else "inactive"
                raise Conflict(
                    f"authority '{name}' is already {state}",
                    code=f"authority_already_{state}",
                    field="authority_id",
                )
            AuditLog(tx.session, self._clock).record(
                self._actor.audit_actor,
                "authority.activate" if active else "authority.deactivate",
                target_type="authority",
                target_id=authority_id,
                details={"name": name},
            )
        # The read session holds the row as it was before this change.
        self._uow.read.expire(row)
        return self.get(authority_id)
