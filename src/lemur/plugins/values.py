"""Frozen values exchanged with plugins: cryptography objects and dataclasses only."""

from __future__ import annotations

import datetime as dt
import logging
import re
import socket
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from cryptography import x509
from pydantic import BaseModel

from lemur.clock import Clock
from lemur.crypto.keys import KeySpec, PrivateKey, PublicKey
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.profiles import Profile
from lemur.crypto.revocation import RevocationReason, RevokedEntry
from lemur.crypto.subjects import NO_SUBJECT, LeafSubject
from lemur.crypto.usages import ExtendedKeyUsageName, KeyUsageName

if TYPE_CHECKING:  # httpx is only needed by plugins that make HTTP calls
    import httpx


class OutboundGuard(Protocol):
    """The outbound address policy for connections that do not go through ``http`` (SMTP,
    SDKs such as boto3): :mod:`lemur.outbound` implements it."""

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """A TCP connection to ``host`` resolved once, every address checked, connected to
        a checked address. Raises PluginRejected (code ``outbound_address_denied``) for a
        denied address, OSError when the host cannot be resolved or reached."""

    def check_host(self, host: str, port: int) -> tuple[str, ...]:
        """The checked addresses of ``host`` (for clients that connect by themselves)."""


class ChallengeResponder(Protocol):
    """Lemur's own answers to ACME HTTP-01 challenges: what is published here is served at
    ``/.well-known/acme-challenge/{token}`` by every Lemur web process (stored in the
    database, so a worker can publish what the web process serves)."""

    def publish(self, token: str, content: str) -> None:
        """Serve ``content`` (the key authorization) at the token's path from now on."""

    def withdraw(self, token: str) -> None:
        """Stop serving the token (nothing happens when it is not published)."""


@dataclass(frozen=True)
class PluginContext:
    """What a plugin may use besides its options. The HTTP client is the guarded one
    (:func:`lemur.outbound.guarded_client`), ``outbound`` the same policy for sockets and
    for clients that connect by themselves (boto3, the acme library): check every host with
    ``outbound.check_host`` before connecting. ``challenges`` publishes ACME HTTP-01
    answers (issuers only)."""

    clock: Clock
    logger: logging.Logger
    http: httpx.Client | None = None
    outbound: OutboundGuard | None = None
    challenges: ChallengeResponder | None = None


@dataclass(frozen=True)
class SigningAuthority:
    """A CA whose key Lemur holds, handed to the local CA issuer for one operation."""

    certificate: x509.Certificate
    private_key: PrivateKey
    chain: tuple[x509.Certificate, ...]  # issuer's issuers, nearest first, root last
    crl_url: str | None
    ocsp_url: str | None
    ca_issuers_url: str | None
    cab_forum: bool = False


@dataclass(frozen=True)
class IssuanceRequest:
    public_key: PublicKey
    key_spec: KeySpec
    common_name: str | None
    sans: SubjectAltNames
    profile: Profile
    not_before: dt.datetime
    not_after: dt.datetime
    authority: SigningAuthority | None = None  # set for authorities whose key Lemur holds
    # The requester's choices, already checked against what the authority allows: subject
    # attributes besides the CN, and key usages (None: the defaults for the key and profile).
    subject: LeafSubject = NO_SUBJECT
    key_usage: tuple[KeyUsageName, ...] | None = None
    extended_key_usage: tuple[ExtendedKeyUsageName, ...] | None = None
    # Set for authorities whose key Lemur does not hold (ACME, CFSSL, AWS Private CA): a CSR
    # for ``public_key`` with the names above, signed by the key Lemur generated or the
    # requester's own CSR. Its signature is checked; send it to the CA as it is.
    csr: x509.CertificateSigningRequest | None = None


@dataclass(frozen=True)
class Issued:
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # intermediates up to (optionally) the root
    external_id: str | None = None


@dataclass(frozen=True)
class Pending:
    """The CA will answer later (approval, asynchronous validation); poll with the id."""

    external_id: str
    retry_after: dt.timedelta = dt.timedelta(seconds=30)
    # What the CA is doing, in plain words ("waiting for the DNS-01 validation of
    # a.example.com"), shown to the requester.
    note: str = ""


@dataclass(frozen=True)
class Connection:
    """What ``Connector.connect`` found: a summary in plain words ("directory reachable,
    account registered"), the CA's certificates when the CA tells them (the issuing CA
    first, up to the root), and options to store instead of the given ones when connecting
    set something up (an ACME account's key and URL)."""

    summary: str
    chain: tuple[x509.Certificate, ...] = ()
    options: BaseModel | None = None


@dataclass(frozen=True)
class AuthoritySpec:
    """What a new CA should look like (for issuers that can create authorities)."""

    subject: x509.Name
    key_spec: KeySpec
    not_before: dt.datetime
    not_after: dt.datetime
    path_length: int | None
    permitted_dns_subtrees: tuple[str, ...] = ()
    excluded_dns_subtrees: tuple[str, ...] = ()
    cab_forum: bool = False
    parent: SigningAuthority | None = None  # None: a self-signed root


@dataclass(frozen=True)
class CreatedAuthority:
    certificate: x509.Certificate
    private_key: PrivateKey
    chain: tuple[x509.Certificate, ...]


@dataclass(frozen=True)
class RevocationRequest:
    certificate: x509.Certificate
    reason: RevocationReason
    revoked_at: dt.datetime
    external_id: str | None = None


@dataclass(frozen=True)
class CRLRequest:
    """A CRL to sign: the authority's revoked certificates, its number (RFC 5280 §5.2.3,
    increasing) and validity window."""

    authority: SigningAuthority
    revoked: tuple[RevokedEntry, ...]
    crl_number: int
    this_update: dt.datetime
    next_update: dt.datetime


@dataclass(frozen=True)
class Bundle:
    """A certificate with its chain and, only for an authorised export, its key."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    private_key: PrivateKey | None = None
    name: str = "certificate"


@dataclass(frozen=True)
class Exported:
    content: bytes
    media_type: str
    filename: str
    contains_private_key: bool = field(default=False)


@dataclass(frozen=True)
class DeploymentRef:
    """Where a destination put a bundle (an ARN, a remote path, ...), opaque to Lemur."""

    value: str


@dataclass(frozen=True)
class DiscoveredCertificate:
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    private_key: PrivateKey | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class DiscoveredEndpoint:
    """A place a certificate is served: host:port with SNI name, or a load balancer listener."""

    name: str
    host: str
    port: int
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    sni: str | None = None


_MESSAGE_ID = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")


@dataclass(frozen=True)
class Notice:
    """One message for a notifier: a subject, plain text (``body``), optionally an HTML
    alternative, and the certificates concerned.

    ``message_id`` (RFC 5322 form ``<left@right>``) is chosen by the caller for one logical
    message: a resend of the same message carries the same id, so a recipient (or the
    receiving system) can recognise a repeat. ``link`` points to the message's subject in
    Lemur (a certificate, or a list of them)."""

    event: str
    subject: str
    body: str
    certificate_ids: tuple[int, ...] = ()
    message_id: str = field(kw_only=True)
    html: str | None = field(default=None, kw_only=True)
    link: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if not _MESSAGE_ID.match(self.message_id):
            raise ValueError("message_id must look like <unique-part@domain>")
        if "\r" in self.subject or "\n" in self.subject:
            raise ValueError("a subject is one line (no CR or LF)")


@dataclass(frozen=True)
class Recipient:
    """Where a message goes: an email address for ``email`` and ``ses``; informative for
    ``slack`` and ``webhook``, whose target is the channel's URL."""

    address: str
