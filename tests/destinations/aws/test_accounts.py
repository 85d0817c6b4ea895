"""Multi-account deployment: a destination names an account through a role assumed with
STS; what it deploys lands in that account, and listeners there rotate through it."""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx
import pytest

from lemur.plugins.errors import PluginConfigurationError, PluginRejected, PluginTransientError
from lemur.plugins.values import Bundle, PluginContext
from tests.destinations.aws.conftest import (
    ACCOUNT_A,
    ACCOUNT_B,
    ROLE_B,
    LoadBalancers,
    acm_destination,
    assumed_client,
    closed_url,
    iam_destination,
    read_acm,
    read_iam,
)
from tests.peers.moto import SECRET_ACCESS_KEY, MotoServer

ROLE = {"role_arn": ROLE_B, "external_id": "lemur-prod-7f3a", "role_session_name": "lemur-b"}


def assumed_roles(moto: MotoServer) -> list[dict[str, Any]]:
    data = httpx.get(f"{moto.endpoint_url}/moto-api/data.json", timeout=10).json()
    roles: list[dict[str, Any]] = data.get("sts", {}).get("AssumedRole", [])
    return [r for r in roles if r["session_name"] == ROLE["role_session_name"]]


def test_iam_certificate_deployed_through_a_role_lands_in_its_account(
    moto_server: MotoServer, aws_context: PluginContext, bundles: tuple[Bundle, Bundle]
) -> None:
    iam = iam_destination(moto_server, aws_context, **ROLE)
    ref = iam.deploy(bundles[0])

    assert f":iam::{ACCOUNT_B}:server-certificate/" in ref.value
    assert read_iam(assumed_client(moto_server, "iam"), ref) == bundles[0].certificate
    assert read_iam(moto_server.client("iam"), ref) is None  # not in account A
    assert iam.verify(ref, bundles[0])
    assert f"arn:aws:sts::{ACCOUNT_B}:assumed-role/lemur-deployer/lemur-b" in (
        iam.connect().summary
    )
    sessions = assumed_roles(moto_server)
    assert {(r["role_arn"], r["external_id"]) for r in sessions} == {(ROLE_B, ROLE["external_id"])}
    # One AssumeRole per operation (deploy, verify, connect): plugins keep no state.
    assert len(sessions) == 3


def test_acm_certificate_deployed_through_a_role_lands_in_its_account(
    moto_server: MotoServer, aws_context: PluginContext, bundles: tuple[Bundle, Bundle]
) -> None:
    acm = acm_destination(moto_server, aws_context, **ROLE)
    ref = acm.deploy(bundles[0])
    assert f":acm:us-east-1:{ACCOUNT_B}:certificate/" in ref.value
    assert read_acm(assumed_client(moto_server, "acm"), ref) == bundles[0].certificate
    assert read_acm(moto_server.client("acm"), ref) is None
    # The same ARN seen from account A's key is unknown there: a fresh import, in A.
    in_a = acm_destination(moto_server, aws_context).deploy(bundles[1], previous=ref)
    assert f":{ACCOUNT_A}:" in in_a.value
    assert read_acm(assumed_client(moto_server, "acm"), ref) == bundles[0].certificate


def test_listener_in_the_roles_account_rotates_through_the_role(
    moto_server: MotoServer, aws_context: PluginContext, bundles: tuple[Bundle, Bundle]
) -> None:
    iam = iam_destination(moto_server, aws_context, **ROLE)
    old, new = (iam.deploy(b) for b in bundles)
    balancers_b = LoadBalancers(partial(assumed_client, moto_server))
    listener = balancers_b.elbv2_listener(old.value)
    assert f":{ACCOUNT_B}:listener/" in listener

    iam.attach(new, listener, replacing=old)
    assert balancers_b.served(listener) == [(new.value, True)]
    # Account A's own identity does not find that listener.
    with pytest.raises(PluginConfigurationError) as caught:
        iam_destination(moto_server, aws_context).attached(listener)
    assert caught.value.code == "aws_listener_not_found"


def test_unreachable_sts_is_transient_and_shows_no_secret(
    moto_server: MotoServer, aws_context: PluginContext, bundles: tuple[Bundle, Bundle]
) -> None:
    iam = iam_destination(moto_server, aws_context, sts_endpoint_url=closed_url(), **ROLE)
    for call in (lambda: iam.deploy(bundles[0]), iam.connect):
        with pytest.raises(PluginTransientError) as caught:
            call()
        assert caught.value.code == "peer_unreachable"
        assert SECRET_ACCESS_KEY not in str(caught.value)


def test_removing_a_deployment_of_another_account_deletes_nothing_here(
    moto_server: MotoServer, aws_context: PluginContext, bundles: tuple[Bundle, Bundle]
) -> None:
    # The same certificate in both accounts has the same IAM name; IAM deletes by name.
    in_b = iam_destination(moto_server, aws_context, **ROLE).deploy(bundles[0])
    iam_a = iam_destination(moto_server, aws_context)
    in_a = iam_a.deploy(bundles[0])
    with pytest.raises(PluginRejected) as caught:
        iam_a.remove(in_b)
    assert caught.value.code == "aws_iam_other_certificate"
    assert iam_a.verify(in_a, bundles[0])
    assert read_iam(assumed_client(moto_server, "iam"), in_b) == bundles[0].certificate
