"""Orders (RFC 8555 §7.4) without state of our own: everything needed to go on, or to clean
up, is read back from the order URL with the account key. The answers to challenges are
recomputed from the challenge tokens and the key (§8.1: key authorization), so the TXT
records and HTTP-01 tokens published for an order can be removed from any process."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import requests
from acme import challenges, messages
from acme import client as acme_client
from cryptography import x509
from josepy.jwk import JWK

from lemur.builtin.acme.client import Redactor
from lemur.builtin.acme.dns import TXTRecord, TXTUpdater, validation_name
from lemur.plugins.errors import PluginConfigurationError, PluginError, PluginRejected
from lemur.plugins.values import ChallengeResponder, Issued

_KINDS: dict[str, type[challenges.KeyAuthorizationChallenge]] = {
    "http-01": challenges.HTTP01,
    "dns-01": challenges.DNS01,
}


# Authorization states an order cannot recover from (§7.1.6); "deactivated": cancelled.
FAILED_AUTHORIZATION = frozenset({"invalid", "deactivated", "expired", "revoked"})


@dataclass(frozen=True)
class Answer:
    """One authorization's challenge of the configured type."""

    identifier: str  # as the authorization names it: the base name of a wildcard
    wildcard: bool
    challenge: messages.ChallengeBody

    @property
    def shown(self) -> str:
        return f"*.{self.identifier}" if self.wildcard else self.identifier


class Publisher(Protocol):
    """Puts the answers where the CA looks for them, and takes them away again."""

    def publish(self, answers: Sequence[Answer]) -> None: ...

    def withdraw(self, answers: Sequence[Answer]) -> None: ...


class HTTP01Publisher:
    """HTTP-01 (§8.3): Lemur serves the key authorization at
    /.well-known/acme-challenge/{token} itself, through the context's responder."""

    def __init__(self, responder: ChallengeResponder | None, key: JWK) -> None:
        if responder is None:
            raise PluginConfigurationError(
                "http-01 needs Lemur's challenge responder, which this process does not have; "
                "use dns-01 or issue from the Lemur service",
                code="acme_no_challenge_responder",
                field="options.challenge",
            )
        self._responder = responder
        self._key = key

    def publish(self, answers: Sequence[Answer]) -> None:
        for answer in answers:
            chall = answer.challenge.chall
            assert isinstance(chall, challenges.HTTP01)
            self._responder.publish(chall.encode("token"), chall.validation(self._key))

    def withdraw(self, answers: Sequence[Answer]) -> None:
        for answer in answers:
            self._responder.withdraw(answer.challenge.chall.encode("token"))


class DNS01Publisher:
    """DNS-01 (§8.4): a TXT record ``_acme-challenge.<name>`` with the digest of the key
    authorization, added through RFC 2136 before the challenge is answered."""

    def __init__(self, updater: TXTUpdater, key: JWK) -> None:
        self._updater = updater
        self._key = key

    def records(self, answers: Sequence[Answer]) -> list[TXTRecord]:
        out = []
        for answer in answers:
            chall = answer.challenge.chall
            assert isinstance(chall, challenges.DNS01)
            out.append(TXTRecord(validation_name(answer.identifier), chall.validation(self._key)))
        return out

    def publish(self, answers: Sequence[Answer]) -> None:
        self._updater.add(self.records(answers))

    def withdraw(self, answers: Sequence[Answer]) -> None:
        self._updater.delete(self.records(answers))


def fetch_order(client: acme_client.ClientV2, url: str) -> messages.Order:
    response = client.net.post(url, None, new_nonce_url=client.directory["newNonce"])
    order: messages.Order = messages.Order.from_json(response.json())
    return order


def fetch_authorizations(
    client: acme_client.ClientV2, order: messages.Order
) -> list[messages.AuthorizationResource]:
    out = []
    for url in order.authorizations or ():
        response = client.net.post(url, None, new_nonce_url=client.directory["newNonce"])
        out.append(
            messages.AuthorizationResource(
                body=messages.Authorization.from_json(response.json()), uri=url
            )
        )
    return out


def answers_of(authorizations: Sequence[messages.AuthorizationResource], kind: str) -> list[Answer]:
    """The challenge of type ``kind`` of each authorization that has one."""
    wanted = _KINDS[kind]
    out = []
    for authz in authorizations:
        for challb in authz.body.challenges:
            if isinstance(challb.chall, wanted):
                out.append(Answer(authz.body.identifier.value, bool(authz.body.wildcard), challb))
                break
    return out


def prepare(
    client: acme_client.ClientV2,
    authorizations: Sequence[messages.AuthorizationResource],
    kind: str,
    publisher: Publisher,
    key: JWK,
) -> list[Answer]:
    """Publish the answers of every pending authorization, then tell the CA to validate
    them (§7.5.1). Idempotent: challenges already being validated are left alone. Returns
    the answers sent."""
    todo = []
    for authz in authorizations:
        if authz.body.status != messages.STATUS_PENDING:
            continue
        found = answers_of([authz], kind)
        if not found:
            offered = ", ".join(sorted({c.chall.typ for c in authz.body.challenges})) or "none"
            raise PluginRejected(
                f"the CA offers no {kind} challenge for {authz.body.identifier.value} "
                f"(it offers: {offered})",
                code="acme_challenge_not_offered",
            )
        if found[0].challenge.status == messages.STATUS_PENDING:
            todo.extend(found)
    if not todo:
        return []
    # The CA may validate as soon as it is told to: the answers are in place first.
    publisher.publish(todo)
    for answer in todo:
        chall = answer.challenge.chall
        assert isinstance(chall, challenges.KeyAuthorizationChallenge)
        try:
            client.answer_challenge(answer.challenge, chall.response(key))
        except messages.Error:
            # Answered before (a CA may keep a challenge "pending" while it validates, and
            # this order was read back meanwhile): fine unless it is still pending.
            response = client.net.post(
                answer.challenge.uri, None, new_nonce_url=client.directory["newNonce"]
            )
            if messages.ChallengeBody.from_json(response.json()).status == (
                messages.STATUS_PENDING
            ):
                raise
    return todo


def clean_up(
    authorizations: Sequence[messages.AuthorizationResource],
    kind: str,
    publisher: Publisher,
    logger: logging.Logger,
    redact: Redactor,
) -> None:
    """Withdraw every answer of this order; a failure is logged, not raised (a TXT record
    or token left behind is harmless, and must not cost the caller a certificate)."""
    answers = answers_of(authorizations, kind)
    try:
        publisher.withdraw(answers)
    except PluginError as exc:
        logger.warning("could not remove the %s answers: %s", kind, redact(exc.message))


def failure_reason(
    order: messages.Order,
    authorizations: Sequence[messages.AuthorizationResource],
    redact: Redactor,
) -> str:
    """The CA's reasons for an invalid order, in its own words, name by name."""
    reasons = []
    for authz in authorizations:
        name = authz.body.identifier.value
        shown = f"*.{name}" if authz.body.wildcard else name
        for challb in authz.body.challenges:
            error = challb.error
            if error is not None:
                detail = redact(error.detail or error.description or error.typ)
                reasons.append(
                    f"{shown} ({challb.chall.typ}): {detail} [{error.code or error.typ}]"
                )
        status = authz.body.status.name if authz.body.status else "pending"
        if status in FAILED_AUTHORIZATION and not any(r.startswith(shown) for r in reasons):
            reasons.append(f"{shown}: the authorization is {status}")
    if order.error is not None:
        said = redact(order.error.detail or order.error.description or order.error.typ)
        if not any(said in reason for reason in reasons):
            reasons.append(said)
    if not reasons:
        return "the CA marked the order invalid without saying why"
    return "; ".join(dict.fromkeys(reasons))


def _fetch_chain(
    client: acme_client.ClientV2, url: str
) -> tuple[list[x509.Certificate], list[str]]:
    """One certificate chain download (POST-as-GET) and its alternates' URLs (§7.4.2)."""
    response = client.net.post(
        url,
        None,
        new_nonce_url=client.directory["newNonce"],
        content_type="application/jose+json",
        headers={
            "Content-Type": "application/jose+json",
            "Accept": "application/pem-certificate-chain",
        },
    )
    try:
        certificates = x509.load_pem_x509_certificates(response.content)
    except ValueError:
        raise PluginRejected(
            "the CA's certificate download is not a PEM certificate chain",
            code="acme_bad_certificate",
        ) from None
    links = requests.utils.parse_header_links(response.headers.get("Link", ""))
    alternates = [str(link["url"]) for link in links if link.get("rel") == "alternate"]
    return certificates, alternates


def _top_issuer(certificates: Sequence[x509.Certificate]) -> str:
    names = certificates[-1].issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


# At most this many alternate chains are read looking for the preferred one.
MAX_ALTERNATES = 5


def download(
    client: acme_client.ClientV2,
    order: messages.Order,
    url: str,
    *,
    preferred_chain: str | None = None,
) -> Issued:
    """The certificate and its chain from a valid order (§7.4.2): the chain that ends at the
    root named ``preferred_chain`` when the CA offers one, else the CA's default."""
    if not order.certificate:
        raise PluginRejected("the CA says the order is valid but gives no certificate URL")
    certificates, alternates = _fetch_chain(client, order.certificate)
    if preferred_chain and _top_issuer(certificates) != preferred_chain:
        for alternate in alternates[:MAX_ALTERNATES]:
            candidate, _ = _fetch_chain(client, alternate)
            if candidate[0] == certificates[0] and _top_issuer(candidate) == preferred_chain:
                certificates = candidate
                break
    return Issued(certificate=certificates[0], chain=tuple(certificates[1:]), external_id=url)
