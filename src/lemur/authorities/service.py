"""Use cases for authorities: create local root and intermediate CAs, import external CAs,
read them with their chains, and hand a CA's signing material to the issuer plugin."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from lemur.accounts.service import check_name
from lemur.audit.service import AuditLog
from lemur.authorities.models import Authority
from lemur.authz import Principal
from lemur.certificates.models import Certificate
from lemur.certificates.store import add_certificate, chain_of, private_key_of, x509_of
from lemur.clock import Clock
from lemur.crypto.chain import is_directly_issued_by, is_self_signed
from lemur.crypto.inspection import describe_certificate
from lemur.crypto.keyring import KeyRing
from lemur.crypto.keys import KeySpec, PrivateKey
from lemur.crypto.parsing import load_certificates
from lemur.crypto.profiles import max_tls_validity_days
from lemur.errors import Conflict, InvalidInput, NotFound
from lemur.plugins.base import AuthorityCreator
from lemur.plugins.registry import Registry
from lemur.plugins.values import AuthoritySpec, PluginContext, SigningAuthority

LOCAL_CA = "local-ca"
EXTERNAL = "external"
# Clients with a slightly slow clock must accept a certificate issued a moment ago.
BACKDATE = dt.timedelta(minutes=5)
DEFAULT_CA_VALIDITY_DAYS = 3650
# Errors of the crypto layer name its own parameters; the API names the request's fields.
_CREATE_FIELDS = {
    "not_before": "validity_days",
    "not_after": "validity_days",
    "public_key": "key_type",
    "issuer_key": "parent_id",
    "issuer_cert": "parent_id",
    "permitted_dns_subtrees": "permitted_dns_domains",
    "excluded_dns_subtrees": "excluded_dns_domains",
}


def _request_field(field: str | None) -> str | None:
    if field is None:
        return None
    head, bracket, rest = field.partition("[")
    return _CREATE_FIELDS.get(head, head) + bracket + rest


@dataclass(frozen=True)
class AuthorityURLs:
    """This Lemur's own CRL, OCSP and CA-certificate URLs for an authority."""

    base_url: str

    def crl(self, authority_id: int) -> str:
        return f"{self.base_url}/crl/{authority_id}.crl"

    def ocsp(self, authority_id: int) -> str:
        return f"{self.base_url}/ocsp/{authority_id}"

    def ca_issuers(self, authority_id: int) -> str:
        return f"{self.base_url}/ca/{authority_id}.cer"


def check_public_base_url(urls: AuthorityURLs, *, field: str) -> None:
    """CA/B Forum certificates carry this Lemur's CRL and OCSP URLs, and the Baseline
    Requirements (§7.1.2.11.2, pkilint cabf.internal_domain_name) forbid internal names and
    IP addresses there: refuse instead of issuing certificates every browser rejects."""
    host = (urlsplit(urls.base_url).hostname or "").lower()
    try:
        ipaddress.ip_address(host)
        internal = True
    except ValueError:
        internal = "." not in host or host.endswith((".localhost", ".local", ".internal"))
    if internal:
        raise InvalidInput(
            f"CA/B Forum authorities need a public base URL for their CRL and OCSP URLs, and "
            f"'{urls.base_url}' is internal: set LEMUR_BASE_URL to this Lemur's public URL",
            code="base_url_not_public",
            field=field,
        )


def effective_max_validity_days(authority: Authority, *, not_before: dt.datetime) -> int:
    """The most days a certificate from ``authority`` may be valid when it starts at
    ``not_before``: the authority's ``max_validity_days`` and, for a CA/B Forum authority,
    the Baseline Requirements' maximum at that date (BR §6.3.2; a period of N days lasts N
    days and one second, RFC 5280 §4.1.2.5, hence one day less). Shown as the authority's
    ``max_validity_days`` and enforced at issuance, so that the two never disagree."""
    maximum = authority.max_validity_days
    if authority.cab_forum:
        maximum = min(maximum, max_tls_validity_days(not_before) - 1)
    return maximum


@dataclass(frozen=True)
class SigningMaterial:
    certificate: x509.Certificate
    private_key: PrivateKey
    chain: tuple[x509.Certificate, ...]


class SigningKeyCache:
    """CA certificates and decrypted keys by certificate id, for the life of the process.

    Loading them (a query, a Fernet decryption, parsing; for RSA a key check) costs more
    than the signature itself, and the key of a given certificate never changes (key-ring
    rotation re-encrypts the same key). The process holds the key in memory to sign with it
    anyway; the cache only keeps it there between requests.
    """

    def __init__(self) -> None:
        self._entries: dict[int, SigningMaterial] = {}
        self._lock = threading.Lock()

    def get(self, certificate_id: int, load: Callable[[], SigningMaterial]) -> SigningMaterial:
        found = self._entries.get(certificate_id)
        if found is None:
            found = load()
            with self._lock:
                self._entries[certificate_id] = found
        return found


@dataclass(frozen=True)
class SubjectFields:
    common_name: str
    organization: str | None = None
    organizational_unit: str | None = None
    country: str | None = None
    state: str | None = None
    locality: str | None = None

    def to_name(self) -> x509.Name:
        # Order as the CA/B Forum BR §7.1.4.2 expects: C, ST, L, O, OU, CN.
        pairs = [
            (NameOID.COUNTRY_NAME, self.country),
            (NameOID.STATE_OR_PROVINCE_NAME, self.state),
            (NameOID.LOCALITY_NAME, self.locality),
            (NameOID.ORGANIZATION_NAME, self.organization),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, self.organizational_unit),
            (NameOID.COMMON_NAME, self.common_name),
        ]
        try:
            return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs if value])
        except ValueError as exc:
            raise InvalidInput(
                f"invalid subject: {exc}", code="invalid_subject", field="subject"
            ) from exc


@dataclass(frozen=True)
class LocalAuthoritySpec:
    name: str
    subject: SubjectFields
    key_spec: KeySpec
    validity_days: int | None = DEFAULT_CA_VALIDITY_DAYS
    parent_id: int | None = None
    path_length: int | None = None
    permitted_dns_subtrees: tuple[str, ...] = ()
    excluded_dns_subtrees: tuple[str, ...] = ()
    cab_forum: bool = False
    default_validity_days: int = 90
    max_validity_days: int = 397
    description: str = ""
    exportable: bool = False


def authority_chain(session: Session, authority: Authority) -> tuple[x509.Certificate, ...]:
    """The authority's certificate followed by its issuers' (root last)."""
    assert authority.certificate is not None
    cert_row = authority.certificate
    return (x509_of(cert_row), *chain_of(cert_row))


class AuthorityService:
    def __init__(
        self,
        session: Session,
        *,
        clock: Clock,
        keyring: KeyRing,
        plugins: Registry,
        urls: AuthorityURLs,
        actor: Principal,
        signing_keys: SigningKeyCache | None = None,
    ) -> None:
        self._session = session
        self._clock = clock
        self._keyring = keyring
        self._plugins = plugins
        self._urls = urls
        self._actor = actor
        self._signing_keys = signing_keys or SigningKeyCache()

    def _context(self) -> PluginContext:
        return PluginContext(clock=self._clock, logger=logging.getLogger("lemur.plugins.issuer"))

    def _record(
        self, action: str, authority: Authority, **details: str | int | bool | None
    ) -> None:
        AuditLog(self._session, self._clock).record(
            self._actor.audit_actor,
            action,
            target_type="authority",
            target_id=authority.id,
            details=details,
        )

    def get(self, authority_id: int, *, field: str = "authority_id") -> Authority:
        authority = self._session.get(Authority, authority_id)
        if authority is None:
            raise NotFound(
                f"no authority with id {authority_id}", code="authority_not_found", field=field
            )
        return authority

    def find(self, name: str, *, field: str = "authority") -> Authority:
        authority = self._session.scalar(select(Authority).where(Authority.name == name))
        if authority is None:
            raise NotFound(f"no authority named '{name}'", code="authority_not_found", field=field)
        return authority

    def list(self) -> Sequence[Authority]:
        return self._session.scalars(
            select(Authority).options(joinedload(Authority.certificate)).order_by(Authority.name)
        ).all()

    def _check_new_name(self, name: str) -> None:
        check_name(name, field="name", what="authority name")
        if self._session.scalar(select(func.count()).where(Authority.name == name)):
            raise Conflict(
                f"an authority named '{name}' already exists", code="authority_exists", field="name"
            )

    def signing_authority(
        self, authority: Authority, *, field: str = "authority_id"
    ) -> SigningAuthority:
        """The CA's certificate, decrypted key, chain and URLs, for one signing operation."""
        if not authority.has_key or authority.certificate_id is None:
            raise InvalidInput(
                f"authority '{authority.name}' is an imported CA without its key; it cannot sign",
                code="authority_cannot_sign",
                field=field,
            )
        if not authority.active:
            raise InvalidInput(
                f"authority '{authority.name}' is disabled", code="authority_inactive", field=field
            )

        def load() -> SigningMaterial:
            row = authority.certificate
            assert row is not None
            key = private_key_of(self._session, row, self._keyring)
            assert key is not None
            return SigningMaterial(x509_of(row), key, chain_of(row))

        material = self._signing_keys.get(authority.certificate_id, load)
        return SigningAuthority(
            certificate=material.certificate,
            private_key=material.private_key,
            chain=material.chain,
            crl_url=self._urls.crl(authority.id),
            ocsp_url=self._urls.ocsp(authority.id),
            ca_issuers_url=self._urls.ca_issuers(authority.id),
            cab_forum=authority.cab_forum,
        )

    @staticmethod
    def _check_parent_allows(
        parent: Authority, parent_cert: x509.Certificate, path_length: int | None
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

    def create_local(self, spec: LocalAuthoritySpec) -> Authority:
        """Create a root (no parent) or an intermediate CA; its key is kept encrypted."""
        self._check_new_name(spec.name)
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
            check_public_base_url(self._urls, field="cab_forum")
        parent = self.get(spec.parent_id, field="parent_id") if spec.parent_id is not None else None
        signer = self.signing_authority(parent, field="parent_id") if parent else None
        now = self._clock.now()
        not_before = now - BACKDATE
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
        authority = Authority(
            name=spec.name,
            description=spec.description,
            plugin_slug=LOCAL_CA,
            options="{}",
            parent_id=parent.id if parent else None,
            has_key=True,
            cab_forum=spec.cab_forum,
            default_validity_days=spec.default_validity_days,
            max_validity_days=spec.max_validity_days,
            active=True,
            exportable=spec.exportable,
            created_at=now,
            crl_number=0,
            crl_stale=True,
        )
        self._session.add(authority)
        self._session.flush()
        issuer = self._plugins.instantiate("issuer", LOCAL_CA, {}, self._context())
        assert isinstance(issuer, AuthorityCreator)
        try:
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
        except InvalidInput as exc:
            raise InvalidInput(exc.message, code=exc.code, field=_request_field(exc.field)) from exc
        row = add_certificate(
            self._session,
            created.certificate,
            chain=created.chain,
            origin="issued",
            team_id=None,
            authority_id=parent.id if parent else authority.id,
            profile="ca",
            created_by=self._actor.actor_name,
            now=now,
            keyring=self._keyring,
            private_key=created.private_key,
        )
        authority.certificate_id = row.id
        authority.certificate = row
        self._record(
            "authority.create",
            authority,
            name=spec.name,
            parent=parent.name if parent else None,
            key_spec=spec.key_spec.value,
            cab_forum=spec.cab_forum,
            exportable=spec.exportable,
        )
        self._session.commit()
        return authority

    def import_external(self, name: str, pem: bytes, *, description: str = "") -> Authority:
        """Register a CA certificate without its key, so imported certificates chain to it."""
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
        parent = self.issuing_authority_of(cert)
        authority = Authority(
            name=name,
            description=description,
            plugin_slug=EXTERNAL,
            options=json.dumps({}),
            parent_id=parent.id if parent else None,
            has_key=False,
            cab_forum=False,
            default_validity_days=90,
            max_validity_days=397,
            active=True,
            created_at=now,
            crl_number=0,
            crl_stale=False,
        )
        self._session.add(authority)
        self._session.flush()
        row = add_certificate(
            self._session,
            cert,
            # An intermediate below a known authority chains to it, as certificates do.
            chain=authority_chain(self._session, parent) if parent is not None else (),
            origin="imported",
            team_id=None,
            authority_id=parent.id if parent else (authority.id if is_self_signed(cert) else None),
            profile="ca",
            created_by=self._actor.actor_name,
            now=now,
            keyring=self._keyring,
        )
        authority.certificate_id = row.id
        authority.certificate = row
        self._record(
            "authority.import", authority, name=name, fingerprint=details.sha256_fingerprint
        )
        self._session.commit()
        return authority

    def issuing_authority_of(self, cert: x509.Certificate) -> Authority | None:
        """The known authority whose certificate signed ``cert``, if any."""
        fingerprint = describe_certificate(cert).sha256_fingerprint
        issuer_name = cert.issuer.rfc4514_string()
        candidates = self._session.scalars(
            select(Authority)
            .join(Certificate, Certificate.id == Authority.certificate_id)
            .where(Certificate.subject == issuer_name)
        ).all()
        for candidate in candidates:
            assert candidate.certificate is not None
            if candidate.certificate.fingerprint_sha256 != fingerprint and is_directly_issued_by(
                cert, x509_of(candidate.certificate)
            ):
                return candidate
        return None
