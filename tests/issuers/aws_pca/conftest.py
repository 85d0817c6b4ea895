"""The aws-pca issuer against a real moto server: a private CA created and activated the way
AWS does it (its CSR signed into a root certificate by the CA itself, then imported)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from lemur.builtin.aws_pca import AWSPCAIssuer, AWSPCAOptions
from lemur.clock import SystemClock
from lemur.crypto.keys import KeySpec, PrivateKey, generate_private_key
from lemur.crypto.names import SubjectAltNames
from lemur.crypto.profiles import Profile
from lemur.outbound import OutboundPolicy, plugin_context
from lemur.plugins.values import IssuanceRequest, PluginContext
from tests.peers.fixtures import *  # noqa: F403  (moto_server)
from tests.peers.moto import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, MotoServer
from tests.peers.server import free_port

ROOT_TEMPLATE = "arn:aws:acm-pca:::template/RootCACertificate/V1"
CA_COMMON_NAME = "Lemur Test Private CA"
OTHER_ACCOUNT = "111111111111"
ROLE_ARN = f"arn:aws:iam::{OTHER_ACCOUNT}:role/lemur-issuer"


@dataclass(frozen=True)
class PrivateCA:
    arn: str
    certificate: x509.Certificate


def create_private_ca(client: Any, *, key_algorithm: str = "RSA_2048") -> PrivateCA:
    """CreateCertificateAuthority (ROOT), then activate it as in AWS: the CA signs its own
    CSR with the RootCACertificate template, and the result is imported as its certificate."""
    arn = client.create_certificate_authority(
        CertificateAuthorityConfiguration={
            "KeyAlgorithm": key_algorithm,
            "SigningAlgorithm": "SHA256WITHRSA",
            "Subject": {"CommonName": CA_COMMON_NAME, "Organization": "Lemur Test"},
        },
        CertificateAuthorityType="ROOT",
    )["CertificateAuthorityArn"]
    csr = client.get_certificate_authority_csr(CertificateAuthorityArn=arn)["Csr"]
    root_arn = client.issue_certificate(
        CertificateAuthorityArn=arn,
        Csr=csr.encode(),
        SigningAlgorithm="SHA256WITHRSA",
        TemplateArn=ROOT_TEMPLATE,
        Validity={"Value": 3650, "Type": "DAYS"},
    )["CertificateArn"]
    pem = client.get_certificate(CertificateAuthorityArn=arn, CertificateArn=root_arn)[
        "Certificate"
    ]
    client.import_certificate_authority_certificate(
        CertificateAuthorityArn=arn, Certificate=pem.encode()
    )
    return PrivateCA(arn=arn, certificate=x509.load_pem_x509_certificate(pem.encode()))


@pytest.fixture
def pca_context() -> Iterator[PluginContext]:
    """The context issuers get: the default address policy (loopback allowed)."""
    with plugin_context(OutboundPolicy(timeout=5), SystemClock(), "tests.issuers.aws_pca") as ctx:
        yield ctx


@pytest.fixture
def private_ca(moto_server: MotoServer) -> PrivateCA:
    return create_private_ca(moto_server.client("acm-pca"))


def pca_options(moto: MotoServer, arn: str, **changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "region": REGION,
        "certificate_authority_arn": arn,
        "endpoint_url": moto.endpoint_url,
        "access_key_id": ACCESS_KEY_ID,
        "secret_access_key": SECRET_ACCESS_KEY,
        "timeout": 5,
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def pca_issuer(moto: MotoServer, arn: str, context: PluginContext, **changes: Any) -> AWSPCAIssuer:
    return AWSPCAIssuer(AWSPCAOptions.model_validate(pca_options(moto, arn, **changes)), context)


def csr_request(
    key: PrivateKey | None = None,
    *,
    common_name: str = "www.example.test",
    dns_names: tuple[str, ...] = ("www.example.test", "example.test"),
    days: int = 366,
) -> IssuanceRequest:
    """A request as Lemur sends it to external CAs: names, validity and a signed CSR.

    moto signs for 365 days from now whatever is asked (AWS honours the request), so the
    requested window starts a minute ago and ends after a year."""
    key = key or generate_private_key(KeySpec.EC_P256)
    sans = SubjectAltNames.create(dns_names=dns_names)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .add_extension(sans.to_extension(), critical=False)
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return IssuanceRequest(
        public_key=key.public_key(),
        key_spec=KeySpec.EC_P256,
        common_name=common_name,
        sans=sans,
        profile=Profile.SERVER,
        not_before=now - dt.timedelta(minutes=1),
        not_after=now + dt.timedelta(days=days),
        csr=csr,
    )


@pytest.fixture
def issuance_request() -> IssuanceRequest:
    return csr_request()


def moto_data(moto: MotoServer) -> dict[str, Any]:
    """What moto recorded (GET /moto-api/data.json): its models' attributes by service."""
    data: dict[str, Any] = httpx.get(f"{moto.endpoint_url}/moto-api/data.json", timeout=10).json()
    return data


def recorded_ca(moto: MotoServer, arn: str) -> dict[str, Any]:
    [ca] = [c for c in moto_data(moto)["acmpca"]["CertificateAuthority"] if c["arn"] == arn]
    return ca


def assumed_roles(moto: MotoServer) -> list[dict[str, Any]]:
    roles: list[dict[str, Any]] = moto_data(moto).get("sts", {}).get("AssumedRole", [])
    return roles


def closed_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()
