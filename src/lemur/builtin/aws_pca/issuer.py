"""``aws-pca``: certificates from AWS Private CA (boto3 ``acm-pca``).

Issuing sends the request's CSR with ``IssueCertificate`` and asks once for the certificate:
AWS Private CA signs asynchronously (usually within a second), so a certificate not ready
yet is ``Pending`` with the certificate's ARN as external id, and polling asks again. The
validity is the request's own, to the second (``ValidityNotBefore`` and ``Validity`` as
ABSOLUTE times): with a number of days, AWS would backdate the start by an hour.

The idempotency token is derived from the CSR, the CA and the template (not from the
validity, which a retry may compute again): a retry of the same issuance within AWS's
idempotency window (five minutes) returns the same certificate instead of a second one.

Nothing can be cancelled at AWS Private CA: an issued certificate is revoked, not withdrawn,
so ``cancel`` does nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from lemur.builtin.aws_pca.options import AWSPCAOptions
from lemur.crypto.revocation import RevocationReason
from lemur.plugins import aws
from lemur.plugins.base import Connector, Issuer, Poller, Revoker
from lemur.plugins.errors import (
    PluginConfigurationError,
    PluginError,
    PluginRejected,
    PluginTransientError,
)
from lemur.plugins.values import (
    Connection,
    IssuanceRequest,
    Issued,
    Pending,
    RevocationRequest,
)

SERVICE = "AWS Private CA"
RETRY_AFTER = dt.timedelta(seconds=3)

# Lemur's reason names -> RevokeCertificate's. certificateHold and removeFromCRL have none.
REVOCATION_REASONS = {
    RevocationReason.UNSPECIFIED: "UNSPECIFIED",
    RevocationReason.KEY_COMPROMISE: "KEY_COMPROMISE",
    RevocationReason.CA_COMPROMISE: "CERTIFICATE_AUTHORITY_COMPROMISE",
    RevocationReason.AFFILIATION_CHANGED: "AFFILIATION_CHANGED",
    RevocationReason.SUPERSEDED: "SUPERSEDED",
    RevocationReason.CESSATION_OF_OPERATION: "CESSATION_OF_OPERATION",
    RevocationReason.PRIVILEGE_WITHDRAWN: "PRIVILEGE_WITHDRAWN",
    RevocationReason.AA_COMPROMISE: "A_A_COMPROMISE",
}

# The CA's KeyAlgorithm -> the signing algorithm used when the option is empty.
DEFAULT_SIGNING = {
    "RSA_2048": "SHA256WITHRSA",
    "RSA_3072": "SHA256WITHRSA",
    "RSA_4096": "SHA256WITHRSA",
    "EC_prime256v1": "SHA256WITHECDSA",
    "EC_secp384r1": "SHA384WITHECDSA",
    "EC_secp521r1": "SHA512WITHECDSA",
    "SM2": "SM3WITHSM2",
    "ML_DSA_44": "ML_DSA_44",
    "ML_DSA_65": "ML_DSA_65",
    "ML_DSA_87": "ML_DSA_87",
}

# AWS Private CA's own codes for a failure worth retrying.
_TRANSIENT_CODES = frozenset({"RequestFailedException", "ConcurrentModificationException"})


def signing_family_matches(key_algorithm: str, signing_algorithm: str) -> bool:
    """Whether a CA with ``key_algorithm`` can sign with ``signing_algorithm``."""
    if key_algorithm.startswith("RSA_"):
        return "WITHRSA" in signing_algorithm
    if key_algorithm.startswith("EC_"):
        return signing_algorithm.endswith("WITHECDSA")
    return DEFAULT_SIGNING.get(key_algorithm) == signing_algorithm


def serial_hex(serial: int) -> str:
    """A serial as RevokeCertificate takes it: hex byte pairs joined by colons, as
    ``openssl x509 -text`` prints it (``0a:1b:...``)."""
    digits = f"{serial:x}"
    digits = digits.rjust(len(digits) + len(digits) % 2, "0")
    return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def idempotency_token(csr_der: bytes, *parts: str) -> str:
    """36 characters at most (AWS's limit): the SHA-256 of the CSR and the other inputs."""
    digest = hashlib.sha256(csr_der)
    for part in parts:
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()[:32]


class AWSPCAIssuer(Issuer[AWSPCAOptions], Poller, Revoker, Connector):
    slug = "aws-pca"
    title = "AWS Private CA"
    description = (
        "Certificates from an AWS Private CA (ACM PCA), reached with a static access key, "
        "Lemur's own AWS credentials, or a role assumed through STS (also across accounts). "
        "Lemur sends the CSR and the requested validity; the CA's template decides the "
        "extensions. Revocation goes to the CA's CRL and OCSP."
    )
    Options = AWSPCAOptions

    # -- Issuer, Poller -----------------------------------------------------------------

    def issue(self, request: IssuanceRequest) -> Issued | Pending:
        """IssueCertificate with the request's CSR, then GetCertificate once."""
        opts = self.options
        if request.csr is None:
            raise PluginRejected(
                "AWS Private CA issues from a CSR, and this request has none",
                code="aws_pca_csr_required",
            )
        csr_pem = request.csr.public_bytes(serialization.Encoding.PEM)
        not_before = math.ceil(request.not_before.timestamp())
        not_after = math.floor(request.not_after.timestamp())
        if not_after <= not_before:
            raise PluginRejected(
                "the requested validity is shorter than one second", code="aws_pca_validity"
            )
        with self._calls() as pca:
            algorithm = opts.signing_algorithm or self._default_signing(pca)
            token = idempotency_token(
                request.csr.public_bytes(serialization.Encoding.DER),
                opts.certificate_authority_arn,
                opts.template_arn,
            )
            arn = pca.issue_certificate(
                CertificateAuthorityArn=opts.certificate_authority_arn,
                Csr=csr_pem,
                SigningAlgorithm=algorithm,
                TemplateArn=opts.template_arn,
                Validity={"Value": not_after, "Type": "ABSOLUTE"},
                ValidityNotBefore={"Value": not_before, "Type": "ABSOLUTE"},
                IdempotencyToken=token,
            )["CertificateArn"]
            self.context.logger.info(
                "aws-pca: issue requested", extra={"certificate_arn": arn, "algorithm": algorithm}
            )
            return self._fetch(pca, arn)

    def poll(self, external_id: str, request: IssuanceRequest) -> Issued | Pending:
        """GetCertificate again for the certificate ARN ``issue`` returned."""
        prefix = f"{self.options.certificate_authority_arn}/certificate/"
        if not external_id.startswith(prefix) or len(external_id) > 300:
            raise PluginRejected(
                "the order reference is not a certificate of this authority's private CA",
                code="aws_pca_unknown_certificate",
            )
        with self._calls() as pca:
            return self._fetch(pca, external_id)

    def cancel(self, external_id: str) -> None:
        """Nothing to cancel: AWS Private CA has no pending orders to withdraw (a request is
        signed within seconds; a certificate it issued can only be revoked)."""

    # -- Revoker ------------------------------------------------------------------------

    def revoke(self, request: RevocationRequest) -> None:
        """RevokeCertificate by serial with the reason; already revoked is not an error."""
        reason = REVOCATION_REASONS.get(request.reason)
        if reason is None:
            allowed = ", ".join(r.value for r in REVOCATION_REASONS)
            raise PluginRejected(
                f"AWS Private CA has no revocation reason '{request.reason.value}'; "
                f"use one of {allowed}",
                code="aws_pca_revocation_reason",
            )
        serial = serial_hex(request.certificate.serial_number)
        with self._calls() as pca:
            try:
                pca.revoke_certificate(
                    CertificateAuthorityArn=self.options.certificate_authority_arn,
                    CertificateSerial=serial,
                    RevocationReason=reason,
                )
            except pca.exceptions.RequestAlreadyProcessedException:
                self.context.logger.info("aws-pca: already revoked", extra={"serial": serial})
                return
        self.context.logger.info("aws-pca: revoked", extra={"serial": serial, "reason": reason})

    # -- Connector ----------------------------------------------------------------------

    def connect(self) -> Connection:
        """DescribeCertificateAuthority (it must be ACTIVE, and the signing algorithm fit its
        key) and GetCertificateAuthorityCertificate (the chain)."""
        opts = self.options
        arn = opts.certificate_authority_arn
        with self._calls() as pca:
            ca = pca.describe_certificate_authority(CertificateAuthorityArn=arn)[
                "CertificateAuthority"
            ]
            status = str(ca.get("Status", "UNKNOWN"))
            if status != "ACTIVE":
                raise PluginConfigurationError(
                    f"the private CA {arn} is {status}, not ACTIVE: {_status_hint(status)}",
                    code="aws_pca_not_active",
                    field="options.certificate_authority_arn",
                )
            key_algorithm = str(ca.get("CertificateAuthorityConfiguration", {}).get("KeyAlgorithm"))
            if opts.signing_algorithm and not signing_family_matches(
                key_algorithm, opts.signing_algorithm
            ):
                raise PluginConfigurationError(
                    f"the private CA's key is {key_algorithm}, which cannot sign with "
                    f"{opts.signing_algorithm}",
                    code="aws_pca_signing_algorithm",
                    field="options.signing_algorithm",
                )
            answer = pca.get_certificate_authority_certificate(CertificateAuthorityArn=arn)
        chain = (
            *_certificates(answer["Certificate"]),
            *_certificates(answer.get("CertificateChain")),
        )
        subject = chain[0].subject.rfc4514_string() if chain else "no certificate"
        return Connection(summary=f"AWS Private CA {arn} ({status}), {subject}", chain=chain)

    # -- helpers ------------------------------------------------------------------------

    def _default_signing(self, pca: Any) -> str:
        ca = pca.describe_certificate_authority(
            CertificateAuthorityArn=self.options.certificate_authority_arn
        )["CertificateAuthority"]
        config = ca.get("CertificateAuthorityConfiguration", {})
        key_algorithm = str(config.get("KeyAlgorithm", ""))
        return DEFAULT_SIGNING.get(key_algorithm) or str(config.get("SigningAlgorithm"))

    def _fetch(self, pca: Any, arn: str) -> Issued | Pending:
        try:
            answer = pca.get_certificate(
                CertificateAuthorityArn=self.options.certificate_authority_arn,
                CertificateArn=arn,
            )
        except pca.exceptions.RequestInProgressException as exc:
            said = aws.read_error(exc).message
            return Pending(
                external_id=arn,
                retry_after=RETRY_AFTER,
                note=f"AWS Private CA is still signing the certificate ({said})"
                if said
                else "AWS Private CA is still signing the certificate",
            )
        certificates = _certificates(answer.get("Certificate"))
        if not certificates:
            raise PluginTransientError(
                "AWS Private CA returned no certificate", code="aws_pca_empty_answer"
            )
        certificate = certificates[0]
        chain = _certificates(answer.get("CertificateChain"))
        if not chain:
            ca = pca.get_certificate_authority_certificate(
                CertificateAuthorityArn=self.options.certificate_authority_arn
            )
            chain = (*_certificates(ca["Certificate"]), *_certificates(ca.get("CertificateChain")))
        return Issued(certificate=certificate, chain=chain, external_id=arn)

    @contextmanager
    def _calls(self) -> Iterator[Any]:
        """An acm-pca client (the role assumed when one is set), every failure translated."""
        opts = self.options
        where = aws.where(SERVICE, opts.endpoint_url)
        with aws.translated(
            where,
            on_client_error=lambda error: self._translate(error, where),
            no_credentials=lambda: aws.no_credentials_error("aws_pca"),
            code_prefix="aws_pca",
        ):
            yield aws.connected_client(
                self.context.outbound,
                "acm-pca",
                region=opts.region,
                credentials=opts.credentials,
                endpoint_url=opts.endpoint_url,
                sts_endpoint_url=opts.sts_endpoint_url,
                timeout=opts.timeout,
                code_prefix="aws_pca",
            )

    def _translate(self, error: aws.AwsError, where: str) -> PluginError:
        common = aws.identity_error(
            error, where, self.options.credentials, service_prefix="acm-pca", code_prefix="aws_pca"
        )
        if common is not None:
            return common
        if error.code in _TRANSIENT_CODES:
            return PluginTransientError(
                f"{where} is unavailable ({error.said})", code="peer_unavailable"
            )
        if error.code == "ResourceNotFoundException" and error.operation == "GetCertificate":
            return PluginRejected(
                f"{where} does not know this certificate ({error.said})",
                code="aws_pca_unknown_certificate",
            )
        if error.code in ("ResourceNotFoundException", "InvalidArnException"):
            return PluginConfigurationError(
                f"{where} has no such private CA in {self.options.region} for this identity "
                f"({error.said})",
                code="aws_pca_not_found",
                field="options.certificate_authority_arn",
            )
        # ValidationException, MalformedCSRException, InvalidArgsException,
        # InvalidStateException, LimitExceededException...: the CA's words, as they are.
        return PluginRejected(
            f"{where} refused the request ({error.said})", code="aws_pca_rejected"
        )


def _status_hint(status: str) -> str:
    return {
        "PENDING_CERTIFICATE": "install its CA certificate in AWS Private CA first",
        "CREATING": "wait until AWS has created it",
        "DISABLED": "enable it in AWS Private CA",
        "EXPIRED": "its CA certificate has expired; install a renewed one",
        "DELETED": "it is scheduled for deletion; restore it or choose another CA",
        "FAILED": "its creation failed; create it again",
    }.get(status, "check it in the AWS console")


def _certificates(pem: str | None) -> tuple[x509.Certificate, ...]:
    if not pem or not pem.strip():
        return ()
    try:
        return tuple(x509.load_pem_x509_certificates(pem.encode()))
    except ValueError as exc:
        raise PluginTransientError(
            "AWS Private CA returned a certificate that does not parse",
            code="aws_pca_bad_answer",
        ) from exc
