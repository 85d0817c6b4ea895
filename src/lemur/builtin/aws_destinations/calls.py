"""The AWS calls of one operation: one boto3 session (one sts:AssumeRole when a role is
set, so a plugin keeps no state between operations), clients made from it, and botocore's
errors read into Lemur's.

Every service answers alike for throttling, 5xx, wrong credentials and a missing
permission (:func:`lemur.plugins.aws.identity_error`); each plugin adds its own service's
codes through ``specific``; anything left is AWS refusing this request (PluginRejected)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import boto3

from lemur.builtin.aws_destinations.options import AWSAccountOptions
from lemur.plugins import aws
from lemur.plugins.errors import PluginError, PluginRejected, PluginTransientError
from lemur.plugins.values import OutboundGuard

Specific = Callable[[aws.AwsError], PluginError | None]

# Codes some AWS services use for "slow down" besides the shared ones (ELB's, EC2's).
_MORE_TRANSIENT = frozenset({"RequestLimitExceeded", "ServiceFailure", "PriorRequestNotComplete"})


class Clients:
    """Clients for one operation. The session is made at the first client, its endpoints
    checked against the outbound policy first."""

    def __init__(
        self, options: AWSAccountOptions, guard: OutboundGuard | None, *, code_prefix: str
    ) -> None:
        self._options = options
        self._guard = guard
        self._code_prefix = code_prefix
        self._session: boto3.session.Session | None = None

    def __call__(self, service: str) -> Any:
        opts = self._options
        endpoint = opts.sts_endpoint_url if service == "sts" else opts.endpoint_url
        aws.check_endpoint(self._guard, endpoint)
        if self._session is None:
            if opts.role_arn is not None:
                aws.check_endpoint(self._guard, opts.sts_endpoint_url)
            try:
                self._session = aws.session(
                    opts.region,
                    opts.credentials,
                    timeout=opts.timeout,
                    sts_endpoint_url=opts.sts_endpoint_url,
                )
            except aws.AssumeRoleFailed as exc:
                raise aws.assume_role_error(
                    exc.error, opts.credentials, code_prefix=self._code_prefix
                ) from exc
        return aws.client(self._session, service, endpoint_url=endpoint, timeout=opts.timeout)


@contextlib.contextmanager
def translated(
    options: AWSAccountOptions,
    service: str,
    *,
    service_prefix: str,
    code_prefix: str,
    specific: Specific = lambda error: None,
    sts: bool = False,
) -> Iterator[None]:
    """Lemur's errors for what boto3 raises in the block. ``service`` names the service
    in messages ("AWS IAM"); ``service_prefix`` is IAM's prefix of its actions ("iam"),
    named when a permission is missing; ``sts``: the calls go to the STS endpoint."""
    where = aws.where(service, options.sts_endpoint_url if sts else options.endpoint_url)

    def translate(error: aws.AwsError) -> PluginError:
        if error.code in _MORE_TRANSIENT:
            return PluginTransientError(
                f"{where} is unavailable ({error.said})", code="peer_unavailable"
            )
        common = aws.identity_error(
            error,
            where,
            options.credentials,
            service_prefix=service_prefix,
            code_prefix=code_prefix,
        )
        if common is not None:
            return common
        known = specific(error)
        if known is not None:
            return known
        return PluginRejected(
            f"{where} refused the request ({error.said})", code=f"{code_prefix}_rejected"
        )

    with aws.translated(
        where,
        on_client_error=translate,
        no_credentials=lambda: aws.no_credentials_error(code_prefix),
        code_prefix=code_prefix,
    ):
        yield


def account_of(arn: str) -> str:
    """The account id in an ARN (its fifth field), or "" when there is none."""
    parts = arn.split(":", 5)
    return parts[4] if len(parts) == 6 else ""


def caller_identity(clients: Clients, options: AWSAccountOptions, *, code_prefix: str) -> str:
    """sts:GetCallerIdentity: who the calls are made as (the assumed role's session when a
    role is set), as its ARN. Needs no permission, so it proves the credentials alone."""
    with translated(options, "AWS STS", service_prefix="sts", code_prefix=code_prefix, sts=True):
        return str(clients("sts").get_caller_identity()["Arn"])
