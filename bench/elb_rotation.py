"""ELBv2 listener rotation through the aws-iam destination, against a local moto server,
next to a baseline measured in the same run.

N HTTPS listeners (50 per application load balancer) serve a certificate uploaded by
hand; the plugin deploys certificate A and attaches it to all of them (each becomes the
default), deploys B, then rotates A -> B -> A ... once per concurrency level K (each round
is real work: every listener changes). Per listener the plugin makes a fresh boto3 session
and client (plugins keep no state), the outbound check of the endpoint, DescribeListeners
(the protocol), DescribeListenerCertificates (what it serves) and ModifyListener.

Baseline: one shared boto3 client calling ModifyListener for the same listeners, at the
same concurrency levels. moto runs in its own process (threaded werkzeug), on this machine.

    .venv/bin/python -m bench.elb_rotation [--listeners 1000] [--concurrency 1,8,16]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lemur.builtin.aws_destinations import IAMDestination, IAMOptions
from lemur.clock import SystemClock
from lemur.outbound import OutboundPolicy, plugin_context
from lemur.plugins.values import Bundle, DeploymentRef

REGION = "us-east-1"
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
PER_BALANCER = 50  # AWS's default quota of listeners per application load balancer


@contextmanager
def moto_server(directory: Path) -> Iterator[str]:
    """A moto server on a free loopback port; stopped by the PID this started."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = Path(sys.executable).with_name("moto_server")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "moto.server"]
    with (directory / "moto.log").open("wb") as log:
        process = subprocess.Popen(
            [*command, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/moto-api/", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("moto_server did not start; see moto.log")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def bundle(name: str) -> Bundle:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Bundle(certificate=certificate, private_key=key, name=name)


def make_listeners(client: Callable[[str], Any], count: int) -> tuple[str, list[str]]:
    """``count`` HTTPS listeners on ports 1000.. of as many load balancers as needed, each
    serving a certificate uploaded by hand (its ARN returned first)."""
    old = bundle("old.example.test")
    assert old.private_key is not None
    initial = client("iam").upload_server_certificate(
        ServerCertificateName="by-hand",
        CertificateBody=old.certificate.public_bytes(serialization.Encoding.PEM).decode(),
        PrivateKey=old.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode(),
    )["ServerCertificateMetadata"]["Arn"]
    ec2, elbv2 = client("ec2"), client("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    tg = elbv2.create_target_group(Name="bench", Protocol="HTTP", Port=80, VpcId=vpc)[
        "TargetGroups"
    ][0]["TargetGroupArn"]

    def balancer(n: int) -> list[str]:
        lb = elbv2.create_load_balancer(Name=f"bench-{n // PER_BALANCER}", Subnets=subnets)[
            "LoadBalancers"
        ][0]["LoadBalancerArn"]
        return [
            elbv2.create_listener(
                LoadBalancerArn=lb,
                Protocol="HTTPS",
                Port=port,
                SslPolicy="ELBSecurityPolicy-2016-08",
                Certificates=[{"CertificateArn": initial}],
                DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}],
            )["Listeners"][0]["ListenerArn"]
            for port in range(1000, 1000 + min(PER_BALANCER, count - n))
        ]

    with ThreadPoolExecutor(8) as pool:
        batches = list(pool.map(balancer, range(0, count, PER_BALANCER)))
    return str(initial), [listener for batch in batches for listener in batch]


def timed(calls: Sequence[Callable[[], object]], concurrency: int) -> float:
    start = time.perf_counter()
    if concurrency == 1:
        for call in calls:
            call()
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            for future in [pool.submit(call) for call in calls]:
                future.result()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listeners", type=int, default=1000)
    parser.add_argument("--concurrency", default="1,8,16", help="thread pool sizes, e.g. 1,8,16")
    args = parser.parse_args()
    levels = [int(k) for k in args.concurrency.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-elb-") as tmp, moto_server(Path(tmp)) as url:

        def client(service: str) -> Any:
            return boto3.client(
                service,
                region_name=REGION,
                endpoint_url=url,
                aws_access_key_id=KEY_ID,
                aws_secret_access_key=SECRET,
                config=botocore.config.Config(max_pool_connections=max(levels) + 2),
            )

        setup = time.perf_counter()
        initial, listeners = make_listeners(client, args.listeners)
        print(
            f"{len(listeners)} listeners on {-(-len(listeners) // PER_BALANCER)} load "
            f"balancers set up in {time.perf_counter() - setup:.1f} s; load "
            f"{os.getloadavg()[0]:.1f}, {os.cpu_count()} cores",
            file=sys.stderr,
        )
        options = IAMOptions.model_validate(
            {
                "region": REGION,
                "endpoint_url": url,
                "sts_endpoint_url": url,
                "access_key_id": KEY_ID,
                "secret_access_key": SECRET,
            }
        )
        rows: list[tuple[str, int, float]] = []
        with plugin_context(OutboundPolicy(timeout=10), SystemClock(), "bench.elb") as context:
            iam = IAMDestination(options, context)
            a, b = (iam.deploy(bundle("www.example.test")) for _ in range(2))
            # Round 1 attaches A in place of the certificate set by hand; then B, A, ...
            sequence = [DeploymentRef(initial), a, b, a, b, a, b][: len(levels) + 1]
            for k, (old, new) in zip(levels, itertools.pairwise(sequence), strict=False):
                calls: list[Callable[[], object]] = [
                    functools.partial(iam.attach, new, li, replacing=old) for li in listeners
                ]
                rows.append(("plugin attach (rotate default)", k, timed(calls, k)))
            elbv2 = client("elbv2")
            wrong = [li for li in listeners if default_of(elbv2, li) != sequence[-1].value]
            assert not wrong, f"{len(wrong)} listeners not rotated"
            # The baseline goes on from there: every call changes the default too.
            following = [b, a] if sequence[-1] == a else [a, b]
            for k, target in zip(levels, itertools.cycle(following), strict=False):
                calls = [
                    functools.partial(
                        elbv2.modify_listener,
                        ListenerArn=li,
                        Certificates=[{"CertificateArn": target.value}],
                    )
                    for li in listeners
                ]
                rows.append(("baseline: boto3 modify_listener", k, timed(calls, k)))
    print(f"{'variant':32} {'K':>3} {'listeners':>9} {'total s':>8} {'listeners/s':>11}")
    for name, k, seconds in rows:
        print(
            f"{name:32} {k:3d} {len(listeners):9d} {seconds:8.2f} {len(listeners) / seconds:11.1f}"
        )
    print(f"load after the run: {os.getloadavg()[0]:.1f}", file=sys.stderr)


def default_of(elbv2: Any, listener: str) -> str:
    for certificate in elbv2.describe_listener_certificates(ListenerArn=listener)["Certificates"]:
        if certificate["IsDefault"]:
            return str(certificate["CertificateArn"])
    return ""


if __name__ == "__main__":
    main()
