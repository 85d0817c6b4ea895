"""Authorities whose CA Lemur reaches through an issuer plugin (ACME, CFSSL, AWS Private
CA): create one (the plugin connects first: an unreachable CA or wrong options create
nothing), change its options, and check its connection.

The options are stored encrypted where the plugin marks them secret, and never returned;
an update that leaves a secret out keeps the stored one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cryptography import x509

from lemur.audit.service import AuditLog
from lemur.authorities.allowances import stored
from lemur.authorities.models import Authority
from lemur.authorities.records import AuthorityRecord
from lemur.authorities.service import AuthorityService, _unique
from lemur.authorities.signing import IssuingAuthority
from lemur.authorities.specs import RemoteAuthoritySpec
from lemur.authz import Action, authorize
from lemur.crypto.choices import check_authority_choices
from lemur.crypto.subjects import default_subject_fields
from lemur.crypto.usages import default_extended_key_usages
from lemur.errors import InvalidInput, NotFound
from lemur.plugins.base import AuthorityCreator, Connector, Issuer
from lemur.plugins.options import merge_secrets, secret_paths
from lemur.plugins.values import Connection


def _not_installed(slug: str) -> NotFound:
    return NotFound(
        f"no issuer plugin '{slug[:64]}' is installed (GET /api/v1/plugins?kind=issuer lists them)",
        code="plugin_not_found",
        field="plugin",
    )


def _connect(issuer: Issuer[Any] | None, slug: str) -> tuple[Connection, Issuer[Any]]:
    if issuer is None:
        raise _not_installed(slug)
    if not isinstance(issuer, Connector):
        raise InvalidInput(
            f"the issuer plugin '{slug}' does not reach a CA over the network (it has no "
            "connect capability)",
            code="plugin_cannot_connect",
            field="plugin",
        )
    return issuer.connect(), issuer


class ConnectedAuthorityService(AuthorityService):
    def plugin_creates_authorities(self, slug: str) -> bool:
        """Whether the issuer plugin ``slug`` creates CAs Lemur holds the key of (local-ca)
        rather than reaching one over the network. Raises NotFound(plugin_not_found)."""
        try:
            cls = self._gateway.issuer_class(slug)
        except NotFound:
            raise _not_installed(slug) from None
        return issubclass(cls, AuthorityCreator)

    def create_remote(self, spec: RemoteAuthoritySpec) -> AuthorityRecord:
        """Connect to the CA with the plugin's options, then create the authority. Raises
        NotFound(plugin_not_found), InvalidInput (options, limits), and the plugin's errors
        (PluginConfigurationError naming ``options.<name>``, PluginTransientError,
        PluginRejected): nothing is written then."""
        authorize(self._actor, Action.AUTHORITY_MANAGE)
        self._check_new_name(spec.name)
        if not 1 <= spec.default_validity_days <= spec.max_validity_days:
            raise InvalidInput(
                "default_validity_days must be between 1 and max_validity_days",
                code="invalid_validity",
                field="default_validity_days",
            )
        subject_fields = _unique(
            default_subject_fields(cab_forum=False)
            if spec.allowed_subject_fields is None
            else spec.allowed_subject_fields
        )
        extended_key_usages = _unique(
            default_extended_key_usages(cab_forum=False)
            if spec.allowed_extended_key_usages is None
            else spec.allowed_extended_key_usages
        )
        check_authority_choices(
            cab_forum=False, subject_fields=subject_fields, extended_key_usages=extended_key_usages
        )
        with self._gateway.connected_plugin(spec.plugin, spec.options) as plugin:
            connection, issuer = _connect(plugin, spec.plugin)
        options = self._gateway.dump_options(connection.options or issuer)
        now = self._clock.now()
        with self._uow.write() as tx:
            authority = Authority(
                name=spec.name,
                description=spec.description,
                plugin_slug=spec.plugin,
                options=options,
                parent_id=None,
                has_key=False,
                cab_forum=False,
                default_validity_days=spec.default_validity_days,
                max_validity_days=spec.max_validity_days,
                active=True,
                exportable=False,
                renewal_policy=spec.renewal_policy,
                renew_before_days=spec.renew_before_days,
                allowed_subject_fields=stored(subject_fields),
                allowed_extended_key_usages=stored(extended_key_usages),
                created_at=now,
                crl_number=0,
                crl_stale=False,
            )
            tx.session.add(authority)
            tx.session.flush()
            authority.certificate_id = self._ca_certificate(tx.session, connection.chain)
            AuditLog(tx.session, self._clock).record(
                self._actor.audit_actor,
                "authority.create",
                target_type="authority",
                target_id=authority.id,
                details={
                    "name": spec.name,
                    "plugin": spec.plugin,
                    "connection": connection.summary[:500],
                    "renewal_policy": spec.renewal_policy,
                    "allowed_subject_fields": list(subject_fields),
                    "allowed_extended_key_usages": list(extended_key_usages),
                },
            )
            new_id = authority.id
        return self.get(new_id)

    def _ca_certificate(self, session: Any, chain: tuple[x509.Certificate, ...]) -> int | None:
        """The inventory id of the CA's certificate (added when new), or None when the CA
        did not tell it (ACME: its chain comes with each certificate)."""
        if not chain:
            return None
        certificate = chain[0]
        ids = self._inventory.ids_with_subject(session, certificate.subject.rfc4514_string())
        for known in self._inventory.ca_certificates(session, ids).values():
            if known.certificate == certificate:
                return known.id
        return self._inventory.add_ca(
            session,
            certificate,
            chain=chain[1:],
            private_key=None,
            origin="imported",
            authority_id=None,
            created_by=self._actor.actor_name,
            now=self._clock.now(),
        )

    def _remote(self, authority_id: int) -> IssuingAuthority:
        authority = IssuingAuthority.of(self._row(authority_id, field="authority_id"))
        if not authority.remote:
            raise InvalidInput(
                f"authority '{authority.name}' is not reached through an issuer plugin's "
                "options (its key is held here, or it is an imported CA)",
                code="authority_not_connected",
                field="authority_id",
            )
        return authority

    def update_options(self, authority_id: int, options: Mapping[str, object]) -> AuthorityRecord:
        """Replace the plugin options after connecting with the new ones succeeded. Secrets
        left out (or null) keep their stored values."""
        authorize(self._actor, Action.AUTHORITY_MANAGE)
        authority = self._remote(authority_id)
        current = self._gateway.stored_options(authority)
        if current is None:
            raise _not_installed(authority.plugin_slug)
        merged = merge_secrets(options, dict(current), secret_paths(type(current)))
        with self._gateway.connected_plugin(authority.plugin_slug, merged) as plugin:
            connection, issuer = _connect(plugin, authority.plugin_slug)
        changed = sorted(
            name
            for name in type(issuer.options).model_fields
            if getattr(issuer.options, name) != getattr(current, name)
        )
        return self._store_options(authority, connection, issuer, "authority.update", changed)

    def check_connection(self, authority_id: int) -> tuple[AuthorityRecord, str]:
        """Connect with the stored options: the summary of what was checked. Raises the
        plugin's errors (the CA unreachable, options no longer accepted)."""
        authorize(self._actor, Action.AUTHORITY_MANAGE)
        authority = self._remote(authority_id)
        with self._gateway.connected(authority) as plugin:
            connection, issuer = _connect(plugin, authority.plugin_slug)
        record = self._store_options(authority, connection, issuer, "authority.check", [])
        return record, connection.summary

    def _store_options(
        self,
        authority: IssuingAuthority,
        connection: Connection,
        issuer: Issuer[Any],
        action: str,
        changed: list[str],
    ) -> AuthorityRecord:
        options = self._gateway.dump_options(connection.options or issuer)
        with self._uow.write() as tx:
            row = tx.session.get(Authority, authority.id, with_for_update=True)
            assert row is not None
            if json.loads(row.options or "{}") != json.loads(options) or changed:
                row.options = options
            if row.certificate_id is None:
                row.certificate_id = self._ca_certificate(tx.session, connection.chain)
            AuditLog(tx.session, self._clock).record(
                self._actor.audit_actor,
                action,
                target_type="authority",
                target_id=authority.id,
                details={
                    "name": authority.name,
                    "connection": connection.summary[:500],
                    **({"changed": changed} if action == "authority.update" else {}),
                },
            )
        self._uow.read.expire_all()
        return self.get(authority.id)

    def set_description(self, authority_id: int, description: str) -> AuthorityRecord:
        """Change what the authority is for, as shown in lists. Audited."""
        authorize(self._actor, Action.AUTHORITY_MANAGE)
        row = self._row(authority_id, field="authority_id")
        if row.description == description:
            return self.get(authority_id)
        with self._uow.write() as tx:
            changed = tx.session.get(Authority, authority_id, with_for_update=True)
            assert changed is not None
            changed.description = description
            AuditLog(tx.session, self._clock).record(
                self._actor.audit_actor,
                "authority.update",
                target_type="authority",
                target_id=authority_id,
                details={"name": changed.name, "changed": ["description"]},
            )
        self._uow.read.expire_all()
        return self.get(authority_id)
