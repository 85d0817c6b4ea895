"""AWS for plugins (the ``ses`` notifier, the ``aws-pca`` issuer): boto3 sessions from static
keys, the default credential chain or an assumed role; clients with Lemur's timeouts; the
outbound check of custom endpoints; botocore errors read in plain words.

boto3 connects by itself, so a custom endpoint (a VPC endpoint, moto in tests) is checked
against the outbound address policy before each call; boto3 then resolves the name again,
which narrows but cannot close a DNS-rebinding window. Secrets never reach a message: the
errors built here name the call and AWS's code and message, which carry no credentials.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import botocore.loaders
import botocore.session
import httpx
from pydantic import SecretStr

from lemur.plugins.errors import (
    PluginConfigurationError,
    PluginError,
    PluginRejected,
    PluginTransientError,
)
from lemur.plugins.values import OutboundGuard

REGION_PATTERN = r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$"
ACCESS_KEY_ID_PATTERN = r"^[A-Z0-9]{16,128}$"
ROLE_ARN_PATTERN = r"^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]+$"
# sts:AssumeRole's character sets of ExternalId and RoleSessionName (their lengths are
# limited with max_length: counted repetition makes large regexes).
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9_+=,.@:/-]{2,}$"
SESSION_NAME_PATTERN = r"^[A-Za-z0-9_+=,.@-]{2,64}$"

TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalFailure",
        "InternalError",
        "InternalServerError",
    }
)
# The credentials themselves are wrong (unknown key, bad secret, expired session).
CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidAccessKeyId",
        "ExpiredToken",
        "ExpiredTokenException",
    }
)
# The credentials are fine but may not do this.
DENIED_CODES = frozenset({"AccessDenied", "AccessDeniedException"})

_XML_CODE = re.compile(r"<Code>([^<]{1,100})</Code>")
_XML_MESSAGE = re.compile(r"<Message>([^<]{0,1000})</Message>")


@dataclass(frozen=True)
class Credentials:
    """Where a plugin's AWS identity comes from: static keys (both or neither; neither means
    the default chain: environment, instance or task role), then optionally a role assumed
    through STS with them."""

    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None
    role_arn: str | None = None
    external_id: str | None = None
    session_name: str = "lemur"


@dataclass(frozen=True)
class AwsError:
    """A ClientError read back: AWS's error code and message, the HTTP status, the call."""

    code: str
    message: str
    status: int
    operation: str

    @property
    def said(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code

    @property
    def transient(self) -> bool:
        return self.code in TRANSIENT_CODES or self.status >= 500


class AssumeRoleFailed(Exception):
    """sts:AssumeRole failed; ``error`` is AWS's answer (translated by the caller, which
    knows which option names the role)."""

    def __init__(self, error: AwsError) -> None:
        super().__init__(error.said)
        self.error = error


def read_error(exc: botocore.exceptions.ClientError) -> AwsError:
    """AWS's code and message, one line, at most 300 characters. moto answers denied JSON
    calls with the status as code and an XML error document as message: read that too."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "") or "")
    message = str(error.get("Message", "") or "")
    if message.lstrip().startswith("<"):
        inner_code = _XML_CODE.search(message)
        inner_message = _XML_MESSAGE.search(message)
        code = inner_code.group(1) if inner_code else code
        message = inner_message.group(1) if inner_message else ""
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return AwsError(
        code=code,
        message=" ".join(message.split())[:300],
        status=status,
        operation=str(exc.operation_name or ""),
    )


def check_endpoint_url(value: str) -> str:
    """A custom endpoint: an https URL with a host, or http only to a loopback address
    (moto, a local proxy). The message never repeats the value."""
    if len(value) > 2048 or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("not a URL (no spaces or control characters, at most 2048 characters)")
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ValueError("not a URL") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an https:// URL with a host")
    if url.userinfo or url.query or url.fragment:
        raise ValueError("must not carry credentials, a query or a fragment")
    if url.scheme == "https":
        return value
    try:
        loopback = ipaddress.ip_address(url.host).is_loopback
    except ValueError:
        loopback = url.host == "localhost"
    if not loopback:
        raise ValueError("must be an https:// URL (http:// only to a loopback address)")
    return value


def check_endpoint(guard: OutboundGuard | None, url: str | None) -> None:
    """The outbound address policy for a custom endpoint (None: AWS's own endpoint, which
    is not checked; no guard: the caller runs without a policy). Raises PluginRejected
    (outbound_address_denied), OSError when the name does not resolve."""
    if url is None or guard is None:
        return
    parsed = httpx.URL(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    guard.check_host(parsed.host, port)


def client_config(timeout: float) -> botocore.config.Config:
    """One attempt per call (Lemur retries transient failures itself), bounded waits.
    botocore's ``max_attempts`` counts retries after the first attempt (a throttled call
    would be sent twice, after a backoff of up to a second): ``total_max_attempts`` counts
    them all."""
    return botocore.config.Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"total_max_attempts": 1, "mode": "standard"},
    )


@functools.cache
def _shared_loader() -> botocore.loaders.Loader:
    """botocore's service models, parsed once per process: a new session would read and
    parse the JSON again, about 0.2 s per client. The loader holds no credentials."""
    return botocore.loaders.create_loader()


def _new_session(**kwargs: Any) -> boto3.session.Session:
    core = botocore.session.Session()
    core.register_component("data_loader", _shared_loader())
    return boto3.session.Session(botocore_session=core, **kwargs)


def session(
    region: str,
    credentials: Credentials,
    *,
    timeout: float,
    sts_endpoint_url: str | None = None,
    duration_seconds: int = 900,
) -> boto3.session.Session:
    """A boto3 session for ``credentials``; with a role, the role's temporary credentials
    (one sts:AssumeRole call, valid ``duration_seconds``). Raises AssumeRoleFailed when STS
    refuses, and botocore's exceptions otherwise (read them with :func:`translated`)."""
    secret = credentials.secret_access_key
    base = _new_session(
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret is not None else None,
        region_name=region,
    )
    if credentials.role_arn is None:
        return base
    sts = base.client("sts", endpoint_url=sts_endpoint_url, config=client_config(timeout))
    params: dict[str, Any] = {
        "RoleArn": credentials.role_arn,
        "RoleSessionName": credentials.session_name,
        "DurationSeconds": duration_seconds,
    }
    if credentials.external_id is not None:
        params["ExternalId"] = credentials.external_id
    try:
        assumed = sts.assume_role(**params)["Credentials"]
    except botocore.exceptions.ClientError as exc:
        error = read_error(exc)
        if error.transient:
            raise
        raise AssumeRoleFailed(error) from exc
    return _new_session(
        aws_access_key_id=assumed["AccessKeyId"],
        aws_secret_access_key=assumed["SecretAccessKey"],
        aws_session_token=assumed["SessionToken"],
        region_name=region,
    )


def client(
    boto_session: boto3.session.Session,
    service: str,
    *,
    endpoint_url: str | None,
    timeout: float,
) -> Any:
    return boto_session.client(service, endpoint_url=endpoint_url, config=client_config(timeout))


def connected_client(
    guard: OutboundGuard | None,
    service: str,
    *,
    region: str,
    credentials: Credentials,
    endpoint_url: str | None,
    sts_endpoint_url: str | None,
    timeout: float,
    code_prefix: str,
) -> Any:
    """A client of ``service`` for ``credentials`` (the role assumed when one is set), its
    endpoints checked against the outbound policy. Use it inside :func:`translated`."""
    check_endpoint(guard, endpoint_url)
    if credentials.role_arn is not None:
        check_endpoint(guard, sts_endpoint_url)
    try:
        boto_session = session(
            region, credentials, timeout=timeout, sts_endpoint_url=sts_endpoint_url
        )
    except AssumeRoleFailed as exc:
        raise assume_role_error(exc.error, credentials, code_prefix=code_prefix) from exc
    return client(boto_session, service, endpoint_url=endpoint_url, timeout=timeout)


def identity_field(credentials: Credentials) -> str:
    """The option naming the identity AWS judged: the role when one is assumed."""
    return "options.role_arn" if credentials.role_arn is not None else "options.access_key_id"


def credential_error(
    error: AwsError, where: str, credentials: Credentials, *, code_prefix: str
) -> PluginConfigurationError:
    """AWS refused the credentials themselves: name the option to fix."""
    field = "options.access_key_id"
    if credentials.access_key_id is not None and error.code in (
        "SignatureDoesNotMatch",
        "IncompleteSignature",
    ):
        field = "options.secret_access_key"
    elif error.code.startswith("ExpiredToken"):
        field = identity_field(credentials)
    return PluginConfigurationError(
        f"{where} refused the credentials ({error.said})",
        code=f"{code_prefix}_bad_credentials",
        field=field,
    )


def assume_role_error(
    error: AwsError, credentials: Credentials, *, code_prefix: str
) -> PluginConfigurationError:
    if error.code in CREDENTIAL_CODES:
        return credential_error(error, "STS", credentials, code_prefix=code_prefix)
    return PluginConfigurationError(
        f"STS refused to let these credentials assume {credentials.role_arn} ({error.said})",
        code=f"{code_prefix}_assume_role_denied",
        field="options.role_arn",
    )


def identity_error(
    error: AwsError, where: str, credentials: Credentials, *, service_prefix: str, code_prefix: str
) -> PluginError | None:
    """What every AWS plugin answers alike: unavailable (transient), wrong credentials,
    permission denied (naming the IAM action to grant); None for the rest."""
    if error.transient:
        return PluginTransientError(
            f"{where} is unavailable ({error.said})", code="peer_unavailable"
        )
    if error.code in CREDENTIAL_CODES:
        return credential_error(error, where, credentials, code_prefix=code_prefix)
    if error.code in DENIED_CODES:
        action = f"{service_prefix}:{error.operation}" if error.operation else "the action"
        return PluginConfigurationError(
            f"{where} denied {action} to this identity; grant it in IAM ({error.said})",
            code=f"{code_prefix}_access_denied",
            field=identity_field(credentials),
        )
    return None


def no_credentials_error(code_prefix: str) -> PluginConfigurationError:
    return PluginConfigurationError(
        "no AWS credentials: set access_key_id and secret_access_key, or give Lemur a role "
        "or environment credentials",
        code=f"{code_prefix}_no_credentials",
        field="options.access_key_id",
    )


@contextlib.contextmanager
def translated(
    where: str,
    *,
    on_client_error: Callable[[AwsError], PluginError],
    no_credentials: Callable[[], PluginError],
    code_prefix: str,
) -> Iterator[None]:
    """Turn what boto3 raises inside the block into Lemur's plugin errors. ``where`` names
    the service in messages ("AWS Private CA at vpce-1.example"); AWS's own refusals go to
    ``on_client_error``; ``no_credentials`` when boto3 found no credentials at all."""
    try:
        yield
    except PluginError:
        raise
    except botocore.exceptions.ClientError as exc:
        raise on_client_error(read_error(exc)) from exc
    except botocore.exceptions.NoCredentialsError as exc:
        raise no_credentials() from exc
    except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as exc:
        raise PluginTransientError(
            f"cannot reach {where} ({type(exc).__name__})", code="peer_unreachable"
        ) from exc
    except OSError as exc:
        raise PluginTransientError(
            f"cannot resolve {where} ({type(exc).__name__})", code="peer_unreachable"
        ) from exc
    except botocore.exceptions.ParamValidationError as exc:
        said = " ".join(str(exc).split())[:300]
        raise PluginRejected(
            f"{where}: the request was not valid ({said})", code=f"{code_prefix}_invalid_request"
        ) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise PluginRejected(
            f"{where} call failed ({type(exc).__name__})", code=f"{code_prefix}_error"
        ) from exc


def where(service: str, endpoint_url: str | None) -> str:
    """How messages name the service: "AWS Private CA", or "... at HOST" for a custom one."""
    return service if endpoint_url is None else f"{service} at {httpx.URL(endpoint_url).host}"
