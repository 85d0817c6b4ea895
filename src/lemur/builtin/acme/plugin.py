"""``acme``: certificates from an ACME CA (RFC 8555): Let's Encrypt, a private step-ca or
Boulder, Pebble in tests.

``issue`` places the order with the request's CSR, puts the challenge answers in place
(HTTP-01: Lemur serves them; DNS-01: TXT records through RFC 2136), tells the CA to validate
and returns Pending with the order URL: validation is the CA's work and polling is Lemur's,
so ``issue`` never sleeps. ``poll`` reads the order back, finalizes it when it is ready,
downloads the certificate when it is valid and removes the answers. ``connect`` registers
(or finds) the account and returns the options with its key and URL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

from acme import client as acme_client
from acme import crypto_util, messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from josepy.jwa import ES256
from josepy.jwk import JWK
from pydantic import SecretStr

from lemur.builtin.acme.account import existing_account, new_account_pem, register
from lemur.builtin.acme.ari import suggested_window
from lemur.builtin.acme.client import Redactor, account_jwk, host_of, open_client, translated
from lemur.builtin.acme.dns import TXTUpdater, in_zone
from lemur.builtin.acme.options import ACMEOptions
from lemur.builtin.acme.orders import (
    FAILED_AUTHORIZATION,
    DNS01Publisher,
    HTTP01Publisher,
    Publisher,
    answers_of,
    clean_up,
    download,
    failure_reason,
    fetch_authorizations,
    fetch_order,
    prepare,
)
from lemur.plugins.base import Connector, Issuer, Poller, RenewalAdvisor, Revoker
from lemur.plugins.errors import PluginConfigurationError, PluginRejected
from lemur.plugins.values import Connection, IssuanceRequest, Issued, Pending, RevocationRequest

RETRY_AFTER = dt.timedelta(seconds=1)
# RFC 5280 §5.3.1 CRLReason codes, as ACME's revokeCert takes them (RFC 8555 §7.6).
_REASON_CODES = {
    x509.ReasonFlags.unspecified: 0,
    x509.ReasonFlags.key_compromise: 1,
    x509.ReasonFlags.ca_compromise: 2,
    x509.ReasonFlags.affiliation_changed: 3,
    x509.ReasonFlags.superseded: 4,
    x509.ReasonFlags.cessation_of_operation: 5,
    x509.ReasonFlags.certificate_hold: 6,
    x509.ReasonFlags.remove_from_crl: 8,
    x509.ReasonFlags.privilege_withdrawn: 9,
    x509.ReasonFlags.aa_compromise: 10,
}


class ACMEIssuer(Issuer[ACMEOptions], Poller, Revoker, Connector, RenewalAdvisor):
    slug = "acme"
    title = "ACME (Let's Encrypt and other RFC 8555 CAs)"
    description = """
        Certificates from an ACME CA (RFC 8555). Lemur proves control of the names with
        http-01 (it serves /.well-known/acme-challenge/ itself) or dns-01 (TXT records through
        RFC 2136 dynamic updates signed with TSIG; needed for wildcards). Connecting
        registers the account, with External Account Binding when the CA requires it.
    """
    Options = ACMEOptions

    @property
    def _redact(self) -> Redactor:
        return Redactor(self.options)

    @contextlib.contextmanager
    def _client(self, during: str) -> Iterator[tuple[acme_client.ClientV2, JWK]]:
        """A client signed with the account (its URL as key ID); errors translated."""
        options = self.options
        account_url = options.account_url
        if options.account_key is None:
            raise PluginConfigurationError(
                "the ACME account is not set up yet: connect the authority first "
                "(connecting registers the account)",
                code="acme_not_connected",
                field="options.account_key",
            )
        key = account_jwk(options.account_key.get_secret_value())
        with (
            translated(options, self._redact, during=during),
            open_client(
                options,
                guard=self.context.outbound,
                key=key[0],
                alg=key[1],
                account_url=account_url,
            ) as client,
        ):
            if client.net.account is None and options.account_key is not None:
                found = existing_account(client)
                if found is None:
                    raise PluginConfigurationError(
                        "the CA has no account for this account key: connect the authority",
                        code="acme_account_missing",
                        field="options.account_key",
                    )
                client.net.account = messages.RegistrationResource(
                    uri=found, body=messages.Registration()
                )
            yield client, key[0]

    def _publisher(self, key: JWK) -> Publisher:
        if self.options.challenge == "dns-01":
            return DNS01Publisher(TXTUpdater(self.options, self.context.outbound), key)
        return HTTP01Publisher(self.context.challenges, key)

    def _check_names(self, request: IssuanceRequest) -> tuple[bytes, list[str]]:
        """The CSR to send and the names it asks for, checked before the CA is contacted."""
        csr = request.csr
        if csr is None:
            raise PluginRejected(
                "the acme issuer needs a CSR in the request", code="acme_csr_required"
            )
        if request.sans.emails or request.sans.uris:
            raise PluginRejected(
                "ACME certifies DNS names and IP addresses only, not email addresses or URIs",
                code="acme_unsupported_names",
            )
        dns_names, ips = crypto_util.get_identifiers_from_x509(csr.subject, csr.extensions)
        names = [*dict.fromkeys(dns_names), *ips]
        if not names:
            raise PluginRejected("the CSR names no DNS name or IP address", code="acme_no_names")
        wildcards = [n for n in dns_names if n.startswith("*.")]
        if wildcards and self.options.challenge != "dns-01":
            raise PluginRejected(
                f"wildcard names ({', '.join(wildcards)}) need DNS-01 validation "
                "(RFC 8555 §7.1.3): set the authority's challenge to dns-01",
                code="acme_wildcard_needs_dns01",
            )
        if self.options.challenge == "dns-01":
            if ips:
                raise PluginRejected(
                    f"IP addresses ({', '.join(ips)}) cannot be validated with DNS-01 "
                    "(RFC 8738): use http-01",
                    code="acme_ip_needs_http01",
                )
            zone = self.options.dns_zone or ""
            outside = [n for n in dns_names if not in_zone(n, zone)]
            if outside:
                raise PluginRejected(
                    f"{', '.join(outside)} is not in the DNS zone {zone} that Lemur updates "
                    "for DNS-01",
                    code="acme_name_outside_zone",
                )
        return csr.public_bytes(serialization.Encoding.PEM), names

    def issue(self, request: IssuanceRequest) -> Issued | Pending:
        """Place the order and answer its challenges; Pending with the order URL (Issued
        when the CA had validated the names already). Raises PluginRejected for names ACME
        or this configuration cannot validate, and for the CA's refusals."""
        csr_pem, names = self._check_names(request)
        with self._client("placing the order") as (client, key):
            orderr = client.new_order(csr_pem)
            url = orderr.uri
            if not url:
                raise PluginRejected("the CA did not give the new order a URL")
            publisher = self._publisher(key)
            kind = self.options.challenge
            try:
                prepare(client, orderr.authorizations, kind, publisher, key)
            except BaseException:
                clean_up(orderr.authorizations, kind, publisher, self.context.logger, self._redact)
                raise
            self.context.logger.info("acme order %s placed for %s", url, ", ".join(names))
            order = fetch_order(client, url)
            return self._advance(client, key, url, order, csr_pem, names=names, answered=True)

    def poll(self, external_id: str, request: IssuanceRequest) -> Issued | Pending:
        """Read the order back and move it on (finalize when ready, download when valid).
        Raises PluginRejected with the CA's reasons when the order is invalid."""
        csr_pem, names = self._check_names(request)
        with self._client("checking the order") as (client, key):
            order = fetch_order(client, external_id)
            return self._advance(client, key, external_id, order, csr_pem, names=names)

    def _advance(
        self,
        client: acme_client.ClientV2,
        key: JWK,
        url: str,
        order: messages.Order,
        csr_pem: bytes,
        *,
        names: list[str],
        answered: bool = False,
    ) -> Issued | Pending:
        """Move the order one step on. ``answered``: the challenges were just answered (a
        pending order needs nothing more than waiting)."""
        kind = self.options.challenge
        shown = ", ".join(names)
        if order.status == messages.STATUS_READY:
            try:
                order = client.begin_finalization(
                    messages.OrderResource(body=order, uri=url, csr_pem=csr_pem)
                ).body
            except messages.Error as exc:
                if exc.code != "orderNotReady":
                    raise
                return Pending(url, RETRY_AFTER, f"waiting for the CA to validate {shown}")
        if order.status == messages.STATUS_VALID:
            issued = download(client, order, url, preferred_chain=self.options.preferred_chain)
            authorizations = fetch_authorizations(client, order)
            clean_up(authorizations, kind, self._publisher(key), self.context.logger, self._redact)
            return issued
        if order.status == messages.STATUS_INVALID:
            authorizations = fetch_authorizations(client, order)
            clean_up(authorizations, kind, self._publisher(key), self.context.logger, self._redact)
            raise PluginRejected(
                f"the CA did not issue the certificate for {shown}: "
                f"{failure_reason(order, authorizations, self._redact)} (order {url})",
                code="acme_order_invalid",
            )
        if order.status == messages.STATUS_PROCESSING:
            return Pending(url, RETRY_AFTER, f"the CA is issuing the certificate for {shown}")
        waiting = Pending(url, RETRY_AFTER, f"waiting for the CA to validate {shown} ({kind})")
        if answered:
            return waiting
        authorizations = fetch_authorizations(client, order)
        if any(_status(a) in FAILED_AUTHORIZATION for a in authorizations):
            clean_up(authorizations, kind, self._publisher(key), self.context.logger, self._redact)
            raise PluginRejected(
                f"the CA did not issue the certificate for {shown}: "
                f"{failure_reason(order, authorizations, self._redact)} (order {url})",
                code="acme_order_invalid",
            )
        # Answers anything left unanswered (an issue() interrupted after placing the order).
        prepare(client, authorizations, kind, self._publisher(key), key)
        return waiting

    def cancel(self, external_id: str) -> None:
        """Deactivate the order's authorizations (§7.5.2; the order becomes invalid) and
        remove the answers. An order the CA no longer knows is not an error."""
        with self._client("cancelling the order") as (client, key):
            try:
                order = fetch_order(client, external_id)
            except messages.Error as exc:
                if exc.code in ("malformed", "notFound") or "not found" in str(exc).lower():
                    return
                raise
            authorizations = fetch_authorizations(client, order)
            for authz in authorizations:
                if authz.body.status in (messages.STATUS_PENDING, messages.STATUS_VALID):
                    try:
                        client.deactivate_authorization(authz)
                    except messages.Error as exc:
                        self.context.logger.info(
                            "could not deactivate %s: %s", authz.uri, self._redact(str(exc))
                        )
            if answers_of(authorizations, self.options.challenge):
                clean_up(
                    authorizations,
                    self.options.challenge,
                    self._publisher(key),
                    self.context.logger,
                    self._redact,
                )

    def revoke(self, request: RevocationRequest) -> None:
        """Revoke at the CA with the reason (§7.6); a certificate the CA has already revoked
        is not an error."""
        code = _REASON_CODES[request.reason.flag]
        with self._client("revoking the certificate") as (client, _key):
            try:
                client.revoke(request.certificate, code)
            except messages.Error as exc:
                if exc.code == "alreadyRevoked":
                    self.context.logger.info(
                        "certificate %x was already revoked at the CA",
                        request.certificate.serial_number,
                    )
                    return
                raise

    def renewal_window(
        self, certificate: x509.Certificate
    ) -> tuple[dt.datetime, dt.datetime] | None:
        """The CA's ARI window (RFC 9773), or None when its directory has no renewalInfo."""
        options = self.options
        # Renewal information is fetched with plain GETs (RFC 9773 §4.2): no key needed.
        with (
            translated(options, self._redact, during="asking for renewal information"),
            open_client(
                options, guard=self.context.outbound, key=None, alg=ES256, account_url=None
            ) as client,
        ):
            return suggested_window(client, certificate)

    def connect(self) -> Connection:
        """Fetch the directory and find or register the account (with the contact, the
        agreement to the terms and External Account Binding). Returns the options with
        ``account_key`` and ``account_url`` set."""
        options = self.options
        pem = (
            options.account_key.get_secret_value()
            if options.account_key is not None
            else new_account_pem()
        )
        key = account_jwk(pem)
        with (
            translated(options, self._redact, during="registering the account"),
            open_client(
                options, guard=self.context.outbound, key=key[0], alg=key[1], account_url=None
            ) as client,
        ):
            found = existing_account(client) if options.account_key is not None else None
            if found is not None:
                url, said = found, "account found"
            else:
                url, said = register(client, key[0], options, self._redact), "account registered"
        where = host_of(options.directory_url)
        return Connection(
            summary=f"ACME directory at {where} reachable; {said} ({url})",
            options=options.model_copy(update={"account_key": SecretStr(pem), "account_url": url}),
        )


def _status(authz: messages.AuthorizationResource) -> str:
    return authz.body.status.name if authz.body.status else "pending"
