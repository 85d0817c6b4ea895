"""Third-party-style plugins for the registry and options tests (not built-ins)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretBytes, SecretStr

from lemur.plugins.base import Destination, Exporter, Issuer, NoOptions, Revoker, Verifier
from lemur.plugins.errors import PluginRejected
from lemur.plugins.values import Bundle, DeploymentRef, IssuanceRequest, Issued, Pending


class Auth(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str
    token: SecretStr


class VaultOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(pattern=r"^https://")
    port: int = Field(443, ge=1, le=65535)
    auth: Auth
    client_key: SecretBytes | None = None
    backup_tokens: list[SecretStr] = []
    labels: dict[str, str] = {}


class VaultDestination(Destination[VaultOptions], Verifier):
    """A destination with secret options (nested, optional, bytes, in a list)."""

    slug = "vault-store"
    title = "Vault store"
    description = """
        Stores certificates in a vault.
        Second line.
    """
    Options = VaultOptions

    def deploy(self, bundle: Bundle) -> DeploymentRef:
        return DeploymentRef(f"{self.options.url}/{bundle.name}")

    def remove(self, ref: DeploymentRef) -> None:
        return None

    def verify(self, ref: DeploymentRef, bundle: Bundle) -> bool:
        return True


class RefusingIssuer(Issuer[NoOptions], Revoker):
    slug = "refusing-ca"
    title = "Refusing CA"

    def issue(self, request: IssuanceRequest) -> Issued | Pending:
        raise PluginRejected("this CA issues nothing", code="policy_refused")

    def revoke(self, request: object) -> None:  # type: ignore[override]
        return None


class WrongSlugIssuer(RefusingIssuer):
    slug = "other-name"


class NotKebabIssuer(RefusingIssuer):
    slug = "Not_Kebab"


class NoTitleIssuer(RefusingIssuer):
    slug = "no-title"
    title = "  "


class AbstractExporter(Exporter[NoOptions]):
    """Forgets to implement export()."""

    slug = "abstract-exporter"
    title = "Abstract"


class NotAPlugin:
    slug = "not-a-plugin"
    title = "Not a plugin"
