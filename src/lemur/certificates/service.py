"""Use cases for certificates: issue (server-side key or CSR), import, export, revoke and
renew. Each public method is one transaction with its audit event."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from cryptography import x509
from sqlalchemy.orm import Session

from lemur.accounts.models import Team
from lemur.audit.service import Actor, AuditLog, DetailValue
from lemur.authorities.models import Authority
from lemur.authorities.service import (
    BACKDATE,
    AuthorityService,
    AuthorityURLs,
    check_public_base_url,
)
from lemur.authz import Action, Principal, authorize
from lemur.certificates.crl import mark_crl_stale, regenerate_crl
from lemur.certificates.models import Certificate
from lemur.certificates.store import add_certificate, chain_of, private_key_of, x509_of
from lemur.clock import Clock
from lemur.crypto.chain import order_chain
from lemur.crypto.inspection import describe_certificate
from lemur.crypto.keyring import KeyRing
from lemur.crypto.keys import (
    KeySpec,
    check_key_matches_certificate,
    generate_private_key,
    load_private_key,
)
from lemur.crypto.names import SubjectAltNames, normalize_dns_name
from lemur.crypto.parsing import load_certificates, load_csr, load_pkcs12
from lemur.crypto.profiles import Profile, max_tls_validity_days
from lemur.crypto.revocation import RevocationReason
from lemur.errors import InvalidInput, NotFound
from lemur.plugins.base import Exporter, Issuer
from lemur.plugins.registry import Registry
from lemur.plugins.values import Bundle, Exported, IssuanceRequest, Issued, PluginContext

# (default, maximum) validity in days per profile. Server certificates follow the
# CA/Browser Forum's 398-day ceiling even from private CAs: clients enforce it anyway.
PROFILE_VALIDITY = {
    Profile.SERVER: (90, 397),
    Profile.CLIENT: (365, 825),
    Profile.SERVER_CLIENT: (90, 397),
}


@dataclass(frozen=True)
class NewCertificate:
    """A request for a certificate; names are raw user input, validated by the service."""

    team_id: int
    authority_id: int
    common_name: str | None = None
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    profile: Profile = Profile.SERVER
    validity_days: int | None = None
    key_spec: KeySpec = KeySpec.EC_P256
    csr: bytes | None = None


@dataclass(frozen=True)
class ImportedCertificate:
    team_id: int
    certificate: bytes
    chain: bytes | None = None
    private_key: bytes | None = None
    passphrase: bytes | None = None


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
    ) -> None:
        self._session = session
        self._clock = clock
        self._keyring = keyring
        self._plugins = plugins
        self._urls = urls
        self._actor = actor
        self._authorities = AuthorityService(
            session, clock=clock, keyring=keyring, plugins=plugins, urls=urls, actor=actor
        )

    def _record(self, action: str, cert: Certificate, **details: DetailValue) -> None:
        AuditLog(self._session, self._clock).record(
            Actor(self._actor.actor_name, self._actor.client_address),
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

    def get(self, certificate_id: int, action: Action = Action.CERTIFICATE_READ) -> Certificate:
        cert = self._session.get(Certificate, certificate_id)
        if cert is None:
            raise NotFound(
                f"no certificate with id {certificate_id}",
                code="certificate_not_found",
                field="certificate_id",
            )
        authorize(self._actor, action, team_id=cert.team_id if cert.team_id is not None else -1)
        return cert

    # issuance ---------------------------------------------------------------------------

    def _names(self, req: NewCertificate) -> tuple[str | None, SubjectAltNames]:
        sans = SubjectAltNames.create(
            dns_names=req.dns_names, ip_addresses=req.ip_addresses, emails=req.emails, uris=req.uris
        )
        common_name = req.common_name.strip() if req.common_name else None
        if common_name and req.profile is not Profile.CLIENT:
            # A server certificate's CN is one of its names (CA/B BR §7.1.4.3): normalise it
            # like a DNS name and make sure the SAN extension carries it too.
            common_name = normalize_dns_name(common_name, field="common_name")
            if common_name not in sans.dns_names:
                sans = SubjectAltNames(
                    dns_names=(common_name, *sans.dns_names),
                    ip_addresses=sans.ip_addresses,
                    emails=sans.emails,
                    uris=sans.uris,
                )
        if common_name is not None and len(common_name) > 64:
            raise InvalidInput(
                "common_name is longer than 64 characters (RFC 5280 ub-common-name); put long names in dns_names only",
                code="common_name_too_long",
                field="common_name",
            )
        if not sans.all_names() and not common_name:
            raise InvalidInput(
                "a certificate needs at least one name: give common_name or dns_names",
                code="names_required",
                field="dns_names",
            )
        return common_name, sans

    def _validity(
        self, authority: Authority, profile: Profile, days: int | None
    ) -> tuple[dt.datetime, dt.datetime]:
        profile_default, profile_max = PROFILE_VALIDITY[profile]
        maximum = min(profile_max, authority.max_validity_days)
        not_before = self._clock.now() - BACKDATE
        if authority.cab_forum:
            # BR §6.3.2: the subscriber maximum shrinks over the years; a period of N days
            # lasts N days and one second (RFC 5280 §4.1.2.5 counts both ends).
            maximum = min(maximum, max_tls_validity_days(not_before) - 1)
        days = (
            days
            if days is not None
            else min(authority.default_validity_days, profile_default, maximum)
        )
        if days < 1:
            raise InvalidInput(
                "validity_days must be at least 1", code="invalid_validity", field="validity_days"
            )
        if days > maximum:
            raise InvalidInput(
                f"validity_days {days} is more than the {maximum} days allowed for a {profile.value} "
                f"certificate from '{authority.name}'",
                code="validity_exceeds_maximum",
                field="validity_days",
            )
        not_after = not_before + dt.timedelta(days=days)
        assert authority.certificate is not None
        ca_expiry = authority.certificate.not_after
        if not_after > ca_expiry:
            left = max((ca_expiry - not_before).days, 0)
            raise InvalidInput(
                f"a certificate must not outlive its issuer: '{authority.name}' expires on "
                f"{ca_expiry:%Y-%m-%d}, so at most {left} days are possible",
                code="validity_exceeds_issuer",
                field="validity_days",
            )
        return not_before, not_after

    def issue(self, req: NewCertificate) -> Certificate:
        """Issue a certificate. The private key (when generated here) is stored encrypted and
        never returned. Raises InvalidInput, NotFound, PermissionDenied."""
        team = self._team(req.team_id, Action.CERTIFICATE_ISSUE)
        authority = self._authorities.get(req.authority_id)
        if authority.cab_forum and authority.has_key:
            check_public_base_url(self._urls, field="authority_id")
        if req.csr is not None:
            if req.common_name or req.dns_names or req.ip_addresses or req.emails or req.uris:
                raise InvalidInput(
                    "give the names either in the CSR or in the request, not both",
                    code="names_with_csr",
                    field="csr",
                )
            info = load_csr(req.csr, field="csr")
            common_name, sans = self._names(
                NewCertificate(
                    team_id=req.team_id,
                    authority_id=req.authority_id,
                    common_name=info.common_name,
                    dns_names=info.sans.dns_names,
                    ip_addresses=tuple(str(ip) for ip in info.sans.ip_addresses),
                    emails=info.sans.emails,
                    uris=info.sans.uris,
                    profile=req.profile,
                )
            )
            public_key, key_spec, private_key = info.public_key, info.key_spec, None
        else:
            common_name, sans = self._names(req)
            private_key = generate_private_key(req.key_spec)
            public_key, key_spec = private_key.public_key(), req.key_spec
        not_before, not_after = self._validity(authority, req.profile, req.validity_days)
        signer = self._authorities.signing_authority(authority)
        check_name_constraints(
            authority.name,
            (signer.certificate, *signer.chain),
            sans,
            field_of=_name_fields(req, common_name),
        )
        issuer = self._plugins.instantiate(
            "issuer", authority.plugin_slug, {}, self._context("issuer")
        )
        assert isinstance(issuer, Issuer)
        try:
            result = issuer.issue(
                IssuanceRequest(
                    public_key=public_key,
                    key_spec=key_spec,
                    common_name=common_name,
                    sans=sans,
                    profile=req.profile,
                    not_before=not_before,
                    not_after=not_after,
                    authority=signer,
                )
            )
        except InvalidInput as exc:
            raise _in_request_terms(exc, csr=req.csr is not None) from exc
        if not isinstance(result, Issued):
            raise InvalidInput(
                "this authority answers asynchronously, which is not supported yet",
                code="issuance_pending_unsupported",
                field="authority_id",
            )
        cert = add_certificate(
            self._session,
            result.certificate,
            chain=result.chain,
            origin="issued",
            team_id=team.id,
            authority_id=authority.id,
            profile=req.profile.value,
            created_by=self._actor.actor_name,
            now=self._clock.now(),
            keyring=self._keyring,
            private_key=private_key,
        )
        cert.external_id = result.external_id
        self._record(
            "certificate.issue",
            cert,
            authority=authority.name,
            team=team.name,
            names=list(sans.all_names()),
            key_spec=key_spec.value,
            csr=req.csr is not None,
        )
        self._session.commit()
        return cert

    def renew(self, certificate_id: int, *, validity_days: int | None = None) -> Certificate:
        """A new certificate with the same names, profile, team and authority and a new key of
        the same type, linked into the lineage (replaces / replaced by)."""
        old = self.get(certificate_id, Action.CERTIFICATE_ISSUE)
        if old.authority_id is None or old.team_id is None or old.is_ca:
            raise InvalidInput(
                "only certificates issued here for a team can be renewed",
                code="not_renewable",
                field="certificate_id",
            )
        if old.replaced_by_id is not None:
            raise InvalidInput(
                f"certificate {old.id} was already replaced by certificate {old.replaced_by_id}; renew that one",
                code="already_replaced",
                field="certificate_id",
            )
        authority = self._authorities.get(old.authority_id)
        parsed = x509_of(old)
        details = describe_certificate(parsed)
        profile = (
            Profile(old.profile) if old.profile in {p.value for p in Profile} else Profile.SERVER
        )
        key_spec = KeySpec(old.key_spec) if old.key_spec else KeySpec.EC_P256
        sans = details.sans
        private_key = generate_private_key(key_spec)
        not_before, not_after = self._validity(authority, profile, validity_days)
        issuer = self._plugins.instantiate(
            "issuer", authority.plugin_slug, {}, self._context("issuer")
        )
        assert isinstance(issuer, Issuer)
        result = issuer.issue(
            IssuanceRequest(
                public_key=private_key.public_key(),
                key_spec=key_spec,
                common_name=details.common_name,
                sans=sans,
                profile=profile,
                not_before=not_before,
                not_after=not_after,
                authority=self._authorities.signing_authority(authority),
            )
        )
        assert isinstance(result, Issued)
        new = add_certificate(
            self._session,
            result.certificate,
            chain=result.chain,
            origin="issued",
            team_id=old.team_id,
            authority_id=authority.id,
            profile=profile.value,
            created_by=self._actor.actor_name,
            now=self._clock.now(),
            keyring=self._keyring,
            private_key=private_key,
            replaces=old,
        )
        self._record("certificate.renew", new, replaces=old.id, names=list(sans.all_names()))
        self._session.commit()
        return new

    # import -----------------------------------------------------------------------------

    def import_(self, req: ImportedCertificate) -> Certificate:
        """Import a certificate (PEM, DER or PKCS#12) with optional chain and key."""
        team = self._team(req.team_id, Action.CERTIFICATE_IMPORT)
        key = None
        extra: list[x509.Certificate] = []
        data = req.certificate
        if _looks_like_pkcs12(data):
            contents = _passphrase_errors(
                lambda: load_pkcs12(data, req.passphrase, field="certificate")
            )
            cert, key, extra = (
                contents.certificate,
                contents.key,
                list(contents.additional_certificates),
            )
        else:
            certs = load_certificates(data, field="certificate")
            cert = _leaf_of(certs)
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
            key = _passphrase_errors(
                lambda: load_private_key(private_key, req.passphrase, field="private_key")
            )
        if key is not None:
            check_key_matches_certificate(key, cert, field="private_key")
        ordered = order_chain(cert, extra, field="chain") if extra else [cert]
        chain = tuple(ordered[1:])
        authority = self._authorities.issuing_authority_of(cert)
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

    # export -----------------------------------------------------------------------------

    def export(self, certificate_id: int, *, fmt: str, passphrase: bytes | None) -> Exported:
        """Serialise a certificate; formats with the private key are authorised and audited."""
        try:
            exporter_cls = self._plugins.get("exporter", fmt)
        except NotFound as exc:
            raise NotFound(exc.message, code=exc.code, field="format") from exc
        cert = self.get(certificate_id)
        exporter = self._plugins.instantiate("exporter", fmt, {}, self._context("exporter"))
        assert isinstance(exporter, Exporter)
        key = None
        if getattr(exporter_cls, "includes_private_key", False):
            authorize(
                self._actor,
                Action.CERTIFICATE_EXPORT_KEY,
                team_id=cert.team_id if cert.team_id is not None else -1,
            )
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
        if key is not None:
            self._record(
                "certificate.export_key", cert, format=fmt, encrypted=passphrase is not None
            )
            self._session.commit()
        return exported

    # revocation -------------------------------------------------------------------------

    def revoke(self, certificate_id: int, *, reason: RevocationReason) -> Certificate:
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


# The crypto layer and issuer plugins name their own parameters; the API names the request's.
_ISSUE_FIELDS = {
    "public_key": "key_type",
    "subject_cn": "common_name",
    "not_before": "validity_days",
    "not_after": "validity_days",
}


def _in_request_terms(exc: InvalidInput, *, csr: bool) -> InvalidInput:
    field = _ISSUE_FIELDS.get(exc.field or "", exc.field)
    if csr and field in {"key_type", "common_name"}:
        field = "csr"
    return InvalidInput(exc.message, code=exc.code, field=field)


def _name_fields(req: NewCertificate, common_name: str | None) -> Callable[[str, str], str]:
    """Which request field a (normalised) name came from, for error messages."""
    if req.csr is not None:
        return lambda kind, name: "csr"

    def field_of(kind: str, name: str) -> str:
        if kind == "dns":
            for index, raw in enumerate(req.dns_names):
                try:
                    if normalize_dns_name(raw) == name:
                        return f"subject_alternative_names.dns_names[{index}]"
                except InvalidInput:
                    continue
            if common_name == name:
                return "common_name"
            return "subject_alternative_names.dns_names"
        for index, raw in enumerate(req.ip_addresses):
            if raw.strip("[] ") == name or str(ipaddress.ip_address(raw.strip("[] "))) == name:
                return f"subject_alternative_names.ip_addresses[{index}]"
        return "subject_alternative_names.ip_addresses"

    return field_of


def _dns_in_subtree(name: str, subtree: str) -> bool:
    """RFC 5280 §4.2.1.10: a DNS name is within a subtree when it is the subtree or ends
    with a dot and the subtree (a leading dot in the constraint means subdomains only)."""
    subtree = subtree.lower()
    if subtree.startswith("."):
        return name.endswith(subtree)
    return name == subtree or name.endswith("." + subtree)


def _wildcard_reaches(name: str, subtree: str) -> bool:
    """A wildcard also stands for names one label below its base: ``*.example.com``
    serves ``secret.example.com`` even though the literal string is not in that subtree."""
    if not name.startswith("*."):
        return False
    base = name[2:]
    head, _, parent = subtree.lower().lstrip(".").partition(".")
    return bool(head) and parent == base


def check_name_constraints(
    authority_name: str,
    ca_certificates: tuple[x509.Certificate, ...],
    sans: SubjectAltNames,
    *,
    field_of: Callable[[str, str], str],
) -> None:
    """Refuse names outside the permitted or inside the excluded subtrees of any CA on the
    path (RFC 5280 §4.2.1.10), rather than issue a certificate that clients reject."""
    for ca in ca_certificates:
        try:
            constraints = ca.extensions.get_extension_for_class(x509.NameConstraints).value
        except x509.ExtensionNotFound:
            continue
        ca_name = describe_certificate(ca).common_name or ca.subject.rfc4514_string()
        permitted = list(constraints.permitted_subtrees or ())
        excluded = list(constraints.excluded_subtrees or ())
        permitted_dns = [g.value for g in permitted if isinstance(g, x509.DNSName)]
        excluded_dns = [g.value for g in excluded if isinstance(g, x509.DNSName)]
        permitted_ip = [g.value for g in permitted if isinstance(g, x509.IPAddress)]
        excluded_ip = [g.value for g in excluded if isinstance(g, x509.IPAddress)]
        where = f"authority '{authority_name}'" + (
            "" if ca_name == authority_name else f" (through CA '{ca_name}')"
        )
        for name in sans.dns_names:
            if permitted_dns and not any(_dns_in_subtree(name, t) for t in permitted_dns):
                raise InvalidInput(
                    f"'{name}' is outside the names {where} may certify "
                    f"(permitted: {', '.join(permitted_dns)})",
                    code="name_not_permitted",
                    field=field_of("dns", name),
                )
            for subtree in excluded_dns:
                if _dns_in_subtree(name, subtree) or _wildcard_reaches(name, subtree):
                    raise InvalidInput(
                        f"'{name}' is in '{subtree}', which {where} is not allowed to certify",
                        code="name_not_permitted",
                        field=field_of("dns", name),
                    )
        for ip in sans.ip_addresses:
            if permitted_ip and not any(
                isinstance(net, type(ipaddress.ip_network(ip))) and ip in net
                for net in permitted_ip
            ):
                raise InvalidInput(
                    f"IP address {ip} is outside the networks {where} may certify",
                    code="name_not_permitted",
                    field=field_of("ip", str(ip)),
                )
            if any(
                isinstance(net, type(ipaddress.ip_network(ip))) and ip in net for net in excluded_ip
            ):
                raise InvalidInput(
                    f"IP address {ip} is in a network {where} is not allowed to certify",
                    code="name_not_permitted",
                    field=field_of("ip", str(ip)),
                )


_T = TypeVar("_T")


def _passphrase_errors(load: Callable[[], _T]) -> _T:
    """A wrong or missing passphrase is the passphrase field's fault, not the file's."""
    try:
        return load()
    except InvalidInput as exc:
        if exc.code in {"pkcs12_bad_passphrase", "private_key_bad_passphrase"}:
            raise InvalidInput(exc.message, code=exc.code, field="passphrase") from exc
        raise


def _leaf_of(certs: list[x509.Certificate]) -> x509.Certificate:
    """The certificate of a bundle that issued none of the others (the first one when that
    is ambiguous), so a bundle pasted in any order is read as leaf plus chain."""
    if len(certs) == 1:
        return certs[0]
    subjects_issuing = {c.issuer for c in certs if c.issuer != c.subject}
    leaves = [c for c in certs if c.subject not in subjects_issuing]
    return leaves[0] if len(leaves) == 1 else certs[0]


def _looks_like_pkcs12(data: bytes) -> bool:
    """PKCS#12 is a DER SEQUENCE whose first element is the INTEGER version (RFC 7292 §4);
    a certificate's first element is the tbsCertificate SEQUENCE. Looking at that one tag
    keeps a truncated DER certificate from being reported as a broken PKCS#12 file."""
    if len(data) < 4 or data[0] != 0x30:
        return False
    length_octet = data[1]
    offset = 2 if length_octet < 0x80 else 2 + (length_octet & 0x7F)
    return len(data) > offset and data[offset] == 0x02
