"""The aws-iam and aws-acm destinations against a real moto server.

Certificates come from a two-level test PKI made here (a root, an intermediate that signs
the leaves; RSA-2048, which IAM, ACM and the load balancers all take). Load balancers are
built as in AWS: ELBv2 in a VPC with two subnets in different zones (PEERS.md §4), classic
ELB in a zone. Account A is moto's default (the shared test key); account B is reached
through a role, as the plugins do it (moto files what a role's credentials create under
the role's account).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from lemur.builtin.aws_destinations import ACMDestination, ACMOptions, IAMDestination, IAMOptions
from lemur.clock import SystemClock
from lemur.outbound import OutboundPolicy, plugin_context
from lemur.plugins.values import Bundle, DeploymentRef, PluginContext
from tests.peers.fixtures import *  # noqa: F403  (moto_server)
from tests.peers.moto import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, MotoServer
from tests.peers.server import free_port

ACCOUNT_A = "123456789012"
ACCOUNT_B = "111111111111"
ROLE_B = f"arn:aws:iam::{ACCOUNT_B}:role/lemur-deployer"
_serials = itertools.count(1)


@dataclass(frozen=True)
class PKI:
    root: x509.Certificate
    intermediate: x509.Certificate
    intermediate_key: rsa.RSAPrivateKey

    def bundle(
        self, name: str, *, expired: bool = False, key: rsa.RSAPrivateKey | None = None
    ) -> Bundle:
        """A leaf for ``name`` (a DNS name) signed by the intermediate, with its chain."""
        leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = dt.datetime.now(dt.UTC)
        start = now - dt.timedelta(days=30 if expired else 1)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.intermediate.subject)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=2 if expired else 90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.intermediate_key, hashes.SHA256())
        )
        return Bundle(
            certificate=certificate,
            chain=(self.intermediate,),
            private_key=key or leaf_key,
            name=name,
        )


def _ca(
    name: str, key: rsa.RSAPrivateKey, issuer: x509.Name, signer: rsa.RSAPrivateKey
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(next(_serials))
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(signer, hashes.SHA256())
    )


@pytest.fixture(scope="session")
def pki() -> PKI:
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Lemur Test AWS Root")])
    root = _ca("Lemur Test AWS Root", root_key, root_name, root_key)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    intermediate = _ca("Lemur Test AWS Intermediate", key, root.subject, root_key)
    return PKI(root, intermediate, key)


@pytest.fixture(scope="session")
def bundles(pki: PKI) -> tuple[Bundle, Bundle]:
    """Two certificates for the same site: the one deployed, and its renewal."""
    return pki.bundle("www.example.test"), pki.bundle("www.example.test")


@pytest.fixture
def aws_context() -> Iterator[PluginContext]:
    """The context destinations get: the default address policy (loopback allowed)."""
    with plugin_context(OutboundPolicy(timeout=5), SystemClock(), "tests.destinations.aws") as ctx:
        yield ctx


def account_options(moto: MotoServer, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "region": REGION,
        "endpoint_url": moto.endpoint_url,
        "sts_endpoint_url": moto.endpoint_url,
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
        "timeout": 5,
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def iam_destination(moto: MotoServer, context: PluginContext, **changes: Any) -> IAMDestination:
    return IAMDestination(IAMOptions.model_validate(account_options(moto, **changes)), context)


def acm_destination(moto: MotoServer, context: PluginContext, **changes: Any) -> ACMDestination:
    return ACMDestination(ACMOptions.model_validate(account_options(moto, **changes)), context)


def closed_url() -> str:
    """An endpoint on a loopback port nothing listens on."""
    return f"http://127.0.0.1:{free_port()}"


def assumed_client(moto: MotoServer, service: str, role_arn: str = ROLE_B) -> Any:
    """A client of ``service`` in the role's account (AssumeRole with the shared key)."""
    creds = moto.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="fixture")[
        "Credentials"
    ]
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=moto.endpoint_url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def iam_name(ref: DeploymentRef) -> str:
    return ref.value.rsplit("/", 1)[-1]


def read_iam(iam: Any, ref: DeploymentRef) -> x509.Certificate | None:
    """The certificate IAM holds at ``ref``, read with a bare client (None: nothing)."""
    try:
        held = iam.get_server_certificate(ServerCertificateName=iam_name(ref))
    except iam.exceptions.NoSuchEntityException:
        return None
    if held["ServerCertificate"]["ServerCertificateMetadata"]["Arn"] != ref.value:
        return None
    return x509.load_pem_x509_certificate(held["ServerCertificate"]["CertificateBody"].encode())


def read_acm(acm: Any, ref: DeploymentRef) -> x509.Certificate | None:
    try:
        pem = acm.get_certificate(CertificateArn=ref.value)["Certificate"]
    except acm.exceptions.ResourceNotFoundException:
        return None
    return x509.load_pem_x509_certificate(pem.encode())


@dataclass
class LoadBalancers:
    """ELBv2 and classic load balancers of one account, made with bare boto3 clients."""

    client: Callable[[str], Any]
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _network: tuple[str, list[str]] | None = None

    def _vpc(self) -> tuple[str, list[str]]:
        if self._network is None:
            ec2 = self.client("ec2")
            vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
            subnets = [
                ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=zone)[
                    "Subnet"
                ]["SubnetId"]
                for i, zone in ((1, f"{REGION}a"), (2, f"{REGION}b"))
            ]
            self._network = (vpc, subnets)
        return self._network

    def elbv2_listener(self, certificate: str | None, *, protocol: str = "HTTPS") -> str:
        """A new application load balancer with one listener: HTTPS serving
        ``certificate`` as its default, or HTTP."""
        vpc, subnets = self._vpc()
        elbv2 = self.client("elbv2")
        n = next(self._names)
        lb = elbv2.create_load_balancer(
            Name=f"web-{n}", Subnets=subnets, Type="application", Scheme="internet-facing"
        )["LoadBalancers"][0]
        tg = elbv2.create_target_group(Name=f"web-tg-{n}", Protocol="HTTP", Port=80, VpcId=vpc)[
            "TargetGroups"
        ][0]
        params: dict[str, Any] = {
            "LoadBalancerArn": lb["LoadBalancerArn"],
            "Protocol": protocol,
            "Port": 443 if protocol == "HTTPS" else 80,
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
        }
        if protocol == "HTTPS":
            params["SslPolicy"] = "ELBSecurityPolicy-2016-08"
            params["Certificates"] = [{"CertificateArn": certificate}]
        listener: str = elbv2.create_listener(**params)["Listeners"][0]["ListenerArn"]
        return listener

    def served(self, listener: str) -> list[tuple[str, bool]]:
        """What ELBv2 says the listener serves: (certificate, is default) pairs."""
        answer = self.client("elbv2").describe_listener_certificates(ListenerArn=listener)
        return [(c["CertificateArn"], c["IsDefault"]) for c in answer["Certificates"]]

    def classic_listener(self, certificate: str | None, *, protocol: str = "HTTPS") -> str:
        """A new classic load balancer with one listener on 443 (HTTPS) or 80 (HTTP);
        its name as the plugins take it, ``elb:NAME:PORT``."""
        name = f"classic-{next(self._names)}"
        listener: dict[str, Any] = {
            "Protocol": protocol,
            "LoadBalancerPort": 443 if protocol == "HTTPS" else 80,
            "InstanceProtocol": "HTTP",
            "InstancePort": 80,
        }
        if certificate is not None:
            listener["SSLCertificateId"] = certificate
        self.client("elb").create_load_balancer(
            LoadBalancerName=name, AvailabilityZones=[f"{REGION}a"], Listeners=[listener]
        )
        return f"elb:{name}:{listener['LoadBalancerPort']}"

    def classic_served(self, listener: str) -> str | None:
        _, name, port = listener.split(":")
        [balancer] = self.client("elb").describe_load_balancers(LoadBalancerNames=[name])[
            "LoadBalancerDescriptions"
        ]
        for description in balancer["ListenerDescriptions"]:
            if description["Listener"]["LoadBalancerPort"] == int(port):
                return description["Listener"].get("SSLCertificateId")
        return None


@pytest.fixture
def balancers(moto_server: MotoServer) -> LoadBalancers:
    return LoadBalancers(moto_server.client)


@pytest.fixture
def other_certificate(moto_server: MotoServer, pki: PKI) -> str:
    """An IAM certificate Lemur did not deploy, which listeners serve at first."""
    bundle = pki.bundle("old.example.test")
    assert bundle.private_key is not None
    metadata = moto_server.client("iam").upload_server_certificate(
        ServerCertificateName="uploaded-by-hand",
        CertificateBody=bundle.certificate.public_bytes(serialization.Encoding.PEM).decode(),
        PrivateKey=bundle.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
    )["ServerCertificateMetadata"]
    arn: str = metadata["Arn"]
    return arn
