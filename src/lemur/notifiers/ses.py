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

import boto3
import botocore.config
import botocore.exceptions
import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from lemur.notifiers._common import (
    EmailAddress,
    HttpURL,
    OneLine,
    build_email,
    host_of,
    outbound_guard,
    recipient_addresses,
)
from lemur.plugins.base import Notifier
from lemur.plugins.errors import (
    PluginConfigurationError,
    PluginError,
    PluginRejected,
    PluginTransientError,
)
from lemur.plugins.values import Notice, Recipient

_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestTimeout",
        "ServiceUnavailable",
        "InternalFailure",
        "InternalError",
    }
)
_AUTH_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "AccessDenied",
        "AccessDeniedException",
        "ExpiredToken",
    }
)


class SESOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    region: str = Field(
        pattern=r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$", description="AWS region, e.g. eu-west-1"
    )
    source: EmailAddress = Field(description="Sender address; SES must have it verified")
    from_name: OneLine | None = Field(None, max_length=100, description="Display name in From")
    access_key_id: str | None = Field(
        None,
        pattern=r"^[A-Z0-9]{16,128}$",
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
        session = boto3.session.Session(
            aws_access_key_id=opts.access_key_id,
            aws_secret_access_key=(
                opts.secret_access_key.get_secret_value() if opts.secret_access_key else None
            ),
            region_name=opts.region,
        )
        config = botocore.config.Config(
            connect_timeout=opts.timeout,
            read_timeout=opts.timeout,
            retries={"max_attempts": 1, "mode": "standard"},
        )
        return session.client("ses", endpoint_url=opts.endpoint_url, config=config)

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
        where = "SES" if opts.endpoint_url is None else f"SES at {host_of(opts.endpoint_url)}"
        try:
            if opts.endpoint_url is not None:
                url = httpx.URL(opts.endpoint_url)
                port = url.port or (443 if url.scheme == "https" else 80)
                outbound_guard(self.context).check_host(url.host, port)
            self._client().send_raw_email(
                Source=opts.source,
                Destinations=addresses,
                RawMessage={"Data": message.as_bytes()},
            )
        except PluginError:
            raise
        except OSError as exc:
            raise PluginTransientError(
                f"cannot resolve {where} ({type(exc).__name__})", code="peer_unreachable"
            ) from None
        except botocore.exceptions.ClientError as exc:
            raise _translate(exc, where) from None
        except botocore.exceptions.NoCredentialsError:
            raise PluginConfigurationError(
                "no AWS credentials: set access_key_id and secret_access_key, or give Lemur a "
                "role or environment credentials",
                code="ses_no_credentials",
            ) from None
        except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as exc:
            raise PluginTransientError(
                f"cannot reach {where} ({type(exc).__name__})", code="peer_unreachable"
            ) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise PluginRejected(
                f"{where} call failed ({type(exc).__name__})", code="ses_error"
            ) from None


def _translate(exc: botocore.exceptions.ClientError, where: str) -> PluginError:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "") or "")
    message = " ".join(str(error.get("Message", "") or "").split())[:200]
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    said = f"{code}: {message}" if message else code
    if code in _TRANSIENT_CODES or status >= 500:
        return PluginTransientError(f"{where} is unavailable ({said})", code="peer_unavailable")
    if code in _AUTH_CODES:
        return PluginRejected(f"{where} refused the credentials ({said})", code="ses_auth_failed")
    return PluginRejected(f"{where} refused the message ({said})", code="ses_rejected")
