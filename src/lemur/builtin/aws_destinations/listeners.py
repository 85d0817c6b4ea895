"""Serving a deployed certificate on load balancer listeners (the ListenerRotator
capability of ``aws-iam`` and ``aws-acm``).

A listener is named by a string: an ELBv2 listener ARN
(``arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/NAME/ID/ID``, application and
network load balancers) or ``elb:NAME:PORT`` for a classic load balancer in the options'
region. ELBv2 listeners serve a default certificate and additional ones chosen by SNI;
a classic listener serves exactly one.

``describe_listener_certificates`` is read for what a listener serves (its ``IsDefault``
flag marks the default; AWS lists the default twice when it is also an additional one),
not ``describe_listeners``, whose ``Certificates`` hold only the default on AWS (moto lists
them all)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from lemur.builtin.aws_destinations.calls import Clients, translated
from lemur.builtin.aws_destinations.options import AWSAccountOptions
from lemur.plugins import aws
from lemur.plugins.base import ListenerRotator
from lemur.plugins.errors import PluginConfigurationError, PluginError, PluginRejected
from lemur.plugins.values import DeploymentRef, PluginContext

ELBV2_LISTENER = re.compile(
    r"^arn:aws(-[a-z]+)*:elasticloadbalancing:(?P<region>[a-z0-9-]{1,30}):(?P<account>\d{12}):"
    r"listener/(app|net)/[A-Za-z0-9-]{1,32}/[A-Za-z0-9]{1,32}/[A-Za-z0-9]{1,32}$"
)
CLASSIC_LISTENER = re.compile(r"^elb:(?P<name>[A-Za-z0-9-]{1,32}):(?P<port>\d{1,5})$")
LISTENER_FORMS = (
    "an ELBv2 listener ARN (arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/...) "
    "or elb:NAME:PORT for a classic load balancer"
)
SERVICE = "Elastic Load Balancing"
TLS_PROTOCOLS = frozenset({"HTTPS", "TLS", "SSL"})


@dataclass(frozen=True)
class Classic:
    name: str
    port: int


def parse_listener(listener: str, region: str) -> str | Classic:
    """The ELBv2 listener ARN, or the classic load balancer's name and port. Raises
    PluginRejected for a string of neither form, PluginConfigurationError (naming
    ``options.region``) for an ARN of another region."""
    if (match := ELBV2_LISTENER.match(listener)) is not None:
        if match["region"] != region:
            raise PluginConfigurationError(
                f"the listener {listener} is in region {match['region']}, but the "
                f"destination's region is {region}",
                code="aws_listener_region",
                field="options.region",
            )
        return listener
    if (match := CLASSIC_LISTENER.match(listener)) is not None and 0 < int(match["port"]) < 65536:
        return Classic(match["name"], int(match["port"]))
    shown = listener if len(listener) <= 300 and listener.isprintable() else "(unreadable)"
    raise PluginRejected(
        f"not a listener: {shown}; expected {LISTENER_FORMS}", code="aws_listener_invalid"
    )


def attach(
    options: AWSAccountOptions,
    context: PluginContext,
    ref: str,
    listener: str,
    *,
    replacing: str | None,
    code_prefix: str,
) -> None:
    """See :meth:`lemur.plugins.base.ListenerRotator.attach`."""
    target = parse_listener(listener, options.region)
    with _calls(options, listener, code_prefix):
        clients = Clients(options, context.outbound, code_prefix=code_prefix)
        if isinstance(target, Classic):
            elb = clients("elb")
            if _classic_listener(elb, target, listener).get("SSLCertificateId") == ref:
                return
            elb.set_load_balancer_listener_ssl_certificate(
                LoadBalancerName=target.name, LoadBalancerPort=target.port, SSLCertificateId=ref
            )
        else:
            _rotate_elbv2(clients("elbv2"), target, listener, ref, replacing)
    context.logger.info(
        "aws: certificate attached to listener",
        extra={"listener": listener, "certificate": ref, "replacing": replacing},
    )


def attached(
    options: AWSAccountOptions, context: PluginContext, listener: str, *, code_prefix: str
) -> tuple[str, ...]:
    """See :meth:`lemur.plugins.base.ListenerRotator.attached`."""
    target = parse_listener(listener, options.region)
    with _calls(options, listener, code_prefix):
        clients = Clients(options, context.outbound, code_prefix=code_prefix)
        if isinstance(target, Classic):
            held = _classic_listener(clients("elb"), target, listener).get("SSLCertificateId")
            return (str(held),) if held else ()
        elbv2 = clients("elbv2")
        default, extras = _served(elbv2, target)
        if default is None and not extras:
            _check_elbv2_protocol(elbv2, target, listener)
        return (*((default,) if default else ()), *extras)


def _rotate_elbv2(elbv2: Any, arn: str, listener: str, ref: str, replacing: str | None) -> None:
    """The default replaced in place (modify_listener); an additional one swapped by adding
    the new before removing the old, so the listener never lacks a certificate for a name;
    otherwise added. Each step is skipped when already done, so a retry after a partial
    rotation finishes it.

    HTTPS and TLS listeners always have a default certificate, so only a listener serving
    none has its protocol read (DescribeListeners): one call less per rotation."""
    default, extras = _served(elbv2, arn)
    if default is None and not extras:
        _check_elbv2_protocol(elbv2, arn, listener)
    if default is None or (replacing is not None and replacing == default):
        if ref != default:
            elbv2.modify_listener(ListenerArn=arn, Certificates=[{"CertificateArn": ref}])
        return
    if ref != default and ref not in extras:
        elbv2.add_listener_certificates(ListenerArn=arn, Certificates=[{"CertificateArn": ref}])
    if replacing is not None and replacing != ref and replacing in extras:
        elbv2.remove_listener_certificates(
            ListenerArn=arn, Certificates=[{"CertificateArn": replacing}]
        )


def _served(elbv2: Any, arn: str) -> tuple[str | None, tuple[str, ...]]:
    """The listener's default certificate and its additional ones (each once)."""
    default: str | None = None
    extras: list[str] = []
    params: dict[str, Any] = {"ListenerArn": arn}
    while True:
        page = elbv2.describe_listener_certificates(**params)
        for certificate in page.get("Certificates", []):
            value = str(certificate["CertificateArn"])
            if certificate.get("IsDefault"):
                default = value
            elif value not in extras:
                extras.append(value)
        marker = page.get("NextMarker")
        if not marker:
            break
        params["Marker"] = marker
    return default, tuple(e for e in extras if e != default)


def _check_elbv2_protocol(elbv2: Any, arn: str, listener: str) -> None:
    [found] = elbv2.describe_listeners(ListenerArns=[arn])["Listeners"]
    _check_protocol(str(found.get("Protocol", "")), listener)


def _classic_listener(elb: Any, target: Classic, listener: str) -> dict[str, Any]:
    [balancer] = elb.describe_load_balancers(LoadBalancerNames=[target.name])[
        "LoadBalancerDescriptions"
    ]
    for description in balancer.get("ListenerDescriptions", []):
        found: dict[str, Any] = description["Listener"]
        if int(found["LoadBalancerPort"]) == target.port:
            _check_protocol(str(found.get("Protocol", "")), listener)
            return found
    raise _not_found(listener, f"the load balancer {target.name} has no listener on that port")


def _check_protocol(protocol: str, listener: str) -> None:
    if protocol.upper() not in TLS_PROTOCOLS:
        raise PluginRejected(
            f"the listener {listener} speaks {protocol or 'an unknown protocol'}, which "
            "serves no certificate; choose an HTTPS, TLS or SSL listener",
            code="aws_listener_protocol",
        )


def _not_found(listener: str, said: str) -> PluginConfigurationError:
    return PluginConfigurationError(
        f"no listener {listener} for this identity ({said})", code="aws_listener_not_found"
    )


def _listener_error(listener: str, error: aws.AwsError) -> PluginError | None:
    if error.code in ("ListenerNotFound", "LoadBalancerNotFound", "AccessPointNotFound"):
        return _not_found(listener, error.said)
    if error.code == "CertificateNotFound":
        return PluginRejected(
            f"the load balancer does not find the certificate ({error.said})",
            code="aws_listener_certificate_not_found",
        )
    return None


def _calls(options: AWSAccountOptions, listener: str, code_prefix: str) -> Any:
    return translated(
        options,
        SERVICE,
        service_prefix="elasticloadbalancing",
        code_prefix=code_prefix,
        specific=functools.partial(_listener_error, listener),
    )


class AccountListeners(ListenerRotator):
    """``attach``/``attached`` of a destination plugin of one AWS account (aws-iam and
    aws-acm alike): the listener functions above with the plugin's options, context and
    error-code prefix."""

    options: Any  # the plugin's AWSAccountOptions subclass (lemur.plugins.base.Plugin)
    context: PluginContext
    code_prefix: ClassVar[str]

    def attach(
        self, ref: DeploymentRef, listener: str, *, replacing: DeploymentRef | None = None
    ) -> None:
        attach(
            self.options,
            self.context,
            ref.value,
            listener,
            replacing=replacing.value if replacing is not None else None,
            code_prefix=self.code_prefix,
        )

    def attached(self, listener: str) -> tuple[str, ...]:
        return attached(self.options, self.context, listener, code_prefix=self.code_prefix)
