"""Signing with an authority: its key cache, backdating, and the one interface the
certificates package uses (:class:`AuthorityGateway`).

Certificates ask the gateway for an authority's limits and signing material, for the
issuer plugin that signs and revokes, and to publish a CRL after a revocation. They never
read an ``Authority`` row themselves.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography import x509
from pydantic import BaseModel
from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from lemur.accounts.models import Team
from lemur.authorities.allowances import extended_key_usages_of, subject_fields_of
from lemur.authorities.crl import mark_crl_stale, regenerate_crl
from lemur.authorities.inventory import CertificateInventory
from lemur.authorities.models import Authority
from lemur.authorities.specs import EXTERNAL
from lemur.authorities.urls import AuthorityURLs, check_public_base_url
from lemur.clock import Clock
from lemur.crypto.chain import is_directly_issued_by
from lemur.crypto.keyring import KeyRing
from lemur.crypto.keys import PrivateKey
from lemur.crypto.profiles import max_tls_validity_days
from lemur.crypto.subjects import SubjectField
from lemur.crypto.usages import ExtendedKeyUsageName
from lemur.errors import Conflict, InvalidInput, NotFound
from lemur.outbound import OutboundPolicy, guarded_client
from lemur.plugins.base import CRLPublisher, Issuer, Revoker
from lemur.plugins.options import JSONValue, load_options
from lemur.plugins.options import dump_options as dump_plugin_options
from lemur.plugins.options import public_options as public_plugin_options
from lemur.plugins.registry import Registry
from lemur.plugins.values import (
    ChallengeResponder,
    PluginContext,
    RevocationRequest,
    SigningAuthority,
)

# Clients with a slightly slow clock must accept a certificate issued a moment ago.
BACKDATE = dt.timedelta(minutes=5)


def backdated(now: dt.datetime) -> dt.datetime:
    """The notBefore of a certificate issued at ``now``."""
    return now - BACKDATE


def effective_max_validity_days(
    max_validity_days: int, *, cab_forum: bool, not_before: dt.datetime
) -> int:
    """The most days a certificate from an authority may be valid when it starts at
    ``not_before``: the authority's ``max_validity_days`` and, for a CA/B Forum authority,
    the Baseline Requirements' maximum at that date (BR §6.3.2; a period of N days lasts N
    days and one second, RFC 5280 §4.1.2.5, hence one day less). Shown as the authority's
    ``max_validity_days`` and enforced at issuance, so that the two never disagree."""
    if cab_forum:
        return min(max_validity_days, max_tls_validity_days(not_before) - 1)
    return max_validity_days


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
class IssuingAuthority:
    """What issuance needs to know of an authority: its limits and how it signs."""

    id: int
    name: str
    plugin_slug: str
    cab_forum: bool
    default_validity_days: int
    max_validity_days: int
    holds_key: bool
    active: bool
    certificate_id: int | None
    exportable: bool = False
    # The issuer plugin's stored options (dump_options: secrets encrypted), JSON.
    options: str = "{}"
    parent_id: int | None = None
    allowed_subject_fields: tuple[SubjectField, ...] = ()
    allowed_extended_key_usages: tuple[ExtendedKeyUsageName, ...] = ()

    @property
    def remote(self) -> bool:
        """A CA Lemur reaches through its issuer plugin (ACME, CFSSL, AWS Private CA): it
        issues, Lemur holds no key of it."""
        return not self.holds_key and self.plugin_slug != EXTERNAL

    @classmethod
    def of(cls, row: Authority) -> IssuingAuthority:
        return cls(
            id=row.id,
            name=row.name,
            plugin_slug=row.plugin_slug,
            cab_forum=row.cab_forum,
            default_validity_days=row.default_validity_days,
            max_validity_days=row.max_validity_days,
            holds_key=row.has_key,
            active=row.active,
            certificate_id=row.certificate_id,
            exportable=row.exportable,
            options=row.options or "{}",
            parent_id=row.parent_id,
            allowed_subject_fields=subject_fields_of(row.allowed_subject_fields),
            allowed_extended_key_usages=extended_key_usages_of(row.allowed_extended_key_usages),
        )


@dataclass(frozen=True)
class IssuingTeam:
    id: int
    name: str


_TEAM_AND_AUTHORITY = (
    select(Team.id, Team.name, Authority)
    .where(Team.id == bindparam("team_id"))
    .join(Authority, Authority.id == bindparam("authority_id"))
)


def authority_not_found(authority_id: int, *, field: str) -> NotFound:
    return NotFound(f"no authority with id {authority_id}", code="authority_not_found", field=field)


def authority_inactive(name: str, *, field: str) -> Conflict:
    return Conflict(
        f"authority '{name}' is deactivated: it issues no new certificates (its certificates, "
        "CRL and OCSP answers are unaffected); an administrator can activate it again",
        code="authority_inactive",
        field=field,
    )


def check_can_sign(authority: IssuingAuthority, *, field: str) -> None:
    """That the authority can issue now (a CA whose key Lemur holds, or one it reaches
    through an issuer plugin). Raises InvalidInput(authority_cannot_sign) or
    Conflict(authority_inactive) naming ``field``."""
    if authority.remote:
        if not authority.active:
            raise authority_inactive(authority.name, field=field)
        return
    if not authority.holds_key or authority.certificate_id is None:
        raise InvalidInput(
            f"authority '{authority.name}' is an imported CA without its key; it cannot sign",
            code="authority_cannot_sign",
            field=field,
        )
    if not authority.active:
        raise authority_inactive(authority.name, field=field)


def default_authority(
    authorities: list[IssuingAuthority], configured: str | None
) -> IssuingAuthority | None:
    """The authority a request form preselects among those that can sign: the one named by
    the ``default_authority`` setting; else the only one; else the only one that no other
    of them has as its parent (the issuing CA below a root, as a fresh install has it).
    None when that leaves a choice to make."""
    if configured is not None:
        named = [a for a in authorities if a.name == configured]
        if named:
            return named[0]
    if len(authorities) == 1:
        return authorities[0]
    parents = {a.parent_id for a in authorities}
    leaves = [a for a in authorities if a.id not in parents]
    return leaves[0] if len(leaves) == 1 else None


class AuthorityGateway:
    """The narrow interface from certificates to authorities: read an authority's limits,
    hand out its signing material and issuer plugin, revoke at the issuer, and keep its CRL
    current after a revocation. Built per unit of work by the service factory."""

    def __init__(
        self,
        *,
        inventory: CertificateInventory,
        signing_keys: SigningKeyCache,
        urls: AuthorityURLs,
        plugins: Registry,
        keyring: KeyRing,
        clock: Clock,
        outbound: OutboundPolicy | None = None,
        challenges: ChallengeResponder | None = None,
    ) -> None:
        self._inventory = inventory
        self._signing_keys = signing_keys
        self._urls = urls
        self._plugins = plugins
        self._keyring = keyring
        self._clock = clock
        self._outbound = outbound
        self._challenges = challenges

    @property
    def urls(self) -> AuthorityURLs:
        return self._urls

    def for_issuance(
        self, session: Session, authority_id: int, *, team_id: int
    ) -> tuple[IssuingAuthority, IssuingTeam]:
        """The authority and the requesting team in one statement (one round trip on the
        hot path, docs/decisions/0008). Raises NotFound(team_not_found or
        authority_not_found)."""
        row = session.execute(
            _TEAM_AND_AUTHORITY, {"team_id": team_id, "authority_id": authority_id}
        ).one_or_none()
        if row is None:
            if session.get(Team, team_id) is None:
                raise NotFound(f"no team with id {team_id}", code="team_not_found", field="team_id")
            raise authority_not_found(authority_id, field="authority_id")
        found_team, team_name, authority = row
        return IssuingAuthority.of(authority), IssuingTeam(found_team, team_name)

    def is_remote(self, session: Session, authority_id: int, known: dict[int, bool]) -> bool:
        """Whether the authority's CA is reached over the network; ``known`` remembers the
        answer (an authority's plugin never changes). False for an unknown id."""
        if authority_id not in known:
            row = session.execute(
                select(Authority.has_key, Authority.plugin_slug).where(Authority.id == authority_id)
            ).one_or_none()
            if row is None:
                return False
            known[authority_id] = not row.has_key and row.plugin_slug != EXTERNAL
        return known[authority_id]

    def get(self, session: Session, authority_id: int) -> IssuingAuthority | None:
        row = session.get(Authority, authority_id)
        return None if row is None else IssuingAuthority.of(row)

    def signing_authorities(self, session: Session) -> list[IssuingAuthority]:
        """The authorities certificates can be requested from (active, and the key held here
        or the CA reached through a plugin), by name; one statement."""
        rows = session.scalars(
            select(Authority)
            .where(
                Authority.active.is_(True),
                or_(Authority.has_key.is_(True), Authority.plugin_slug != EXTERNAL),
            )
            .order_by(Authority.name)
        ).all()
        return [IssuingAuthority.of(r) for r in rows]

    def of_ca_certificate(self, session: Session, certificate_id: int) -> IssuingAuthority | None:
        """The authority whose own certificate this is, if any."""
        row = session.scalar(select(Authority).where(Authority.certificate_id == certificate_id))
        return None if row is None else IssuingAuthority.of(row)

    def chain(self, session: Session, authority_id: int) -> tuple[x509.Certificate, ...]:
        """The authority's certificate followed by its issuers' (root last): the chain of a
        certificate it signed."""
        row = session.get(Authority, authority_id)
        return () if row is None else self.chain_of(session, IssuingAuthority.of(row))

    def chain_of(
        self, session: Session, authority: IssuingAuthority
    ) -> tuple[x509.Certificate, ...]:
        """As :meth:`chain`, for an authority already read (one statement)."""
        return self.chains_of(session, [authority]).get(authority.id, ())

    def chains_of(
        self, session: Session, authorities: list[IssuingAuthority]
    ) -> dict[int, tuple[x509.Certificate, ...]]:
        """The chains of several authorities read already, by authority id (one statement)."""
        ids = [a.certificate_id for a in authorities if a.certificate_id is not None]
        found = self._inventory.ca_certificates(session, ids) if ids else {}
        chains = {}
        for authority in authorities:
            ca = found.get(authority.certificate_id) if authority.certificate_id else None
            if ca is not None:
                chains[authority.id] = (ca.certificate, *ca.chain)
        return chains

    def check_can_publish_urls(self, authority: IssuingAuthority, *, field: str) -> None:
        """CA/B Forum certificates carry this Lemur's URLs: refuse an internal base URL.
        Raises BaseURLNotPublic naming ``field``."""
        if authority.cab_forum and authority.holds_key:
            check_public_base_url(self._urls, field=field)

    def signer(
        self, session: Session, authority: IssuingAuthority, *, field: str = "authority_id"
    ) -> SigningAuthority:
        """The CA's certificate, decrypted key, chain and URLs, to issue a new certificate
        (or CA). Raises InvalidInput(authority_cannot_sign) and Conflict(authority_inactive)
        naming ``field``."""
        if authority.holds_key and not authority.active:
            raise authority_inactive(authority.name, field=field)
        return self.revocation_signer(session, authority, field=field)

    def revocation_signer(
        self, session: Session, authority: IssuingAuthority, *, field: str = "authority_id"
    ) -> SigningAuthority:
        """The same signing material for what a deactivated authority still signs: its CRL
        and its OCSP answers, so relying parties keep checking the certificates it issued.
        Raises InvalidInput(authority_cannot_sign) naming ``field``."""
        if not authority.holds_key or authority.certificate_id is None:
            raise InvalidInput(
                f"authority '{authority.name}' is an imported CA without its key; it cannot sign",
                code="authority_cannot_sign",
                field=field,
            )
        certificate_id = authority.certificate_id
        assert certificate_id is not None

        def load() -> SigningMaterial:
            found = self._inventory.ca_certificates(session, [certificate_id])[certificate_id]
            key = self._inventory.private_key(session, certificate_id)
            assert key is not None, "an authority that holds its key has it stored"
            return SigningMaterial(found.certificate, key, found.chain)

        material = self._signing_keys.get(certificate_id, load)
        return SigningAuthority(
            certificate=material.certificate,
            private_key=material.private_key,
            chain=material.chain,
            crl_url=self._urls.crl(authority.id),
            ocsp_url=self._urls.ocsp(authority.id),
            ca_issuers_url=self._urls.ca_issuers(authority.id),
            cab_forum=authority.cab_forum,
        )

    def _context(self, http: httpx.Client | None = None) -> PluginContext:
        return PluginContext(
            clock=self._clock,
            logger=logging.getLogger("lemur.plugins.issuer"),
            http=http,
            outbound=self._outbound,
            challenges=self._challenges,
        )

    @contextlib.contextmanager
    def _network(self) -> Iterator[httpx.Client | None]:
        """A guarded HTTP client for one remote call (closed after it), or None without an
        outbound policy."""
        if self._outbound is None:
            yield None
            return
        with guarded_client(self._outbound) as client:
            yield client

    @contextlib.contextmanager
    def connected(self, authority: IssuingAuthority) -> Iterator[Issuer[Any] | None]:
        """The authority's issuer plugin, with an HTTP client for the duration of the block
        when the CA is remote (ACME, CFSSL, AWS Private CA)."""
        if not authority.remote:
            yield self.issuer(authority)
            return
        with self._network() as http:
            yield self._load(authority, self._context(http))

    @contextlib.contextmanager
    def connected_plugin(self, slug: str, options: object) -> Iterator[Issuer[Any] | None]:
        """The installed issuer plugin ``slug`` with ``options`` (user input, validated:
        raises InvalidInput(invalid_plugin_options)), with an HTTP client for the block;
        None when no such plugin is installed."""
        with self._network() as http:
            try:
                plugin = self._plugins.instantiate(
                    "issuer", slug, options or {}, self._context(http)
                )
            except NotFound:
                plugin = None
            yield plugin

    def _load(self, authority: IssuingAuthority, context: PluginContext) -> Issuer[Any] | None:
        stored = json.loads(authority.options or "{}")
        try:
            cls = self._plugins.get("issuer", authority.plugin_slug)
        except NotFound:
            return None
        options = load_options(cls.Options, stored, self._keyring.decrypt)
        return self._plugins.instantiate("issuer", authority.plugin_slug, options, context)

    def stored_options(self, authority: IssuingAuthority) -> BaseModel | None:
        """The authority's plugin options (secrets decrypted), or None when its plugin is
        not installed."""
        try:
            cls = self._plugins.get("issuer", authority.plugin_slug)
        except NotFound:
            return None
        return load_options(
            cls.Options, json.loads(authority.options or "{}"), self._keyring.decrypt
        )

    def issuer(self, authority: IssuingAuthority) -> Issuer[Any] | None:
        """The authority's issuer plugin with its stored options, or None for a CA Lemur
        only knows the certificate of (imported without its key, no plugin)."""
        if not json.loads(authority.options or "{}"):
            return self.issuer_plugin(authority.plugin_slug)
        return self._load(authority, self._context())

    def issuer_class(self, slug: str) -> type[Issuer[Any]]:
        """The installed issuer plugin class. Raises NotFound(plugin_not_found)."""
        return self._plugins.get("issuer", slug)

    def issuer_plugin(self, slug: str, options: object = None) -> Issuer[Any] | None:
        """The installed issuer plugin ``slug`` (with ``options``: user input, validated),
        or None when none is installed. Raises InvalidInput(invalid_plugin_options)."""
        try:
            return self._plugins.instantiate("issuer", slug, options or {}, self._context())
        except NotFound:  # not installed (or "external": a CA known by its certificate only)
            return None

    def dump_options(self, plugin: Issuer[Any] | BaseModel) -> str:
        """A plugin's options (or the plugin's) as an authority stores them: JSON, secrets
        encrypted."""
        options = plugin if isinstance(plugin, BaseModel) else plugin.options
        return json.dumps(dump_plugin_options(options, self._keyring.encrypt), sort_keys=True)

    def public_options(self, authority: IssuingAuthority) -> dict[str, JSONValue]:
        """The authority's plugin options as the API shows them (secrets as None, those set
        listed under ``secrets_set``); empty when its plugin is not installed."""
        stored = json.loads(authority.options or "{}")
        try:
            cls = self._plugins.get("issuer", authority.plugin_slug)
        except NotFound:
            return {}
        return public_plugin_options(load_options(cls.Options, stored, self._keyring.decrypt))

    def issuer_of(self, session: Session, certificate: x509.Certificate) -> int | None:
        """The id of the known authority whose certificate signed ``certificate``, if any."""
        ids = self._inventory.ids_with_subject(session, certificate.issuer.rfc4514_string())
        if not ids:
            return None
        candidates = session.execute(
            select(Authority.id, Authority.certificate_id).where(Authority.certificate_id.in_(ids))
        ).all()
        known = self._inventory.ca_certificates(session, [c for _, c in candidates if c])
        for authority_id, certificate_id in candidates:
            ca = known.get(certificate_id) if certificate_id else None
            # A CA certificate is not its own issuer here, even when self-signed.
            if ca is None or ca.certificate == certificate:
                continue
            if is_directly_issued_by(certificate, ca.certificate):
                return int(authority_id)
        return None

    def revoke_at_issuer(
        self, authority: IssuingAuthority | None, request: RevocationRequest
    ) -> bool:
        """Ask the issuer to revoke when it can be reached (an issuer plugin with the
        revoke capability); returns False when it cannot, so the revocation is recorded in
        the inventory only. Raises whatever the plugin raises (PluginRejected, ...)."""
        if authority is None:
            return False
        with self.connected(authority) as issuer:
            if not isinstance(issuer, Revoker):
                return False
            issuer.revoke(request)
        return True

    def reaches_issuer(self, authority: IssuingAuthority | None) -> bool:
        """Whether a revocation would reach the issuer (revoke_at_issuer would ask it)."""
        return authority is not None and isinstance(self.issuer(authority), Revoker)

    def publish_crl_after_revocation(
        self, session: Session, authority_id: int, *, revoked_certificate_id: int
    ) -> None:
        """In the revoking transaction: mark the authority's CRL stale and, when its issuer
        publishes CRLs, sign the new one now, so the published CRL never lags behind."""
        row = session.get(Authority, authority_id, with_for_update=True)
        if row is None or row.certificate_id == revoked_certificate_id:
            return
        mark_crl_stale(row)
        authority = IssuingAuthority.of(row)
        publisher = self.issuer(authority)
        if authority.holds_key and isinstance(publisher, CRLPublisher):
            regenerate_crl(
                session,
                row,
                publisher=publisher,
                signer=self.revocation_signer(session, authority),
                inventory=self._inventory,
                now=self._clock.now(),
            )
