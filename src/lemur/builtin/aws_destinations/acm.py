"""``aws-acm``: certificates imported into AWS Certificate Manager.

ACM lets a certificate be re-imported into the ARN it has: deploying with ``previous``
(the ARN the last deployment returned) replaces the certificate in place, so every
listener, CloudFront distribution or API gateway serving that ARN serves the new
certificate without being touched. Deploying again what the ARN already holds changes
nothing. Without ``previous`` (or when that ARN is gone) the bundle is imported as a new
certificate, tagged with Lemur's name for it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from lemur.builtin.aws_destinations.calls import Clients, caller_identity, translated
from lemur.builtin.aws_destinations.listeners import AccountListeners
from lemur.builtin.aws_destinations.material import material, same_certificate
from lemur.builtin.aws_destinations.options import ACMOptions
from lemur.plugins import aws
from lemur.plugins.base import Connector, Destination, Verifier
from lemur.plugins.errors import PluginError, PluginRejected
from lemur.plugins.values import Bundle, Connection, DeploymentRef

SERVICE = "AWS Certificate Manager"
CODE = "aws_acm"
CERTIFICATE_ARN = re.compile(
    r"^arn:aws(-[a-z]+)*:acm:(?P<region>[a-z0-9-]{1,30}):\d{12}:certificate/[0-9a-f-]{36}$"
)
# ACM's characters for tag values; anything else becomes "-".
_NOT_IN_TAG = re.compile(r"[^\w .:/=+\-@]+")


def tag_value(name: str) -> str:
    return _NOT_IN_TAG.sub("-", name).strip()[:256]


def _specific(error: aws.AwsError) -> PluginError | None:
    if error.code in ("ValidationException", "InvalidParameterException", "MalformedCertificate"):
        return PluginRejected(
            f"AWS Certificate Manager refused the certificate ({error.said})",
            code=f"{CODE}_invalid_certificate",
        )
    if error.code == "ResourceInUseException":
        return PluginRejected(
            f"AWS Certificate Manager keeps the certificate while it is in use ({error.said}); "
            "move the listeners to another certificate first",
            code=f"{CODE}_in_use",
        )
    return None


class ACMDestination(Destination[ACMOptions], Verifier, Connector, AccountListeners):
    slug = "aws-acm"
    title = "AWS Certificate Manager"
    description = (
        "Imports certificates (with chain and key) into ACM in one account and region, "
        "reached with a static key, Lemur's own credentials or a role assumed through STS; "
        "a renewed certificate is re-imported into the same ARN, so what serves it needs no "
        "change. Rotates load balancer listeners to a certificate."
    )
    Options = ACMOptions
    code_prefix = CODE

    def deploy(self, bundle: Bundle, *, previous: DeploymentRef | None = None) -> DeploymentRef:
        """ImportCertificate into ``previous``'s ARN when it is an ACM certificate of this
        region that still exists (nothing when it holds this certificate already); else a
        new import."""
        pem = material(bundle, SERVICE, CODE)
        params: dict[str, Any] = {
            "Certificate": pem.body.encode(),
            "PrivateKey": pem.private_key.encode(),
        }
        if pem.chain is not None:
            params["CertificateChain"] = pem.chain.encode()
        tags = (
            [{"Key": self.options.name_tag, "Value": tag_value(bundle.name)}]
            if self.options.name_tag
            else []
        )
        with self._acm() as acm:
            arn, held = self._previous(acm, previous)
            if arn is not None:
                if same_certificate(held, bundle.certificate):
                    return DeploymentRef(arn)
                acm.import_certificate(CertificateArn=arn, **params)
                if tags:  # ACM takes no tags with a re-import
                    acm.add_tags_to_certificate(CertificateArn=arn, Tags=tags)
                self.context.logger.info("aws-acm: re-imported", extra={"arn": arn})
                return DeploymentRef(arn)
            if tags:
                params["Tags"] = tags
            arn = str(acm.import_certificate(**params)["CertificateArn"])
        self.context.logger.info("aws-acm: imported", extra={"arn": arn})
        return DeploymentRef(arn)

    def remove(self, ref: DeploymentRef) -> None:
        """DeleteCertificate; one already gone is not an error."""
        _check_arn(ref)
        with self._acm() as acm:
            try:
                acm.delete_certificate(CertificateArn=ref.value)
            except acm.exceptions.ResourceNotFoundException:
                return
        self.context.logger.info("aws-acm: removed", extra={"arn": ref.value})

    def verify(self, ref: DeploymentRef, bundle: Bundle) -> bool:
        """The ARN exists for this identity and holds ``bundle.certificate``."""
        _check_arn(ref)
        with self._acm() as acm:
            try:
                held = acm.get_certificate(CertificateArn=ref.value).get("Certificate")
            except acm.exceptions.ResourceNotFoundException:
                return False
        return same_certificate(held, bundle.certificate)

    def connect(self) -> Connection:
        """sts:GetCallerIdentity, then one ListCertificates."""
        clients = Clients(self.options, self.context.outbound, code_prefix=CODE)
        identity = caller_identity(clients, self.options, code_prefix=CODE)
        with self._translated():
            clients("acm").list_certificates(MaxItems=1)
        return Connection(
            summary=f"signed in as {identity}; ACM certificates in {self.options.region} readable"
        )

    def _previous(self, acm: Any, previous: DeploymentRef | None) -> tuple[str | None, str | None]:
        """``previous``'s ARN and the certificate it holds, when a re-import can go there:
        an ACM certificate of this region that this identity still finds."""
        if previous is None:
            return None, None
        match = CERTIFICATE_ARN.match(previous.value)
        if match is None or match["region"] != self.options.region:
            return None, None
        try:
            held = acm.get_certificate(CertificateArn=previous.value).get("Certificate")
        except acm.exceptions.ResourceNotFoundException:
            return None, None
        return previous.value, held

    def _translated(self) -> contextlib.AbstractContextManager[None]:
        return translated(
            self.options, SERVICE, service_prefix="acm", code_prefix=CODE, specific=_specific
        )

    @contextlib.contextmanager
    def _acm(self) -> Iterator[Any]:
        with self._translated():
            yield Clients(self.options, self.context.outbound, code_prefix=CODE)("acm")


def _check_arn(ref: DeploymentRef) -> None:
    if CERTIFICATE_ARN.match(ref.value) is None:
        raise PluginRejected(
            "not an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)",
            code=f"{CODE}_invalid_reference",
        )
