"""``ses``: notices through AWS SES ``SendRawEmail`` (boto3), so the MIME message, its
HTML alternative and headers are Lemur's own, the same as the ``email`` plugin builds.

SES may set its own Message-ID on delivery; the notice's id is also in the
``X-Lemur-Message-Id`` header, which SES keeps. A custom ``endpoint_url`` (a VPC endpoint,
or moto in tests) is checked against the outbound address policy before each call; boto3
then resolves the name again, so that check narrows but cannot close a DNS-rebinding window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from lemur.notifiers._common import (
    EmailAddress,
    HttpURL,
    OneLine,
    build_email,
    outbound_guard,
    recipient_addresses,
)
from lemur.plugins import aws
from lemur.plugins.base import Notifier
from lemur.plugins.errors import (
    PluginConfigurationError,
    PluginError,
    PluginRejected,
    PluginTransientError,
)
from lemur.plugins.values import Notice, Recipient


class SESOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str = Field(pattern=aws.REGION_PATTERN, description="AWS region, e.g. eu-west-1")
    source: EmailAddress = Field(description="Sender address; SES must have it verified")
    from_name: OneLine | None = Field(None, max_length=100, description="Display name in From")
    access_key_id: str | None = Field(
        None,
        pattern=aws.ACCESS_KEY_ID_PATTERN,
        description="Leave empty to use the default credential chain (role, environment)",
    )
    secret_access_key: SecretStr | None = Field(None, description="Stored encrypted")
    endpoint_url: HttpURL | None = Field(None, description="Custom SES endpoint (VPC endpoint)")
    timeout: float = Field(10.0, gt=0, le=120, description="Connect and read timeout (s)")

    @model_validator(mode="after")
    def _credentials(self) -> SESOptions:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        return self


class SESNotifier(Notifier[SESOptions]):
    slug = "ses"
    title = "Amazon SES"
    description = """
        Sends notices through Amazon SES (SendRawEmail) as plain text with an HTML
        alternative. The sender address must be verified in SES.
    """
    Options = SESOptions

    def _client(self) -> Any:
        opts = self.options
        credentials = aws.Credentials(opts.access_key_id, opts.secret_access_key)
        session = aws.session(opts.region, credentials, timeout=opts.timeout)
        return aws.client(session, "ses", endpoint_url=opts.endpoint_url, timeout=opts.timeout)

    def send(self, notice: Notice, recipients: Sequence[Recipient]) -> None:
        opts = self.options
        addresses = recipient_addresses(recipients)
        message = build_email(
            notice,
            recipients,
            from_address=opts.source,
            from_name=opts.from_name,
            now=self.context.clock.now(),
        )
        where = aws.where("SES", opts.endpoint_url)
        with aws.translated(
            where,
            on_client_error=lambda error: _translate(error, where),
            no_credentials=lambda: PluginConfigurationError(
                "no AWS credentials: set access_key_id and secret_access_key, or give Lemur a "
                "role or environment credentials",
                code="ses_no_credentials",
            ),
            code_prefix="ses",
        ):
            aws.check_endpoint(outbound_guard(self.context), opts.endpoint_url)
            self._client().send_raw_email(
                Source=opts.source,
                Destinations=addresses,
                RawMessage={"Data": message.as_bytes()},
            )


def _translate(error: aws.AwsError, where: str) -> PluginError:
    if error.transient:
        return PluginTransientError(
            f"{where} is unavailable ({error.said})", code="peer_unavailable"
        )
    if error.code in aws.CREDENTIAL_CODES or error.code in aws.DENIED_CODES:
        return PluginRejected(
            f"{where} refused the credentials ({error.said})", code="ses_auth_failed"
        )
    return PluginRejected(f"{where} refused the message ({error.said})", code="ses_rejected")
