"""The options every AWS destination shares: the account's region, how Lemur signs in
(a static key or its own credentials) and the role it assumes there through STS.

One destination names one account: with ``role_arn`` each operation assumes that role
first, so one Lemur deploys to many accounts (the role's trust policy admits Lemur's own
identity, optionally only with ``external_id``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from lemur.plugins.aws import (
    ACCESS_KEY_ID_PATTERN,
    EXTERNAL_ID_PATTERN,
    REGION_PATTERN,
    ROLE_ARN_PATTERN,
    SESSION_NAME_PATTERN,
    Credentials,
    check_endpoint_url,
)

EndpointURL = Annotated[str, AfterValidator(check_endpoint_url)]


class AWSAccountOptions(BaseModel):
    """Where and as whom: shared by ``aws-iam`` and ``aws-acm``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str = Field(
        title="Region",
        pattern=REGION_PATTERN,
        description="AWS region of the load balancers (and of ACM certificates), e.g. eu-west-1",
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
        description="IAM role in the target account, assumed through STS for every "
        "operation (deploying to another account); the static key or Lemur's own "
        "credentials assume it",
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
    endpoint_url: EndpointURL | None = Field(
        None,
        title="Endpoint URL",
        description="Custom endpoint for the certificate and load balancer APIs (a proxy, "
        "a local emulator); https, or http to a loopback address only",
    )
    sts_endpoint_url: EndpointURL | None = Field(
        None,
        title="STS endpoint URL",
        description="Custom STS endpoint for assuming the role and checking the connection "
        "(a VPC endpoint); default: AWS's STS endpoint",
    )
    timeout: float = Field(
        10.0, title="Timeout", gt=0, le=120, description="Connect and read timeout (seconds)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> AWSAccountOptions:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        if self.external_id is not None and self.role_arn is None:
            raise ValueError("external_id is used only with role_arn")
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


IAM_PATH_PATTERN = r"^/([\x21-\x7e]{0,510}/)?$"
# ACM tag keys: letters, digits, spaces and _.:/=+-@, not starting with "aws:" (AWS's own).
TAG_KEY_PATTERN = r"^[\w .:/=+\-@]{1,128}$"


def _not_aws_tag(value: str | None) -> str | None:
    if value is not None and value.lower().startswith("aws:"):
        raise ValueError("tag keys starting with aws: are reserved for AWS")
    return value


class IAMOptions(AWSAccountOptions):
    path: str = Field(
        "/",
        title="IAM path",
        max_length=512,
        pattern=IAM_PATH_PATTERN,
        description="Path of the server certificates in IAM, starting and ending with / "
        "(/cloudfront/ for CloudFront)",
    )


class ACMOptions(AWSAccountOptions):
    name_tag: Annotated[str | None, AfterValidator(_not_aws_tag)] = Field(
        "Name",
        title="Name tag",
        pattern=TAG_KEY_PATTERN,
        description="Tag key under which Lemur records the certificate's name on the ACM "
        "certificate; empty: no tag",
    )

    @field_validator("name_tag", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value
