"""The options of the aws-pca issuer: region, CA ARN, credentials or a role to assume."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, model_validator

from lemur.plugins.aws import (
    ACCESS_KEY_ID_PATTERN,
    EXTERNAL_ID_PATTERN,
    REGION_PATTERN,
    ROLE_ARN_PATTERN,
    SESSION_NAME_PATTERN,
    Credentials,
    check_endpoint_url,
)

CA_ARN = re.compile(
    r"^arn:(?P<partition>aws(-[a-z]+)*):acm-pca:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"certificate-authority/(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
TEMPLATE_ARN = r"^arn:aws(-[a-z]+)*:acm-pca:::template/[A-Za-z0-9_]{1,100}/V\d{1,3}$"
END_ENTITY_TEMPLATE = "arn:aws:acm-pca:::template/EndEntityCertificate/V1"

SigningAlgorithm = Literal[
    "SHA256WITHRSA",
    "SHA384WITHRSA",
    "SHA512WITHRSA",
    "SHA256WITHRSA_PSS",
    "SHA384WITHRSA_PSS",
    "SHA512WITHRSA_PSS",
    "SHA256WITHECDSA",
    "SHA384WITHECDSA",
    "SHA512WITHECDSA",
    "SM3WITHSM2",
    "ML_DSA_44",
    "ML_DSA_65",
    "ML_DSA_87",
]


def _check_ca_arn(value: str) -> str:
    if not CA_ARN.match(value):
        raise ValueError(
            "not a private CA ARN: expected "
            "arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID (ID a UUID)"
        )
    return value


EndpointURL = Annotated[str, AfterValidator(check_endpoint_url)]


class AWSPCAOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str = Field(
        title="Region",
        pattern=REGION_PATTERN,
        description="AWS region of the private CA, e.g. eu-west-1 (the region in its ARN)",
    )
    certificate_authority_arn: Annotated[str, AfterValidator(_check_ca_arn)] = Field(
        title="Certificate authority ARN",
        max_length=200,
        description="ARN of the private CA, "
        "arn:aws:acm-pca:REGION:ACCOUNT:certificate-authority/ID",
    )
    access_key_id: str | None = Field(
        None,
        title="Access key ID",
        pattern=ACCESS_KEY_ID_PATTERN,
        description="Static access key; leave empty to use Lemur's own credentials "
        "(environment, instance or task role)",
    )
    secret_access_key: SecretStr | None = Field(
        None,
        title="Secret access key",
        description="Secret of the static access key; stored encrypted, never shown again",
    )
    role_arn: str | None = Field(
        None,
        title="Role to assume",
        max_length=2048,
        pattern=ROLE_ARN_PATTERN,
        description="IAM role assumed through STS for every call (a role in the CA's "
        "account, for a CA in another account); the static key or Lemur's own credentials "
        "assume it",
    )
    external_id: str | None = Field(
        None,
        title="External ID",
        max_length=1224,
        pattern=EXTERNAL_ID_PATTERN,
        description="External ID the role's trust policy requires (only with a role)",
    )
    role_session_name: str = Field(
        "lemur",
        title="Role session name",
        pattern=SESSION_NAME_PATTERN,
        description="Session name of the assumed role, shown in CloudTrail",
    )
    signing_algorithm: SigningAlgorithm | None = Field(
        None,
        title="Signing algorithm",
        description="Algorithm the CA signs with; empty: SHA-256 (SHA-384/512 for larger EC "
        "keys) with the CA key's type, e.g. SHA256WITHRSA or SHA256WITHECDSA",
    )
    template_arn: str = Field(
        END_ENTITY_TEMPLATE,
        title="Certificate template ARN",
        max_length=200,
        pattern=TEMPLATE_ARN,
        description="AWS Private CA template for the certificates, "
        "arn:aws:acm-pca:::template/NAME/VERSION",
    )
    endpoint_url: EndpointURL | None = Field(
        None,
        title="Endpoint URL",
        description="Custom AWS Private CA endpoint (a VPC endpoint); https, or http to a "
        "loopback address only",
    )
    sts_endpoint_url: EndpointURL | None = Field(
        None,
        title="STS endpoint URL",
        description="Custom STS endpoint for assuming the role (a VPC endpoint); default: "
        "the regional STS endpoint",
    )
    timeout: float = Field(
        10.0, title="Timeout", gt=0, le=120, description="Connect and read timeout (seconds)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> AWSPCAOptions:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        if self.external_id is not None and self.role_arn is None:
            raise ValueError("external_id is used only with role_arn")
        match = CA_ARN.match(self.certificate_authority_arn)
        if match and match["region"] != self.region:
            raise ValueError(
                f"certificate_authority_arn is in region {match['region']}, "
                f"but region is {self.region}"
            )
        return self

    @property
    def credentials(self) -> Credentials:
        return Credentials(
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            role_arn=self.role_arn,
            external_id=self.external_id,
            session_name=self.role_session_name,
        )
