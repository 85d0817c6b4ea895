"""Listener rotation on ELBv2 (default and SNI certificates) and classic load balancers,
read back with bare boto3 clients from what the load balancer says it serves."""

from __future__ import annotations

from functools import partial

import pytest

from lemur.builtin.aws_destinations.listeners import parse_listener
from lemur.plugins.errors import PluginConfigurationError, PluginRejected
from lemur.plugins.values import Bundle, DeploymentRef, PluginContext
from tests.destinations.aws.conftest import (
    ACCOUNT_A,
    LoadBalancers,
    acm_destination,
    iam_destination,
)
from tests.peers.moto import REGION, MotoServer

MISSING_LISTENER = (
    f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT_A}:listener/app/gone/"
    "0123456789abcdef/0123456789abcdef"
)


def test_default_certificate_rotates_from_one_iam_certificate_to_the_next(
    moto_server: MotoServer,
    aws_context: PluginContext,
    balancers: LoadBalancers,
    bundles: tuple[Bundle, Bundle],
) -> None:
    iam = iam_destination(moto_server, aws_context)
    first, second = bundles
    old = iam.deploy(first)
    listener = balancers.elbv2_listener(old.value)  # the listener serves the IAM certificate
    assert iam.attached(listener) == (old.value,)

    new = iam.deploy(second, previous=old)
    assert new != old  # IAM certificates are immutable: a new one next to the old
    iam.attach(new, listener, replacing=old)

    assert balancers.served(listener) == [(new.value, True)]
    assert iam.attached(listener) == (new.value,)
    iam.remove(old)  # nothing serves it any more
    assert iam.verify(new, second)
    assert not iam.verify(old, first)


def test_sni_certificate_is_swapped_and_the_default_stays(
    moto_server: MotoServer,
    aws_context: PluginContext,
    balancers: LoadBalancers,
    bundles: tuple[Bundle, Bundle],
    other_certificate: str,
) -> None:
    iam = iam_destination(moto_server, aws_context)
    first, second = bundles
    listener = balancers.elbv2_listener(other_certificate)
    old = iam.deploy(first)
    iam.attach(old, listener)  # added next to the default
    assert balancers.served(listener) == [(other_certificate, True), (old.value, False)]

    new = iam.deploy(second, previous=old)
    iam.attach(new, listener, replacing=old)
    assert balancers.served(listener) == [(other_certificate, True), (new.value, False)]
    iam.attach(new, listener, replacing=old)  # a repeat changes nothing
    assert iam.attached(listener) == (other_certificate, new.value)


def test_a_rotation_interrupted_after_adding_is_finished_by_the_retry(
    moto_server: MotoServer,
    aws_context: PluginContext,
    balancers: LoadBalancers,
    bundles: tuple[Bundle, Bundle],
    other_certificate: str,
) -> None:
    iam = iam_destination(moto_server, aws_context)
    old, new = (iam.deploy(b) for b in bundles)
    listener = balancers.elbv2_listener(other_certificate)
    balancers.client("elbv2").add_listener_certificates(
        ListenerArn=listener,
        Certificates=[{"CertificateArn": old.value}, {"CertificateArn": new.value}],
    )
    iam.attach(new, listener, replacing=old)
    assert iam.attached(listener) == (other_certificate, new.value)


def test_classic_load_balancer_listener_rotates(
    moto_server: MotoServer,
    aws_context: PluginContext,
    balancers: LoadBalancers,
    bundles: tuple[Bundle, Bundle],
) -> None:
    iam = iam_destination(moto_server, aws_context)
    old = iam.deploy(bundles[0])
    listener = balancers.classic_listener(old.value)
    assert iam.attached(listener) == (old.value,)
    new = iam.deploy(bundles[1], previous=old)
    iam.attach(new, listener, replacing=old)
    assert balancers.classic_served(listener) == new.value
    iam.attach(new, listener, replacing=old)
    assert iam.attached(listener) == (new.value,)


def test_acm_reimport_keeps_the_arn_and_the_listener_untouched(
    moto_server: MotoServer,
    aws_context: PluginContext,
    balancers: LoadBalancers,
    bundles: tuple[Bundle, Bundle],
) -> None:
    acm = acm_destination(moto_server, aws_context)
    first, second = bundles
    ref = acm.deploy(first)
    listener = balancers.elbv2_listener(ref.value)
    classic = balancers.classic_listener(ref.value)

    renewed = acm.deploy(second, previous=ref)

    assert renewed == ref
    assert balancers.served(listener) == [(ref.value, True)]
    assert balancers.classic_served(classic) == ref.value
    acm.attach(renewed, listener, replacing=ref)  # nothing to do: the ARN is served
    assert acm.attached(listener) == (ref.value,)
    assert acm.verify(ref, second)  # what the listeners serve is the renewed certificate


def test_acm_certificate_becomes_the_default_in_place_of_an_iam_one(
    moto_server: MotoServer,
    aws_context: PluginContext,
    balancers: LoadBalancers,
    bundles: tuple[Bundle, Bundle],
    other_certificate: str,
) -> None:
    acm = acm_destination(moto_server, aws_context)
    listener = balancers.elbv2_listener(other_certificate)
    ref = acm.deploy(bundles[0])
    acm.attach(ref, listener, replacing=DeploymentRef(other_certificate))
    assert balancers.served(listener) == [(ref.value, True)]


def test_listener_that_does_not_exist_is_named(
    moto_server: MotoServer,
    aws_context: PluginContext,
    balancers: LoadBalancers,
    bundles: tuple[Bundle, Bundle],
    other_certificate: str,
) -> None:
    iam = iam_destination(moto_server, aws_context)
    ref = iam.deploy(bundles[0])
    classic = balancers.classic_listener(other_certificate)
    other_port = classic.replace(":443", ":8443")
    for listener in (MISSING_LISTENER, "elb:nowhere:443", other_port):
        for call in (partial(iam.attach, ref, listener), partial(iam.attached, listener)):
            with pytest.raises(PluginConfigurationError) as caught:
                call()
            assert caught.value.code == "aws_listener_not_found"
            assert listener in caught.value.message


def test_listener_without_tls_is_rejected(
    moto_server: MotoServer,
    aws_context: PluginContext,
    balancers: LoadBalancers,
    bundles: tuple[Bundle, Bundle],
) -> None:
    iam = iam_destination(moto_server, aws_context)
    ref = iam.deploy(bundles[0])
    for listener in (
        balancers.elbv2_listener(None, protocol="HTTP"),
        balancers.classic_listener(None, protocol="HTTP"),
    ):
        for call in (partial(iam.attach, ref, listener), partial(iam.attached, listener)):
            with pytest.raises(PluginRejected) as caught:
                call()
            assert caught.value.code == "aws_listener_protocol"
            assert "speaks HTTP" in caught.value.message


@pytest.mark.parametrize(
    "listener",
    ["", "web:443", "elb:web", "elb:web:0", "elb:web:70000", "elb:we b:443", "arn:aws:iam::x"],
)
def test_strings_of_neither_form_are_rejected(listener: str) -> None:
    with pytest.raises(PluginRejected) as caught:
        parse_listener(listener, REGION)
    assert caught.value.code == "aws_listener_invalid"
    assert "elb:NAME:PORT" in caught.value.message


def test_listener_of_another_region_names_the_region_option() -> None:
    with pytest.raises(PluginConfigurationError) as caught:
        parse_listener(MISSING_LISTENER.replace(REGION, "eu-west-1"), REGION)
    assert caught.value.field == "options.region"
