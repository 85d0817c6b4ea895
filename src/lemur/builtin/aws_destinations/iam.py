"""``aws-iam``: server certificates in AWS IAM, served by classic and ELBv2 load
balancers (and CloudFront, under the path /cloudfront/).

IAM names are immutable and unique per account, and a server certificate cannot be
changed: each certificate gets its own name, derived from Lemur's name for it and its
fingerprint, so deploying again finds the same entity, and deploying the next certificate
uploads a new one next to the previous. The previous stays until Lemur removes it, after
the listeners serving it moved to the new one (AWS refuses to delete a certificate in use).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from lemur.builtin.aws_destinations.calls import Clients, caller_identity, translated
from lemur.builtin.aws_destinations.listeners import AccountListeners
from lemur.builtin.aws_destinations.material import fingerprint, material, same_certificate
from lemur.builtin.aws_destinations.options import IAMOptions
from lemur.plugins import aws
from lemur.plugins.base import Connector, Destination, Verifier
from lemur.plugins.errors import PluginError, PluginRejected
from lemur.plugins.values import Bundle, Connection, DeploymentRef

SERVICE = "AWS IAM"
CODE = "aws_iam"
NAME_LIMIT = 128
# IAM's characters for names: ASCII letters, digits and _+=,.@-
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_+=,.@-]+")
SERVER_CERTIFICATE_ARN = re.compile(
    r"^arn:aws(-[a-z]+)*:iam::\d{12}:server-certificate(/[\x21-\x7e]{0,510})?/"
    r"(?P<name>[A-Za-z0-9_+=,.@-]{1,128})$"
)


def certificate_name(bundle: Bundle) -> str:
    """``NAME-FINGERPRINT``: Lemur's name in IAM's characters (a wildcard's ``*`` as
    ``star``, other characters as ``-``), then the first 16 hex digits of the SHA-256
    fingerprint, 128 characters at most."""
    suffix = fingerprint(bundle.certificate).hex()[:16]
    readable = _NOT_IN_NAME.sub("-", bundle.name.replace("*", "star"))
    base = readable.strip("-.") or "certificate"
    return f"{base[: NAME_LIMIT - len(suffix) - 1]}-{suffix}"


def name_of(ref: DeploymentRef) -> str:
    match = SERVER_CERTIFICATE_ARN.match(ref.value)
    if match is None:
        raise PluginRejected(
            "not an IAM server certificate ARN (arn:aws:iam::ACCOUNT:server-certificate/PATH/NAME)",
            code=f"{CODE}_invalid_reference",
        )
    return match["name"]


def _specific(error: aws.AwsError) -> PluginError | None:
    if error.code in ("MalformedCertificate", "KeyPairMismatch", "InvalidInput"):
        return PluginRejected(
            f"AWS IAM refused the certificate ({error.said})", code=f"{CODE}_invalid_certificate"
        )
    if error.code == "DeleteConflict":
        return PluginRejected(
            f"AWS IAM keeps the certificate while it is in use ({error.said}); move the "
            "listeners to another certificate first",
            code=f"{CODE}_in_use",
        )
    return None


def _existing(iam: Any, name: str, bundle: Bundle) -> dict[str, Any] | None:
    """The metadata of the server certificate ``name`` when it is ``bundle.certificate``;
    None when there is none. Raises PluginRejected when the name holds another one."""
    try:
        held = iam.get_server_certificate(ServerCertificateName=name)["ServerCertificate"]
    except iam.exceptions.NoSuchEntityException:
        return None
    if not same_certificate(held.get("CertificateBody"), bundle.certificate):
        raise PluginRejected(
            f"AWS IAM already holds another certificate named {name}", code=f"{CODE}_name_taken"
        )
    metadata: dict[str, Any] = held["ServerCertificateMetadata"]
    return metadata


class IAMDestination(Destination[IAMOptions], Verifier, Connector, AccountListeners):
    slug = "aws-iam"
    title = "AWS IAM server certificates"
    description = (
        "Uploads certificates (with chain and key) as IAM server certificates, for classic "
        "and application/network load balancers, in one account reached with a static key, "
        "Lemur's own credentials or a role assumed through STS. Rotates listeners to a new "
        "certificate."
    )
    Options = IAMOptions
    code_prefix = CODE

    def deploy(self, bundle: Bundle, *, previous: DeploymentRef | None = None) -> DeploymentRef:
        """The server certificate of this name when it holds this very certificate (a
        repeat), else UploadServerCertificate under that name. The name is looked up first
        rather than relying on EntityAlreadyExists alone, which an upload racing this one
        also answers. ``previous`` is left in place (see the module's docstring)."""
        pem = material(bundle, SERVICE, CODE)
        name = certificate_name(bundle)
        params = {
            "Path": self.options.path,
            "ServerCertificateName": name,
            "CertificateBody": pem.body,
            "PrivateKey": pem.private_key,
        }
        if pem.chain is not None:
            params["CertificateChain"] = pem.chain
        with self._iam() as iam:
            metadata = _existing(iam, name, bundle)
            if metadata is None:
                try:
                    metadata = iam.upload_server_certificate(**params)["ServerCertificateMetadata"]
                except iam.exceptions.EntityAlreadyExistsException:
                    metadata = _existing(iam, name, bundle)
                    if metadata is None:  # deleted again in between
                        raise
                self.context.logger.info("aws-iam: uploaded", extra={"arn": metadata["Arn"]})
        return DeploymentRef(str(metadata["Arn"]))

    def remove(self, ref: DeploymentRef) -> None:
        """DeleteServerCertificate; one already gone is not an error. IAM deletes by name,
        so the name is first looked up: a certificate of that name at another ARN (another
        account or path than ``ref`` says) is not this deployment and stays."""
        name = name_of(ref)
        with self._iam() as iam:
            try:
                held = iam.get_server_certificate(ServerCertificateName=name)
                if held["ServerCertificate"]["ServerCertificateMetadata"]["Arn"] != ref.value:
                    raise PluginRejected(
                        f"AWS IAM holds {name} at another ARN than {ref.value} for this "
                        "identity (another account or path); nothing was deleted",
                        code=f"{CODE}_other_certificate",
                    )
                iam.delete_server_certificate(ServerCertificateName=name)
            except iam.exceptions.NoSuchEntityException:
                return
        self.context.logger.info("aws-iam: removed", extra={"arn": ref.value})

    def verify(self, ref: DeploymentRef, bundle: Bundle) -> bool:
        """The server certificate named in ``ref`` exists at that very ARN (this account,
        this path) and its body is ``bundle.certificate``."""
        name = name_of(ref)
        with self._iam() as iam:
            try:
                held = iam.get_server_certificate(ServerCertificateName=name)["ServerCertificate"]
            except iam.exceptions.NoSuchEntityException:
                return False
        return held["ServerCertificateMetadata"]["Arn"] == ref.value and same_certificate(
            held.get("CertificateBody"), bundle.certificate
        )

    def connect(self) -> Connection:
        """sts:GetCallerIdentity, then one ListServerCertificates under the path."""
        clients = self._clients()
        identity = caller_identity(clients, self.options, code_prefix=CODE)
        with self._translated():
            clients("iam").list_server_certificates(PathPrefix=self.options.path, MaxItems=1)
        return Connection(
            summary=f"signed in as {identity}; IAM server certificates under "
            f"{self.options.path} readable"
        )

    def _clients(self) -> Clients:
        return Clients(self.options, self.context.outbound, code_prefix=CODE)

    def _translated(self) -> contextlib.AbstractContextManager[None]:
        return translated(
            self.options, SERVICE, service_prefix="iam", code_prefix=CODE, specific=_specific
        )

    @contextlib.contextmanager
    def _iam(self) -> Iterator[Any]:
        with self._translated():
            yield self._clients()("iam")
