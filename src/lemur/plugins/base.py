"""Base classes: one small required interface per kind, optional capabilities as extra
interfaces (``Revoker``, ``CRLPublisher``, ``AuthorityCreator``, ``Poller``, ``Connector``,
``Verifier``, ``ListenerRotator``).

A plugin class declares ``slug`` (kebab-case, equal to its entry-point name), ``title``,
``description`` and ``Options`` (a pydantic model; ``SecretStr`` fields are stored
encrypted and never returned). It is constructed with validated options and a context.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import ClassVar, Generic, TypeVar

from cryptography import x509
from pydantic import BaseModel, ConfigDict

from lemur.plugins.values import (
    AuthoritySpec,
    Bundle,
    Connection,
    CreatedAuthority,
    CRLRequest,
    DeploymentRef,
    DiscoveredCertificate,
    DiscoveredEndpoint,
    Exported,
    IssuanceRequest,
    Issued,
    Notice,
    Pending,
    PluginContext,
    Recipient,
    RevocationRequest,
)


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


OptionsT = TypeVar("OptionsT", bound=BaseModel)


class Plugin(ABC, Generic[OptionsT]):
    kind: ClassVar[str]
    slug: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str] = ""
    Options: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, options: OptionsT, context: PluginContext) -> None:
        self.options = options
        self.context = context


class Issuer(Plugin[OptionsT]):
    kind = "issuer"

    @abstractmethod
    def issue(self, request: IssuanceRequest) -> Issued | Pending:
        """Issue a certificate for ``request.public_key`` with exactly the requested names.

        Raises PluginRejected when the CA refuses this request, PluginTransientError when it
        could not be reached, PluginConfigurationError when the options are wrong."""


class Revoker(ABC):
    """Optional issuer capability: revoke at the CA. Lemur records the revocation in its
    inventory after this returns; an issuer without it can only be told nothing, and
    Lemur then says the revocation is recorded in the inventory only."""

    @abstractmethod
    def revoke(self, request: RevocationRequest) -> None:
        """Revoke ``request.certificate`` at the CA. Raises PluginRejected when the CA
        refuses, PluginTransientError when it could not be reached."""


class CRLPublisher(ABC):
    """Optional issuer capability: sign a CRL (RFC 5280 §5) for an authority whose key
    Lemur holds, from the values Lemur gives (revoked entries, number, update times)."""

    @abstractmethod
    def publish_crl(self, request: CRLRequest) -> x509.CertificateRevocationList:
        """The CRL of ``request.authority`` listing exactly ``request.revoked``."""


class Poller(ABC):
    """Optional issuer capability: finish or cancel a Pending issuance. Lemur keeps the
    request and gives it again with every poll, so a plugin keeps no state of its own."""

    @abstractmethod
    def poll(self, external_id: str, request: IssuanceRequest) -> Issued | Pending:
        """The certificate when the CA has issued it, else Pending again. Raises
        PluginRejected when the order failed for good (the CA's reason in the message),
        PluginTransientError when the CA could not be reached (polled again later)."""

    @abstractmethod
    def cancel(self, external_id: str) -> None:
        """Give up the order at the CA where it can be (cleaning up challenges); an order
        already gone is not an error."""


class Connector(ABC):
    """Optional issuer capability of CAs Lemur reaches over the network: check that the
    options work, and set up what the CA needs (an ACME account)."""

    @abstractmethod
    def connect(self) -> Connection:
        """Reach the CA with these options. Raises PluginConfigurationError (its field names
        the option at fault, ``options.directory_url``) when they are wrong,
        PluginTransientError when the CA cannot be reached, PluginRejected when it refuses
        (a bad External Account Binding key)."""


class RenewalAdvisor(ABC):
    """Optional issuer capability: the CA's suggested renewal window for a certificate
    (ACME Renewal Information, RFC 9773), which Lemur uses instead of its own."""

    @abstractmethod
    def renewal_window(
        self, certificate: x509.Certificate
    ) -> tuple[dt.datetime, dt.datetime] | None:
        """(start, end) of the suggested window, or None when the CA offers none. Raises
        PluginTransientError when the CA could not be reached."""


class AuthorityCreator(ABC):
    """Optional issuer capability: create a CA (root or intermediate) whose key Lemur keeps."""

    @abstractmethod
    def create_authority(self, spec: AuthoritySpec) -> CreatedAuthority: ...


class Exporter(Plugin[OptionsT]):
    kind = "exporter"
    includes_private_key: ClassVar[bool] = False
    needs_passphrase: ClassVar[bool] = False

    @abstractmethod
    def export(self, bundle: Bundle, *, passphrase: bytes | None) -> Exported:
        """Serialise the bundle. Raises PluginRejected when required input is missing."""


class Destination(Plugin[OptionsT]):
    """Where certificates are served from: a directory, an SFTP server, an AWS account.

    A destination holds one certificate at a time for Lemur's purposes: ``deploy`` replaces
    what the previous deployment placed (``previous``: the reference it returned, so an
    ACM destination re-imports into the same ARN). Lemur rolls back by deploying the
    previous bundle again with ``previous`` set to the failed deployment's reference.
    Private keys travel only through the plugin's own channel."""

    kind = "destination"

    @abstractmethod
    def deploy(self, bundle: Bundle, *, previous: DeploymentRef | None = None) -> DeploymentRef:
        """Place the bundle (certificate, chain and key) at the target, never leaving a
        half-written one there. Idempotent: deploying the same bundle twice changes nothing
        at the target and returns the same reference. Raises PluginTransientError for
        faults worth retrying (unreachable, throttled, a hung reload), other PluginErrors
        for ones that are not (permission denied, wrong host key, access denied)."""

    @abstractmethod
    def remove(self, ref: DeploymentRef) -> None:
        """Remove what deploy placed; removing something already gone is not an error."""


class Verifier(ABC):
    """Optional destination capability: check that the target holds a deployed bundle."""

    @abstractmethod
    def verify(self, ref: DeploymentRef, bundle: Bundle) -> bool:
        """True when the target at ``ref`` holds exactly ``bundle.certificate``."""


class ListenerRotator(ABC):
    """Optional destination capability of load balancers (ELBv2, classic ELB): serve a
    deployed certificate on a listener. A listener is named by the plugin's own string
    (an ELBv2 listener ARN; ``elb:NAME:PORT`` for a classic ELB)."""

    @abstractmethod
    def attach(
        self, ref: DeploymentRef, listener: str, *, replacing: DeploymentRef | None = None
    ) -> None:
        """Serve ``ref`` on ``listener``: where ``replacing`` is the listener's default
        certificate, ``ref`` becomes the default; where it is an additional (SNI) one, it is
        swapped for ``ref``; otherwise ``ref`` is added (or made the default of a listener
        without one). Idempotent."""

    @abstractmethod
    def attached(self, listener: str) -> tuple[str, ...]:
        """The certificate references the listener serves, its default first."""


class Source(Plugin[OptionsT]):
    kind = "source"

    @abstractmethod
    def discover(self) -> Iterator[DiscoveredCertificate | DiscoveredEndpoint]:
        """Yield what the source finds; may be long-running, so yield as you go."""


class Notifier(Plugin[OptionsT]):
    kind = "notifier"

    @abstractmethod
    def send(self, notice: Notice, recipients: Sequence[Recipient]) -> None:
        """Deliver the notice. Raises PluginTransientError to be retried later."""


KINDS: dict[str, type[Plugin[BaseModel]]] = {
    "issuer": Issuer,
    "destination": Destination,
    "source": Source,
    "notifier": Notifier,
    "exporter": Exporter,
}
ENTRY_POINT_GROUPS = {kind: f"lemur.{kind}s" for kind in KINDS}
